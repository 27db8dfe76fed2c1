using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Tivo.Testing;

namespace Tivo.Bench;

/// <summary>One hostile case: what the server answered and its resident memory around it.</summary>
internal sealed record HostileRow(string Case, string Answer, double RssBeforeMb, double RssPeakMb, double RssAfterMb);

/// <summary>The hostile cases, and the fuzzer's long run.</summary>
internal sealed record HostileResult(IReadOnlyList<HostileRow> Cases, string Fuzz);

/// <summary>
/// The hardening issue's probes against a gateway process with the demo data: each hostile play, then a status
/// flood that never reads (reconnecting whenever it is closed), then the protocol fuzzer. Prints the answer and the
/// process's RSS before, at its peak (sampled every 50 ms) and a few seconds after each case.
/// </summary>
internal static class HostileBenchmark
{
    private static readonly (string Name, string Message)[] Plays =
    [
        ("loop, duration 5e-324", """{"action":"play","start":"2016-01-15T14:32:24Z","end":"2016-01-15T14:33:24Z","loop":true,"duration":5e-324}"""),
        ("loop, duration 0.01 s", """{"action":"play","start":"2016-01-15T14:32:24Z","end":"2016-01-15T14:33:24Z","loop":true,"duration":0.01}"""),
        ("rate 1 over 10 years", """{"action":"play","start":"2006-01-15T14:32:24Z","end":"2016-01-15T14:33:24Z","rate":1}"""),
        ("maxGap 1 over 100 years", """{"action":"play","start":"1916-01-15T14:32:24Z","end":"2016-01-15T14:33:24Z","maxGap":1}"""),
        ("rate 5e-324", """{"action":"play","start":"2016-01-15T14:32:24Z","end":"2016-01-15T14:33:24Z","rate":5e-324}"""),
        ("rate 1 over 31 days", """{"action":"play","start":"2015-12-17T00:00:00Z","end":"2016-01-17T00:00:00Z","rate":1}"""),
        ("whole extent in 1 ms", """{"action":"play","start":"2016-01-14T00:00:00Z","end":"2016-01-17T00:00:00Z","duration":0.001}"""),
    ];

    public static async Task<HostileResult> RunAsync(TimeSpan flood, int fuzzFrames, int fuzzRequests)
    {
        await using var gateway = await GatewayProcess.StartAsync("--Tivo:Store:SeedDemoData", "true");
        var rows = new List<HostileRow>();
        foreach (var (name, message) in Plays)
        {
            rows.Add(await MeasureAsync(gateway, name, TimeSpan.FromSeconds(3), () => PlayAsync(gateway, message)));
        }

        rows.Add(await MeasureAsync(gateway, $"status flood, never reading, {flood.TotalSeconds:0} s", TimeSpan.FromSeconds(3), () => FloodAsync(gateway, flood)));
        foreach (var row in rows)
        {
            Console.WriteLine($"  {row.Case,-34} {row.Answer,-52} RSS {row.RssBeforeMb,6:0} → peak {row.RssPeakMb,6:0} → after {row.RssAfterMb,6:0} MB");
        }

        // The fuzzer gets a gateway of its own with the command rate limit raised, so its frames reach the parser and
        // the grains rather than stopping at rate_limited.
        await using var fuzzed = await GatewayProcess.StartAsync("--Tivo:Store:SeedDemoData", "true", "--Tivo:Gateway:CommandsPerSecond", "100000", "--Tivo:Gateway:CommandBurst", "100000");
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(30));
        var clock = Stopwatch.StartNew();
        var seed = (ulong)Environment.TickCount64;
        var report = await ProtocolFuzzer.RunAsync(fuzzed.Http.BaseAddress!, fuzzFrames, fuzzRequests, sockets: 8, seed, cancel.Token);
        var fuzz = $"seed {seed}: {report} in {clock.Elapsed.TotalSeconds:0.0} s";
        Console.WriteLine($"  fuzz: {fuzz}");
        var log = fuzzed.Output.Split('\n');
        foreach (var failure in log.Select((line, i) => (line, i)).Where(l => l.line.StartsWith("fail:", StringComparison.Ordinal)).Take(3))
        {
            Console.WriteLine("  gateway log: " + string.Join("\n    ", log.Skip(failure.i).Take(12)));
        }

        return new HostileResult(rows, fuzz);
    }

    private static async Task<HostileRow> MeasureAsync(GatewayProcess gateway, string name, TimeSpan settle, Func<Task<string>> run)
    {
        await Task.Delay(500);
        var before = Rss(gateway);
        var peak = before;
        using var stop = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                peak = Math.Max(peak, Rss(gateway));
                await Task.Delay(50);
            }
        });
        var answer = await run();
        await Task.Delay(settle);
        await stop.CancelAsync();
        await sampler;
        return new HostileRow(name, answer, before, peak, Rss(gateway));
    }

    private static double Rss(GatewayProcess gateway)
    {
        gateway.Process.Refresh();
        return gateway.Process.WorkingSet64 / 1024.0 / 1024.0;
    }

    /// <summary>Sends one play and reports the first answer (its code and the start of its message).</summary>
    private static async Task<string> PlayAsync(GatewayProcess gateway, string message)
    {
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(gateway.WebSocketUri("channels/taxi"), CancellationToken.None);
        await socket.SendAsync(Encoding.UTF8.GetBytes(message), WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[1 << 20];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, timeout.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return $"closed {(int?)result.CloseStatus}";
                }

                var json = JsonDocument.Parse(buffer.AsMemory(0, result.Count)).RootElement;
                var type = json.GetProperty("type").GetString();
                if (type == "error")
                {
                    var text = json.GetProperty("message").GetString() ?? "";
                    return $"{json.GetProperty("code").GetString()}: {text[..Math.Min(text.Length, 38)]}…";
                }

                if (type == "ack")
                {
                    return "ack (played)";
                }
            }
        }
        catch (OperationCanceledException)
        {
            return "no answer within 10 s";
        }
    }

    /// <summary>Sends status as fast as possible without ever reading, reconnecting each time the server closes.</summary>
    private static async Task<string> FloodAsync(GatewayProcess gateway, TimeSpan duration)
    {
        var status = Encoding.UTF8.GetBytes("""{"action":"status"}""");
        var clock = Stopwatch.StartNew();
        long sent = 0, connections = 0;
        while (clock.Elapsed < duration)
        {
            using var socket = new ClientWebSocket();
            await socket.ConnectAsync(gateway.WebSocketUri("channels/taxi"), CancellationToken.None);
            connections++;
            var left = duration - clock.Elapsed;
            if (left <= TimeSpan.Zero)
            {
                socket.Abort(); // the connect took the rest of the flood (a busy machine): a negative timeout would throw
                break;
            }

            using var stop = new CancellationTokenSource(left);
            try
            {
                while (socket.State == WebSocketState.Open)
                {
                    await socket.SendAsync(status, WebSocketMessageType.Text, true, stop.Token);
                    sent++;
                }
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
            }

            socket.Abort();
        }

        return $"{sent} sent over {connections} connections";
    }
}
