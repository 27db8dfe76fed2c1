using Tivo.Events;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using Tivo.Stores;
using Tivo.Stores.DynamoDB;
using Tivo.Stores.Embedded;
using Tivo.Stores.PostgreSql;
using Tivo.Testing;

namespace Tivo.Bench;

/// <summary>
/// Reads a one-hour window of N events (100 per second for 360,000) from every backend through
/// Tivo's store, and the same rows through a raw Npgsql reader, and prints the figures.
/// </summary>
internal static class StoreBenchmark
{
    private static readonly long Start = new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;

    public static async Task<int> RunAsync(int events, int dynamoEvents, int repetitions, string resultsPath)
    {
        var data = Enumerable.Range(0, events)
            .Select(i => new StoredEvent(Start + i * (TimeSpan.TicksPerHour / events),
                $"{{\"i\":{i},\"sensor\":\"s-{i % 17}\",\"value\":{(i * 0.37 % 100).ToString("F2", CultureInfo.InvariantCulture)},\"ok\":true}}"))
            .ToList();
        var end = Start + TimeSpan.TicksPerHour;
        var rows = new List<Row>();
        Console.WriteLine($"Store read benchmark: one-hour window, {events:N0} events ({dynamoEvents:N0} for DynamoDB), best of {repetitions}, {Environment.ProcessorCount} cores");

        using var folder = new TempFolder();
        var sqlite = new SqliteEventStore(Options.Create(new EmbeddedStoreOptions { Path = Path.Combine(folder.Path, "bench.db"), SeedDemoData = false }), NullLogger<SqliteEventStore>.Instance);
        await sqlite.AppendAsync("bench", data, CancellationToken.None);
        rows.Add(await MeasureAsync("Embedded (SQLite)", events, repetitions, () => CountAsync(sqlite, end)));

        await using var postgres = new PostgreSqlServer();
        await postgres.StartNewAsync();
        var pgConnection = await postgres.CreateDatabaseAsync("bench");
        await using (var pg = PostgreSqlEventStore.Create(pgConnection,
            new PostgreSqlStoreOptions { ConnectionString = pgConnection }, SqlDialect.PostgreSql, NullLogger<PostgreSqlEventStore>.Instance))
        {
            await pg.CreateSchemaAsync(CancellationToken.None);
            await pg.AppendAsync("bench", data, CancellationToken.None);
            await Analyze(pgConnection, "tivo_events");
            rows.Add(await MeasureAsync("PostgreSQL via Tivo", events, repetitions, () => CountAsync(pg, end)));
            rows.Add(await MeasureAsync("PostgreSQL raw Npgsql", events, repetitions, () => RawNpgsqlAsync(pgConnection, end)));
        }

        var rsConnection = await postgres.CreateDatabaseAsync("bench_rs");
        await using (var connection = new NpgsqlConnection(rsConnection))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand("CREATE TABLE events (id bigserial, channel varchar(256) NOT NULL, ts timestamptz NOT NULL, data varchar(65535) NOT NULL); CREATE INDEX ON events (channel, ts, id)", connection);
            await create.ExecuteNonQueryAsync();
        }

        await using (var rs = PostgreSqlEventStore.Create(rsConnection,
            new PostgreSqlStoreOptions { ConnectionString = rsConnection, Table = "events" }, SqlDialect.Redshift, NullLogger<PostgreSqlEventStore>.Instance))
        {
            await rs.AppendAsync("bench", data, CancellationToken.None);
            await Analyze(rsConnection, "events");
            rows.Add(await MeasureAsync("Redshift dialect (on PostgreSQL)", events, repetitions, () => CountAsync(rs, end)));
        }

