using System.Diagnostics;
using Tivo.Testing;

namespace Tivo.Bench;

/// <summary>
/// Managed heap of the gateway process (embedded mode: gateway and silo) after a full GC induced
/// through the runtime's diagnostics port, before and after opening N connections (each its own
/// session), after closing them (the sessions stay for their grace period: idle sessions without a
/// connection) and with N more sessions playing. Then the chunk cache's bound under a sweep of
/// windows several times larger than the cache.
/// </summary>
internal static class MemoryBenchmark
{
    private const string Channel = "memory";

    public static async Task<MemoryResult> RunAsync(int sessions, bool smoke)
    {
        MemoryRow perSession;
        await using (var gateway = await BenchGateway.StartAsync("--Tivo:Playback:SessionGracePeriod", "00:10:00"))
        {
            await gateway.IngestAsync(Channel, DeliveryBenchmark.Base, 0.1, 36_000); // 10 events/s for an hour
            var clock = Stopwatch.StartNew();
            await WarmUpAsync(gateway, clock);
            var m0 = await gateway.HeapAfterFullGcAsync();

            var idle = await OpenAsync(gateway, sessions, clock);
            var m1 = await gateway.HeapAfterFullGcAsync();
            foreach (var s in idle)
            {
                await s.DisposeAsync();
            }

            await Task.Delay(1000);
            var m2 = await gateway.HeapAfterFullGcAsync();

            var playing = await OpenAsync(gateway, sessions, clock);
            for (var i = 0; i < playing.Length; i++)
            {
                // Each session its own minute of the hour: its own chunks in the read-ahead and the cache.
                var start = DeliveryBenchmark.Base.AddSeconds(i % 59 * 60);
                await playing[i].SendAsync($$"""{"action":"play","start":"{{start:O}}","end":"{{start.AddMinutes(1):O}}","speed":1}""");
            }

            await Task.WhenAll(playing.Select(s => s.WaitForAsync(BenchSocket.IsEvent, clock, TimeSpan.FromSeconds(60))));
            await Task.Delay(2000);
            var m3 = await gateway.HeapAfterFullGcAsync();
            var metrics = await gateway.MetricsAsync();
            foreach (var s in playing)
            {
                await s.DisposeAsync();
            }

            var idleSession = (m2 - m0) / (double)sessions;
            var connection = (m1 - m2) / (double)sessions;
            var playingWithConnection = (m3 - m2) / (double)sessions;
            perSession = new MemoryRow(sessions, m0, m1, m2, m3, idleSession, connection, playingWithConnection - connection, metrics.GetValueOrDefault("tivo_cache_size_bytes"));
            Console.WriteLine($"  {sessions} sessions: heap {Mb(m0)} → {Mb(m1)} with connections → {Mb(m2)} idle sessions only → {Mb(m3)} with {sessions} more playing (cache {Mb((long)perSession.CacheBytesWhilePlaying)})");
            Console.WriteLine($"  per idle session {Kb(idleSession)}, per connection {Kb(connection)}, per playing session {Kb(perSession.PerPlayingSessionBytes)} (excluding its connection; includes its loaded read-ahead)");
        }

        var sweep = await CacheSweepAsync(smoke);
        return new MemoryResult(perSession, sweep);
    }

