using Microsoft.Extensions.Logging.Abstractions;
using Tivo.Stores;
using Tivo.Stores.PostgreSql;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Stores;

/// <summary>PostgreSQL, Tivo's own schema, against the store contract on a real postgres.Server.</summary>
[Collection(PostgreSqlCollection.Name)]
public sealed class PostgreSqlStoreContractTests(PostgreSqlServerFixture postgres) : EventStoreContractTests
{
    private PostgreSqlEventStore? _store;

    protected override async Task<IEventStore> CreateStoreAsync()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("contract");
        _store = PostgreSqlEventStore.Create(connectionString,
            new PostgreSqlStoreOptions { ConnectionString = connectionString, CreateSchema = true },
            SqlDialect.PostgreSql, NullLogger<PostgreSqlEventStore>.Instance);
        await _store.CreateSchemaAsync(CancellationToken.None);
        return _store;
    }

    protected override async Task DisposeStoreAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
    }

    /// <summary>PostgreSQL keeps microseconds.</summary>
    protected override long RoundToStorePrecision(long ticks) => ticks / 10 * 10;
}
