using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Tivo.Bench;

/// <summary>
/// One session plays at speed 10 (or as told: the one-hour long mode plays at speed 1) for a long run. From the <c>clock</c> messages: playhead against wall
/// time × speed (the dilated clock's drift); from the events: whether the dues follow the warp exactly,
/// (due_k − due_0) against (ts_k − ts_0) / speed, and whether arrival error grows over the run.
/// </summary>
internal static class DriftBenchmark
{
    public static async Task<DriftRow> RunAsync(int seconds, double speed = 10)
    {
        // Backpressure off: a gateway that falls behind (other work on a shared machine) holds the session's clock on
        // purpose, which would count as drift here (one hour on a busy machine: -106.7 ms, all of it holds, dues shifted by
        // the same amount). This measures the clock's own timekeeping.
        await using var gateway = await BenchGateway.StartAsync("--Tivo:Gateway:LateReportThreshold", "00:00:00");
        // 100 events per stream second: at speed 10, 1,000 events per wall second.
        await gateway.IngestAsync("drift", DeliveryBenchmark.Base, 0.01, (int)((seconds + 5) * speed * 100));
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(gateway.WebSocketUri("ws?channel=drift"), CancellationToken.None);
        var end = DeliveryBenchmark.Base.AddSeconds((seconds + 5) * speed);
        await socket.SendAsync(Encoding.UTF8.GetBytes($$"""{"action":"play","start":"{{DeliveryBenchmark.Base:O}}","end":"{{end:O}}","speed":{{speed}}}"""),
            WebSocketMessageType.Text, true, CancellationToken.None);

        var clocks = new List<(double Wall, double Playhead)>();
        var events = new List<(double Arrival, double Due, double Ts)>();
        var buffer = new byte[1 << 16];
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        try
        {
            while (true)
            {
                // The Memory overload: no result object and no task per message (100 a stream second: an hour's run at speed
                // 1 receives 360,000; the delivery benchmark's driver does the same).
                var result = await socket.ReceiveAsync(buffer.AsMemory(), stop.Token);
                var wall = (DateTime.UtcNow - DateTime.UnixEpoch).TotalMilliseconds;
                using var document = JsonDocument.Parse(buffer.AsMemory(0, result.Count));
                var json = document.RootElement;
                switch (json.GetProperty("type").GetString())
                {
                    case "clock":
                        clocks.Add((wall, Ms(json.GetProperty("playhead").GetString()!)));
                        break;
                    case "event":
                        events.Add((wall, json.GetProperty("due").GetDouble(), Ms(json.GetProperty("ts").GetString()!)));
                        break;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        socket.Abort();
        // Drift of the playhead: how far it ran ahead of (or behind) wall time × speed, in stream ms, from a clock
        // message 2 s into the run (the first ones carry the start's control lead) to the end; and the least-squares
        // slope of playhead against wall time, as parts per million off the speed.
        var reference = clocks.FindIndex(c => c.Wall - clocks[0].Wall >= Math.Min(2000, seconds * 250));
        var steady = clocks.Skip(reference).ToList();
        var (w0, p0) = steady[0];
        var drifts = steady.Select(c => c.Playhead - p0 - (c.Wall - w0) * speed).ToList();
        // At the end, robustly: the median of (playhead − wall × speed) over the last 10 s against the same over the first
        // 10 s. One clock message held up on a busy machine moves a single sample by its delay, not the medians.
        var span = Math.Min(10_000, (steady[^1].Wall - w0) / 3);
        var endDrift = Median(drifts.Where((_, i) => steady[^1].Wall - steady[i].Wall <= span)) - Median(drifts.Where((_, i) => steady[i].Wall - w0 <= span));
        double mw = steady.Average(c => c.Wall - w0), mp = steady.Average(c => c.Playhead - p0);
        var slope = steady.Sum(c => (c.Wall - w0 - mw) * (c.Playhead - p0 - mp)) / steady.Sum(c => Math.Pow(c.Wall - w0 - mw, 2));
        var ppm = (slope / speed - 1) * 1e6;
        var e0 = events[0];
        var dueError = events.Max(e => Math.Abs(e.Due - e0.Due - (e.Ts - e0.Ts) / speed));
        var window = Math.Min(10_000, (events[^1].Arrival - events[0].Arrival) / 3);
        var firstLate = events.Where(e => e.Arrival - e0.Arrival <= window).Average(e => e.Arrival - e.Due);
        var lastLate = events.Where(e => events[^1].Arrival - e.Arrival <= window).Average(e => e.Arrival - e.Due);
        var row = new DriftRow(seconds, speed, steady.Count, events.Count, endDrift, drifts.Max(Math.Abs), ppm, dueError, lastLate - firstLate, drifts[^1]);
        Console.WriteLine($"  {seconds} s at speed {speed}: playhead − wall×speed at the end {row.EndDriftStreamMs:F2} stream ms (medians of the first and last {span / 1000:F0} s; last message alone {row.LastMessageDriftStreamMs:F2}; max |·| {row.MaxDriftStreamMs:F2}, slope {row.SlopePpm:F1} ppm, from {row.ClockMessages} clock messages); " +
                          $"dues off the warp by at most {row.MaxDueErrorMs:F4} ms over {row.Events:N0} events; mean lateness change first → last {window / 1000:F0} s: {row.LatenessChangeMs:F2} ms");
        return row;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static double Ms(string iso) =>
        (DateTime.Parse(iso, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal) - DateTime.UnixEpoch).TotalMilliseconds;
}

internal sealed record DriftRow(int Seconds, double Speed, int ClockMessages, int Events, double EndDriftStreamMs, double MaxDriftStreamMs, double SlopePpm,
    double MaxDueErrorMs, double LatenessChangeMs, double LastMessageDriftStreamMs);