    private static async Task<CacheSweepRow> CacheSweepAsync(bool smoke)
    {
        var limit = smoke ? 1024 * 1024 : 4 * 1024 * 1024; // 1 MiB is the smallest bound Tivo accepts
        var streamMinutes = smoke ? 10 : 120;
        await using var gateway = await BenchGateway.StartAsync("--Tivo:Cache:MaxBytes", limit.ToString(System.Globalization.CultureInfo.InvariantCulture));
        // 2 events per second with ~2.5 KB payloads: ~50 KB per 10-second chunk.
        var pad = new string('x', 2500);
        var total = streamMinutes * 120;
        var lines = Enumerable.Range(0, total).Select(i =>
            $$$"""{"ts":"{{{SyntheticEvents.Ts(DeliveryBenchmark.Base, 0.5, i)}}}","data":{"i":{{{i}}},"pad":"{{{pad}}}"}}""");
        await gateway.IngestLinesAsync("sweep", lines, 4_000); // ~10 MB per request

        var heapBefore = await gateway.HeapAfterFullGcAsync();
        var clock = Stopwatch.StartNew();
        await using var socket = await BenchSocket.ConnectAsync(gateway.WebSocketUri("ws?channel=sweep"));
        await socket.WaitForAsync(BenchSocket.IsHello, clock, TimeSpan.FromSeconds(30));
        var end = DeliveryBenchmark.Base.AddMinutes(streamMinutes);
        var speed = streamMinutes * 60 / 4.0; // the whole sweep in about 4 s
        await socket.SendAsync($$"""{"action":"play","start":"{{DeliveryBenchmark.Base:O}}","end":"{{end:O}}","speed":{{speed}}}""");
        var ended = socket.WaitForAsync(BenchSocket.IsEnded, clock, TimeSpan.FromMinutes(5));
        double maxCache = 0;
        while (!ended.IsCompleted)
        {
            maxCache = Math.Max(maxCache, (await gateway.MetricsAsync()).GetValueOrDefault("tivo_cache_size_bytes"));
            await Task.WhenAny(ended, Task.Delay(100));
        }

        await ended;
        var metrics = await gateway.MetricsAsync();
        maxCache = Math.Max(maxCache, metrics.GetValueOrDefault("tivo_cache_size_bytes"));
        var heapAfter = await gateway.HeapAfterFullGcAsync();
        var dataBytes = (long)streamMinutes * 120 * 2560;
        var row = new CacheSweepRow(limit, dataBytes, maxCache, metrics.GetValueOrDefault("tivo_cache_chunks"), heapBefore, heapAfter);
        Console.WriteLine($"  cache sweep: {Mb(dataBytes)} of events played through a {Mb(limit)} cache: cache peak {Mb((long)maxCache)} ({maxCache / limit:P0} of the bound), heap {Mb(heapBefore)} → {Mb(heapAfter)}");
        return row;
    }

    private static async Task WarmUpAsync(GatewayProcess gateway, Stopwatch clock)
    {
        await using var s = await BenchSocket.ConnectAsync(gateway.WebSocketUri($"ws?channel={Channel}"));
        await s.WaitForAsync(BenchSocket.IsHello, clock, TimeSpan.FromSeconds(30));
        await s.SendAsync($$"""{"action":"play","start":"{{DeliveryBenchmark.Base:O}}","end":"{{DeliveryBenchmark.Base.AddSeconds(2):O}}","speed":10}""");
        await s.WaitForAsync(BenchSocket.IsEnded, clock, TimeSpan.FromSeconds(30));
    }

    private static async Task<BenchSocket[]> OpenAsync(GatewayProcess gateway, int count, Stopwatch clock)
    {
        var sockets = new BenchSocket[count];
        for (var i = 0; i < count; i += 100)
        {
            var batch = await Task.WhenAll(Enumerable.Range(i, Math.Min(100, count - i)).Select(_ => BenchSocket.ConnectAsync(gateway.WebSocketUri($"ws?channel={Channel}"))));
            await Task.WhenAll(batch.Select(s => s.WaitForAsync(BenchSocket.IsHello, clock, TimeSpan.FromSeconds(60))));
            batch.CopyTo(sockets, i);
        }

        return sockets;
    }

    private static string Mb(long bytes) => $"{bytes / 1048576.0:F1} MiB";

    private static string Kb(double bytes) => $"{bytes / 1024:F1} KiB";
}

internal sealed record MemoryRow(int Sessions, long HeapBaseline, long HeapWithConnections, long HeapIdleSessions, long HeapPlaying,
    double PerIdleSessionBytes, double PerConnectionBytes, double PerPlayingSessionBytes, double CacheBytesWhilePlaying);

internal sealed record CacheSweepRow(long CacheLimitBytes, long SweptBytes, double CachePeakBytes, double CacheChunksAtEnd, long HeapBefore, long HeapAfter);

internal sealed record MemoryResult(MemoryRow Sessions, CacheSweepRow CacheSweep);
