using System.Diagnostics;
using System.Globalization;
using System.Text;
using Tivo.Testing;

namespace Tivo.Bench;

/// <summary>Live ingest → socket latency and the first play's lateness on a fresh server.</summary>
internal sealed record LiveResult(int Posts, double P50Ms, double P90Ms, double MaxMs, double FreshFirstLateMs, double WarmFirstLateMs);

/// <summary>
/// Two figures of the timing issue. Live: a session follows a channel live; each of N events is POSTed with the
/// present as its time, and the time from the POST to its arrival on the socket is measured (target p50 ≤ 50 ms).
/// First play: on a gateway process that has served nothing yet, a play that starts exactly at a stored event;
/// the event's arrival minus its own due (target ≤ 10 ms), then the same on the warmed server.
/// </summary>
internal static class LiveBenchmark
{
    public static async Task<LiveResult> RunAsync(int posts)
    {
        await using var gateway = await GatewayProcess.StartAsync();
        // First play on a fresh server: the events are ingested (the only thing the server did so far), then played.
        var start = new DateTime(2031, 6, 1, 0, 0, 0, DateTimeKind.Utc);
        await gateway.IngestLinesAsync("first", Enumerable.Range(0, 100).Select(i =>
            $$$"""{"ts":"{{{start.AddMilliseconds(i * 100):O}}}","data":{"i":{{{i}}}}}"""), 1000);
        var fresh = await FirstLateAsync(gateway, start);
        var warm = await FirstLateAsync(gateway, start);

        await gateway.IngestLinesAsync("live", [Line(DateTime.UtcNow.AddSeconds(-1))], 1);
        await using var socket = await BenchSocket.ConnectAsync(gateway.WebSocketUri("ws?channel=live"));
        var clock = Stopwatch.StartNew();
        await socket.WaitForAsync(BenchSocket.IsHello, clock, TimeSpan.FromSeconds(30));
        // No start and no end: the session follows the channel from the present, at the live edge.
        await socket.SendAsync("""{"action":"play","speed":1}""");
        await socket.WaitForAsync(m => m.GetProperty("type").GetString() == "state", clock, TimeSpan.FromSeconds(30));
        await Task.Delay(500);
        var latencies = new List<double>();
        for (var i = 0; i < posts; i++)
        {
            await Task.Delay(100);
            var sent = clock.Elapsed;
            using (var response = await gateway.Http.PostAsync("channels/live/events", new StringContent(Line(DateTime.UtcNow), Encoding.UTF8, "application/x-ndjson")))
            {
                response.EnsureSuccessStatusCode();
            }

            var (_, at) = await socket.WaitForAsync(BenchSocket.IsEvent, clock, TimeSpan.FromSeconds(30));
            latencies.Add((at - sent).TotalMilliseconds);
        }

        latencies.Sort();
        var result = new LiveResult(posts, latencies[latencies.Count / 2], latencies[(int)(latencies.Count * 0.9)], latencies[^1], fresh, warm);
        Console.WriteLine($"  live ingest → socket over {posts} POSTs: p50 {result.P50Ms:F1} ms, p90 {result.P90Ms:F1} ms, max {result.MaxMs:F1} ms (target p50 ≤ 50 ms)");
        Console.WriteLine($"  first event of a play, arrival − due: fresh server {fresh:F1} ms, warm {warm:F1} ms (target ≤ 10 ms)");
        return result;
    }

    private static string Line(DateTime ts) => $$$"""{"ts":"{{{ts.ToString("O", CultureInfo.InvariantCulture)}}}","data":{"live":true}}""";

    /// <summary>Plays [start, start + 10 s) and returns the first event's arrival minus its due, in ms (wall clock).</summary>
    private static async Task<double> FirstLateAsync(GatewayProcess gateway, DateTime start)
    {
        await using var socket = await BenchSocket.ConnectAsync(gateway.WebSocketUri("ws?channel=first"));
        var clock = Stopwatch.StartNew();
        await socket.WaitForAsync(BenchSocket.IsHello, clock, TimeSpan.FromSeconds(30));
        await socket.SendAsync($$"""{"action":"play","start":"{{start:O}}","end":"{{start.AddSeconds(10):O}}","speed":1}""");
        var (message, _) = await socket.WaitForAsync(BenchSocket.IsEvent, clock, TimeSpan.FromSeconds(30));
        var arrived = (DateTime.UtcNow - DateTime.UnixEpoch).TotalMilliseconds;
        return arrived - message.GetProperty("due").GetDouble();
    }
}
