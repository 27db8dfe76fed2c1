using System.Diagnostics;
using Npgsql;
using NpgsqlTypes;
using Tivo.Testing;

namespace Tivo.Bench;

/// <summary>Export throughput of one configuration: rows read, best and median rows per second.</summary>
internal sealed record ExportRow(string Name, int Rows, double BestRowsPerSecond, double MedianRowsPerSecond);

/// <summary>
/// GET /channels/{channel}/events of an N-event window (1,000,000 by default) from a gateway process on the embedded
/// store and on PostgreSQL, read to the last byte by an HTTP client, against a raw Npgsql reader of the same rows
/// (the floor any PostgreSQL export stands on). Events are ingested through Tivo first.
/// </summary>
internal static class ExportBenchmark
{
    private static readonly DateTime Start = new(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    public static async Task<IReadOnlyList<ExportRow>> RunAsync(int events, int repetitions)
    {
        var interval = 3600.0 / events; // one hour of stream time
        var rows = new List<ExportRow>();
        Console.WriteLine($"  {events:N0} events over one hour, best and median of {repetitions}");
        await using (var embedded = await GatewayProcess.StartAsync())
        {
            await embedded.IngestLinesAsync("export", SyntheticEvents.Lines(Start, interval, 0, events), 50_000);
            rows.Add(await MeasureAsync("Tivo export, embedded (SQLite)", events, repetitions, () => ExportAsync(embedded)));
        }

        await using var postgres = new PostgreSqlServer();
        await postgres.StartNewAsync();
        var connection = await postgres.CreateDatabaseAsync("export");
        await using (var gateway = await GatewayProcess.StartAsync("--Tivo:Store:Kind", "PostgreSql", "--Tivo:Store:ConnectionString", connection, "--Tivo:Store:CreateSchema", "true"))
        {
            await gateway.IngestLinesAsync("export", SyntheticEvents.Lines(Start, interval, 0, events), 50_000);
            await using (var analyze = new NpgsqlConnection(connection))
            {
                await analyze.OpenAsync();
                await new NpgsqlCommand("ANALYZE tivo_events", analyze).ExecuteNonQueryAsync();
            }

            rows.Add(await MeasureAsync("Tivo export, PostgreSQL", events, repetitions, () => ExportAsync(gateway)));
            rows.Add(await MeasureAsync("raw Npgsql reader, same rows", events, repetitions, () => RawNpgsqlAsync(connection)));
        }

        foreach (var row in rows)
        {
            Console.WriteLine($"  {row.Name,-34} {row.Rows,10:N0} rows   best {row.BestRowsPerSecond,10:N0} rows/s   median {row.MedianRowsPerSecond,10:N0} rows/s");
        }

        return rows;
    }

    /// <summary>Reads the whole export and counts its lines (one per row).</summary>
    private static async Task<long> ExportAsync(GatewayProcess gateway)
    {
        using var response = await gateway.Http.GetAsync("channels/export/events", HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        await using var body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[1 << 16];
        long lines = 0;
        int read;
        while ((read = await body.ReadAsync(buffer)) > 0)
        {
            lines += buffer.AsSpan(0, read).Count((byte)'\n');
        }

        return lines;
    }

    /// <summary>The same rows as Tivo's PostgreSQL store reads them, through a bare Npgsql reader.</summary>
    private static async Task<long> RawNpgsqlAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT ts, data::text FROM tivo_events WHERE channel = @c AND ts >= @f AND ts < @t ORDER BY ts, id", connection);
        command.Parameters.AddWithValue("c", "export");
        command.Parameters.Add(new NpgsqlParameter("f", NpgsqlDbType.TimestampTz) { Value = Start });
        command.Parameters.Add(new NpgsqlParameter("t", NpgsqlDbType.TimestampTz) { Value = Start.AddHours(1) });
        await using var reader = await command.ExecuteReaderAsync();
        long rows = 0;
        while (await reader.ReadAsync())
        {
            _ = reader.GetDateTime(0);
            _ = reader.GetString(1);
            rows++;
        }

        return rows;
    }

    private static async Task<ExportRow> MeasureAsync(string name, int expected, int repetitions, Func<Task<long>> read)
    {
        var rates = new List<double>();
        for (var i = 0; i < repetitions; i++)
        {
            var clock = Stopwatch.StartNew();
            var rows = await read();
            clock.Stop();
            if (rows != expected)
            {
                throw new InvalidOperationException($"{name}: read {rows} rows, expected {expected}");
            }

            rates.Add(rows / clock.Elapsed.TotalSeconds);
        }

        rates.Sort();
        return new ExportRow(name, expected, rates[^1], rates[rates.Count / 2]);
    }
}
