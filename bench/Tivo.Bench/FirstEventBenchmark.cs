using System.Diagnostics;
using Tivo.Testing;

namespace Tivo.Bench;

/// <summary>
/// Time from sending <c>play</c> to the first event's arrival, for a window that starts exactly on an
/// event (so the figure holds no wait for the event's own offset; it does hold the 20 ms control lead,
/// <c>Tivo:Playback:ControlLeadTime</c>). Cold: the window's chunks were never read (a fresh window per
/// repetition, the process already warmed on another channel). Warm: the same windows again, from cache.
/// </summary>
internal static class FirstEventBenchmark
{
    private const string Channel = "first-event";

    public static async Task<List<FirstEventRow>> RunAsync(int repetitions)
    {
        var rows = new List<FirstEventRow>();
        await using (var gateway = await BenchGateway.StartAsync())
        {
            var (cold, warm) = await MeasureAsync(gateway, repetitions);
            rows.Add(Print(new FirstEventRow("warm cache (embedded)", warm.Count, Stats.Median(warm), Stats.Max(warm))));
            rows.Add(Print(new FirstEventRow("cold, embedded SQLite", cold.Count, Stats.Median(cold), Stats.Max(cold))));
        }

        await using var postgres = new PostgreSqlServer();
        await postgres.StartNewAsync();
        var database = await postgres.CreateDatabaseAsync("bench");
        await using (var gateway = await BenchGateway.StartAsync(
                         "--Tivo:Store:Kind", "PostgreSql", "--Tivo:Store:ConnectionString", postgres.ConnectionString(database), "--Tivo:Store:CreateSchema", "true"))
        {
            var (cold, warm) = await MeasureAsync(gateway, repetitions);
            rows.Add(Print(new FirstEventRow("warm cache (PostgreSQL)", warm.Count, Stats.Median(warm), Stats.Max(warm))));
            rows.Add(Print(new FirstEventRow("cold, PostgreSQL", cold.Count, Stats.Median(cold), Stats.Max(cold))));
        }

        return rows;
    }

    private static FirstEventRow Print(FirstEventRow r)
    {
        Console.WriteLine($"  {r.Case,-26} median {r.MedianMs,7:F1} ms  max {r.MaxMs,7:F1} ms  ({r.Repetitions} plays)");
        return r;
    }

    private static async Task<(List<double> Cold, List<double> Warm)> MeasureAsync(GatewayProcess gateway, int repetitions)
    {
        // 100 events per second; repetition r plays [r minutes, r minutes + 30 s) of stream time.
        await gateway.IngestAsync(Channel, DeliveryBenchmark.Base, 0.01, (repetitions + 1) * 6_000);
        await gateway.IngestAsync("first-event-warmup", DeliveryBenchmark.Base, 0.01, 3_000);
        await PlayOnceAsync(gateway, "first-event-warmup", DeliveryBenchmark.Base); // JIT and connection paths, another channel's chunks
        var cold = new List<double>();
        var warm = new List<double>();
        for (var r = 1; r <= repetitions; r++)
        {
            cold.Add(await PlayOnceAsync(gateway, Channel, DeliveryBenchmark.Base.AddMinutes(r)));
        }

        for (var r = 1; r <= repetitions; r++)
        {
            warm.Add(await PlayOnceAsync(gateway, Channel, DeliveryBenchmark.Base.AddMinutes(r)));
        }

        return (cold, warm);
    }

    private static async Task<double> PlayOnceAsync(GatewayProcess gateway, string channel, DateTime start)
    {
        await using var socket = await BenchSocket.ConnectAsync(gateway.WebSocketUri($"ws?channel={channel}"));
        var clock = Stopwatch.StartNew();
        await socket.WaitForAsync(BenchSocket.IsHello, clock, TimeSpan.FromSeconds(30));
        var sent = clock.Elapsed;
        await socket.SendAsync($$"""{"action":"play","start":"{{start:O}}","end":"{{start.AddSeconds(30):O}}","speed":1}""");
        var (_, at) = await socket.WaitForAsync(BenchSocket.IsEvent, clock, TimeSpan.FromSeconds(30));
        return (at - sent).TotalMilliseconds;
    }
}

internal sealed record FirstEventRow(string Case, int Repetitions, double MedianMs, double MaxMs);
