using Tivo.Events;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Tivo.Stores;
using Tivo.Stores.PostgreSql;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Stores;

/// <summary>Pointing Tivo at tables that already exist, and what happens when the server goes away.</summary>
[Collection(PostgreSqlCollection.Name)]
public sealed class PostgreSqlMappingTests(PostgreSqlServerFixture postgres)
{
    private static readonly DateTime T0 = new(2022, 3, 4, 5, 6, 7, DateTimeKind.Utc);

    [Fact]
    public async Task Existing_tables_map_by_configuration_fixed_channels_whole_rows_and_local_timestamps()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("mapping");
        await ExecuteAsync(connectionString, """
            ALTER DATABASE current_database_placeholder SET timezone TO 'America/New_York';
            CREATE SCHEMA shop;
            CREATE TABLE shop."Orders" ("OrderId" serial PRIMARY KEY, placed_at timestamp NOT NULL, customer text, total numeric(10,2), body json);
            INSERT INTO shop."Orders" (placed_at, customer, total, body) VALUES
              ('2022-03-04 05:06:07.123456', 'Zoë', 12.50, '{"items":[1,2]}'),
              ('2022-03-04 05:06:09', 'Bob "the" builder', 3.00, '{"items":[]}');
            CREATE TABLE metrics (at timestamptz NOT NULL, payload jsonb NOT NULL);
            INSERT INTO metrics VALUES ('2022-03-04 05:06:08+00', '{"cpu":0.5}');
            """.Replace("current_database_placeholder", new NpgsqlConnectionStringBuilder(connectionString).Database, StringComparison.Ordinal));

        var options = new PostgreSqlStoreOptions
        {
            ConnectionString = connectionString,
            Table = "shop.Orders",
            TimeColumn = "placed_at",
            ChannelColumn = "",
            Channel = "orders",
            PayloadColumn = "",          // the whole row as JSON
            OrderColumn = "OrderId",
            Tables = [new PostgreSqlTableOptions { Channel = "metrics", Table = "metrics", TimeColumn = "at", PayloadColumn = "payload" }],
        };
        Assert.True(new PostgreSqlStoreOptionsValidator().Validate(null, options).Succeeded);
        await using var store = PostgreSqlEventStore.Create(connectionString, options, SqlDialect.PostgreSql,
            NullLogger<PostgreSqlEventStore>.Instance);

        var channels = await store.ListChannelsAsync(CancellationToken.None);
        Assert.Equal(["metrics", "orders"], channels.Select(c => c.Name));
        Assert.Equal(T0.Ticks + 1_234_560, channels[1].FirstTicks); // timestamp without time zone is UTC, whatever the server's zone
        Assert.Equal(2, channels[1].Count);

        var orders = await ReadAsync(store, "orders");
        Assert.Equal(2, orders.Count);
        var row = System.Text.Json.JsonDocument.Parse(orders[0].Data).RootElement;
        Assert.Equal("Zoë", row.GetProperty("customer").GetString());
        Assert.Equal(12.5m, row.GetProperty("total").GetDecimal());
        Assert.Equal(2, row.GetProperty("body").GetProperty("items").GetArrayLength());
        Assert.Equal("Bob \"the\" builder", System.Text.Json.JsonDocument.Parse(orders[1].Data).RootElement.GetProperty("customer").GetString());

        var metrics = await ReadAsync(store, "metrics");
        Assert.Equal(T0.Ticks + TimeSpan.TicksPerSecond, metrics.Single().Ticks);
        Assert.Empty(await ReadAsync(store, "unknown"));

