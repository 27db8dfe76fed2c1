using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Tivo.Stores;
using Tivo.Stores.PostgreSql;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Stores;

/// <summary>
/// The Redshift dialect (type loading off, plain SQL: no jsonb, no unnest, no ON CONFLICT) against
/// the store contract, on PostgreSQL with a varchar payload as a Redshift table would have.
/// </summary>
[Collection(PostgreSqlCollection.Name)]
public sealed class RedshiftModeStoreContractTests(PostgreSqlServerFixture postgres) : EventStoreContractTests
{
    private PostgreSqlEventStore? _store;

    protected override async Task<IEventStore> CreateStoreAsync()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("redshift");
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync();
            // The Redshift table of docs/stores.md minus IDENTITY/SORTKEY, which PostgreSQL does not parse.
            await using var command = new NpgsqlCommand(
                "CREATE TABLE events (id bigserial, channel varchar(256) NOT NULL, ts timestamptz NOT NULL, data varchar(65535) NOT NULL)", connection);
            await command.ExecuteNonQueryAsync();
        }

        _store = PostgreSqlEventStore.Create(connectionString,
            new PostgreSqlStoreOptions { ConnectionString = connectionString, Table = "events" },
            SqlDialect.Redshift, NullLogger<PostgreSqlEventStore>.Instance);
        return _store;
    }

    protected override async Task DisposeStoreAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
    }

    protected override long RoundToStorePrecision(long ticks) => ticks / 10 * 10;
}