        await using var dynalite = new DynaliteServer();
        await dynalite.StartNewAsync();
        var dynamoOptions = new DynamoDBStoreOptions { ServiceUrl = dynalite.ServiceUrl, AccessKey = "local", SecretKey = "local", TableName = "bench" };
        using (var dynamo = new DynamoDBEventStore(DynamoDBEventStore.CreateClient(dynamoOptions), dynamoOptions, NullLogger<DynamoDBEventStore>.Instance))
        {
            await dynamo.CreateTableAsync(CancellationToken.None);
            var dynamoData = data.Where((_, i) => i % Math.Max(1, events / dynamoEvents) == 0).Take(dynamoEvents).ToList();
            await dynamo.AppendAsync("bench", dynamoData, CancellationToken.None);
            rows.Add(await MeasureAsync("DynamoDB (dynalite)", dynamoData.Count, repetitions, () => CountAsync(dynamo, end)));
        }

        var tivo = rows.Single(r => r.Name == "PostgreSQL via Tivo");
        var raw = rows.Single(r => r.Name == "PostgreSQL raw Npgsql");
        var ratio = tivo.BestMs / raw.BestMs;
        Console.WriteLine();
        Console.WriteLine($"{"path",-34} {"events",10} {"best ms",10} {"median ms",10} {"events/s",12}");
        foreach (var r in rows)
        {
            Console.WriteLine($"{r.Name,-34} {r.Events,10:N0} {r.BestMs,10:F1} {r.MedianMs,10:F1} {r.Events / (r.BestMs / 1000),12:N0}");
        }

        Console.WriteLine($"\nTivo PostgreSQL path / raw Npgsql reader: {ratio:F2}× (target ≤ 1.5×)");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(resultsPath))!);
        await File.WriteAllTextAsync(resultsPath, JsonSerializer.Serialize(new { events, dynamoEvents, repetitions, rows, tivoToRawRatio = ratio },
            new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"results: {Path.GetFullPath(resultsPath)}");
        return 0;
    }

    private static async Task<long> CountAsync(IEventStore store, long end)
    {
        long n = 0, bytes = 0;
        await foreach (var e in store.ReadAsync("bench", Start, end, CancellationToken.None))
        {
            n++;
            bytes += e.Data.Length;
        }

        return bytes > 0 ? n : 0;
    }

    private static async Task<long> RawNpgsqlAsync(string connectionString, long end)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT ts, data::text FROM tivo_events WHERE channel = @c AND ts >= @f AND ts < @t ORDER BY ts, id", connection);
        command.Parameters.AddWithValue("c", "bench");
        command.Parameters.Add(new NpgsqlParameter("f", NpgsqlDbType.TimestampTz) { Value = new DateTime(Start, DateTimeKind.Utc) });
        command.Parameters.Add(new NpgsqlParameter("t", NpgsqlDbType.TimestampTz) { Value = new DateTime(end, DateTimeKind.Utc) });
        await using var reader = await command.ExecuteReaderAsync();
        long n = 0, bytes = 0;
        while (await reader.ReadAsync())
        {
            _ = reader.GetDateTime(0);
            bytes += reader.GetString(1).Length;
            n++;
        }

        return bytes > 0 ? n : 0;
    }

    private static async Task Analyze(string connectionString, string table)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"VACUUM ANALYZE {table}", connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<Row> MeasureAsync(string name, int expected, int repetitions, Func<Task<long>> read)
    {
        var times = new List<double>();
        for (var i = 0; i < repetitions + 1; i++)
        {
            var stopwatch = Stopwatch.StartNew();
            var n = await read();
            stopwatch.Stop();
            if (n != expected)
            {
                throw new InvalidOperationException($"{name} read {n} events, expected {expected}.");
            }

            if (i > 0)
            {
                times.Add(stopwatch.Elapsed.TotalMilliseconds); // the first read warms caches and JIT
            }
        }

        times.Sort();
        var row = new Row(name, expected, times[0], times[times.Count / 2]);
        Console.WriteLine($"  {name}: best {row.BestMs:F1} ms, median {row.MedianMs:F1} ms");
        return row;
    }

    private sealed record Row(string Name, int Events, double BestMs, double MedianMs);

    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("tivo-bench-").FullName;

        public void Dispose()
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(Path, recursive: true);
        }
    }
}