        // Writes go to mapped tables with a payload column; whole-row tables refuse with a reason.
        await store.AppendAsync("metrics", [new StoredEvent(T0.Ticks + 5 * TimeSpan.TicksPerSecond, "{\"cpu\":0.9}")], CancellationToken.None);
        Assert.Equal(2, (await ReadAsync(store, "metrics")).Count);
        var refused = await Assert.ThrowsAsync<NotSupportedException>(() => store.AppendAsync("orders", [new StoredEvent(T0.Ticks, "{}")], CancellationToken.None));
        Assert.Contains("whole rows", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("events; DROP TABLE x", "Tivo:Store:Table")]
    [InlineData("a.b.c", "Tivo:Store:Table")]
    [InlineData("1events", "Tivo:Store:Table")]
    [InlineData("events\n", "Tivo:Store:Table")] // '$' would match before a final newline; the pattern ends at \z
    public void Identifiers_that_are_not_plain_are_refused_naming_the_setting(string table, string setting)
    {
        var result = new PostgreSqlStoreOptionsValidator().Validate(null, new PostgreSqlStoreOptions { ConnectionString = "Host=x", Table = table });
        Assert.True(result.Failed);
        Assert.Contains(setting, result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void An_order_column_with_a_trailing_newline_is_refused()
    {
        var result = new PostgreSqlStoreOptionsValidator().Validate(null, new PostgreSqlStoreOptions { ConnectionString = "Host=x", OrderColumn = "id\n" });
        Assert.True(result.Failed);
        Assert.Contains("Tivo:Store:OrderColumn", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_mapped_table_without_an_id_column_plays_and_a_wrong_column_fails_at_start_naming_the_setting()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("telemetry");
        await ExecuteAsync(connectionString, """
            CREATE SCHEMA telemetry;
            CREATE TABLE telemetry.readings (recorded_at timestamptz NOT NULL, device text NOT NULL, reading jsonb NOT NULL);
            INSERT INTO telemetry.readings VALUES ('2022-03-04 05:06:07+00', 'valve-1', '{"bar":2.5}'), ('2022-03-04 05:06:08+00', 'valve-1', '{"bar":2.6}');
            """);

        // The configuration, with no OrderColumn: the tie-breaker is none, not Tivo's own "id".
        var options = new PostgreSqlStoreOptions
        {
            ConnectionString = connectionString, Table = "telemetry.readings", TimeColumn = "recorded_at", ChannelColumn = "device", PayloadColumn = "reading",
        };
        Assert.Null(options.EffectiveOrderColumn);
        await using (var store = Store(options))
        {
            await store.VerifyMappingAsync(CancellationToken.None);
            var read = await ReadAsync(store, "valve-1");
            Assert.Equal(["{\"bar\": 2.5}", "{\"bar\": 2.6}"], read.Select(e => e.Data));
        }

        // A column the table does not have stops the start, naming the setting and the columns there are.
        options.OrderColumn = "id";
        await using (var store = Store(options))
        {
            var error = await Assert.ThrowsAsync<StoreConfigurationException>(() => store.VerifyMappingAsync(CancellationToken.None));
            Assert.Contains("Tivo:Store:OrderColumn is 'id'", error.Message, StringComparison.Ordinal);
            Assert.Contains("recorded_at, device, reading", error.Message, StringComparison.Ordinal);
        }

        var start = await Assert.ThrowsAsync<StoreConfigurationException>(() => Gateway.TestHosts.StartGatewayAsync(
            "--Tivo:Store:Kind", "PostgreSql", "--Tivo:Store:ConnectionString", connectionString, "--Tivo:Store:Table", "telemetry.readings",
            "--Tivo:Store:TimeColumn", "recorded_at", "--Tivo:Store:ChannelColumn", "device", "--Tivo:Store:PayloadColumn", "payload"));
        Assert.Contains("Tivo:Store:PayloadColumn is 'payload'", start.Message, StringComparison.Ordinal);

        static PostgreSqlEventStore Store(PostgreSqlStoreOptions options) => PostgreSqlEventStore.Create(options.ConnectionString!, options, SqlDialect.PostgreSql,
            NullLogger<PostgreSqlEventStore>.Instance);
    }

    [Fact]
    public void A_missing_connection_string_is_refused_naming_the_setting()
    {
        var result = new PostgreSqlStoreOptionsValidator().Validate(null, new PostgreSqlStoreOptions());
        Assert.Contains("Tivo:Store:ConnectionString", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Channel_names_are_parameters_never_sql()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("hostile");
        await using var store = await TivoSchemaStoreAsync(connectionString);
        const string hostile = "x'; DROP TABLE tivo_events; --";
        await store.AppendAsync(hostile, [new StoredEvent(T0.Ticks, "{\"ok\":true}")], CancellationToken.None);
        var read = await ReadAsync(store, hostile);
        Assert.Single(read);
        Assert.Contains((await store.ListChannelsAsync(CancellationToken.None)).Select(c => c.Name), n => n == hostile);
    }

    [Fact]
    public async Task The_server_going_away_is_store_unavailable_and_reads_work_again_when_it_is_back()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("outage");
        await using var store = await TivoSchemaStoreAsync(connectionString);
        await store.AppendAsync("c", [.. Enumerable.Range(0, 1000).Select(i => new StoredEvent(T0.Ticks + i * TimeSpan.TicksPerMillisecond, "{}"))], CancellationToken.None);

        await postgres.Server.StopAsync();
        try
        {
            var error = await Assert.ThrowsAsync<StoreUnavailableException>(() => ReadAsync(store, "c"));
            Assert.Contains("PostgreSql", error.Message, StringComparison.Ordinal);
            await Assert.ThrowsAsync<StoreUnavailableException>(() => store.ListChannelsAsync(CancellationToken.None));
        }
        finally
        {
            await postgres.Server.StartAsync();
        }

        NpgsqlConnection.ClearAllPools();
        Assert.Equal(1000, (await ReadAsync(store, "c")).Count);
    }

    internal static async Task<PostgreSqlEventStore> TivoSchemaStoreAsync(string connectionString)
    {
        var store = PostgreSqlEventStore.Create(connectionString,
            new PostgreSqlStoreOptions { ConnectionString = connectionString }, SqlDialect.PostgreSql, NullLogger<PostgreSqlEventStore>.Instance);
        await store.CreateSchemaAsync(CancellationToken.None);
        return store;
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<List<StoredEvent>> ReadAsync(IEventStore store, string channel)
    {
        var list = new List<StoredEvent>();
        await foreach (var e in store.ReadAsync(channel, T0.Ticks - TimeSpan.TicksPerDay, T0.Ticks + TimeSpan.TicksPerDay, CancellationToken.None))
        {
            list.Add(e);
        }

        return list;
    }
}
