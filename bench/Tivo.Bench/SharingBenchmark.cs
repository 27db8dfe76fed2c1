using System.Diagnostics;

namespace Tivo.Bench;

/// <summary>
/// N sessions play the same never-read window at once; the gateway's metrics say how many store
/// queries were issued and how many chunks were read from the store (cache misses). Sharing works when
/// both stay the same for 1, 10 and 100 sessions: one read per chunk, not N.
/// </summary>
internal static class SharingBenchmark
{
    private const string Channel = "sharing";
    private const int WindowSeconds = 120;
    private const int ChunkSeconds = 10;

    public static async Task<List<SharingRow>> RunAsync(int[] sessionCounts)
    {
        var rows = new List<SharingRow>();
        await using var gateway = await BenchGateway.StartAsync();
        // 10 events per second; trial t plays its own 120 s window (12 chunks), never read before.
        await gateway.IngestAsync(Channel, DeliveryBenchmark.Base, 0.1, (sessionCounts.Length + 1) * WindowSeconds * 10);
        for (var t = 0; t < sessionCounts.Length; t++)
        {
            var n = sessionCounts[t];
            var start = DeliveryBenchmark.Base.AddSeconds(t * WindowSeconds);
            var before = await gateway.MetricsAsync();
            var sockets = await Task.WhenAll(Enumerable.Range(0, n).Select(_ => BenchSocket.ConnectAsync(gateway.WebSocketUri($"ws?channel={Channel}"))));
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(sockets.Select(s => s.WaitForAsync(BenchSocket.IsHello, clock, TimeSpan.FromSeconds(60))));
            // All at once, at a speed that plays the window in about a second.
            var play = $$"""{"action":"play","start":"{{start:O}}","end":"{{start.AddSeconds(WindowSeconds):O}}","speed":120}""";
            await Task.WhenAll(sockets.Select(s => s.SendAsync(play)));
            await Task.WhenAll(sockets.Select(s => s.WaitForAsync(BenchSocket.IsEnded, clock, TimeSpan.FromSeconds(120))));
            var after = await gateway.MetricsAsync();
            foreach (var s in sockets)
            {
                await s.DisposeAsync();
            }

            double Delta(string name) => after.GetValueOrDefault(name) - before.GetValueOrDefault(name);
            var chunks = WindowSeconds / ChunkSeconds;
            var row = new SharingRow(n, chunks, Delta("tivo_store_queries_total"), Delta("tivo_cache_misses_total"),
                Delta("tivo_store_queries_total") / chunks, Delta("tivo_cache_misses_total") / chunks);
            Console.WriteLine($"  {n,4} sessions, same {WindowSeconds} s window ({chunks} chunks): {row.StoreQueries} store queries ({row.QueriesPerChunk:F2} per chunk), {row.ChunksRead} chunks read from the store ({row.ReadsPerChunk:F2} per chunk)");
            rows.Add(row);
        }

        return rows;
    }
}

internal sealed record SharingRow(int Sessions, int Chunks, double StoreQueries, double ChunksRead, double QueriesPerChunk, double ReadsPerChunk);
