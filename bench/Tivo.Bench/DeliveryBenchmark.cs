using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Tivo.Testing;

namespace Tivo.Bench;

/// <summary>
/// End-to-end delivery: N WebSocket sessions, each playing its own session at ~100 events/s, against a
/// gateway started as a separate process (embedded mode, Release). Prints |arrival − due| percentiles,
/// events/s delivered, and the CPU used by the server and by this driver separately.
/// </summary>
internal static class DeliveryBenchmark
{
    // In the past: chunks that end less than 5 s before now are "open" (live) and never cached.
    private static readonly DateTime Base = new(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    public static async Task<int> RunAsync(int[] sessionCounts, double[] speeds, int seconds, string resultsPath)
    {
        var root = DynaliteServer.RepositoryRoot();
        var dll = Path.Combine(root, "gateway", "Tivo.Gateway", "bin", "Release", "net10.0", "Tivo.Gateway.dll");
        if (!File.Exists(dll))
        {
            Console.Error.WriteLine($"Build the gateway first: dotnet build -c Release gateway/Tivo.Gateway ({dll} is missing).");
            return 1;
        }

        var folder = Directory.CreateTempSubdirectory("tivo-bench-delivery-").FullName;
        var port = TestPorts.Free();
        using var server = Process.Start(new ProcessStartInfo("dotnet")
        {
            ArgumentList =
            {
                dll, "--urls", $"http://127.0.0.1:{port}", "--Tivo:Store:Path", Path.Combine(folder, "tivo.db"), "--Tivo:Store:SeedDemoData", "false",
                "--Tivo:Orleans:SiloPort", TestPorts.Free().ToString(CultureInfo.InvariantCulture),
                "--Tivo:Orleans:GatewayPort", TestPorts.Free().ToString(CultureInfo.InvariantCulture),
                "--Tivo:Gateway:SendQueueLimit", "200000", "--Logging:LogLevel:Default", "Warning",
            },
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var rows = new List<Row>();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            await WaitHealthyAsync(http);
            var maxSpeed = speeds.Max();
            foreach (var speed in speeds.Distinct())
            {
                // 100 events per wall second at this speed: one event every speed/100 stream seconds.
                await IngestAsync(http, Channel(speed), streamSeconds: (int)Math.Ceiling((seconds + 5) * speed), intervalSeconds: speed / 100);
            }

            Console.WriteLine($"Delivery benchmark: {seconds} s per run, ~100 events/s per session, server pid {server.Id}, {Environment.ProcessorCount} cores");
            foreach (var speed in speeds)
            {
                foreach (var sessions in sessionCounts)
                {
                    rows.Add(await RunOnceAsync(port, server, sessions, speed, seconds));
                    var r = rows[^1];
                    Console.WriteLine($"  {r.Sessions,5} sessions × speed {r.Speed,3}: p50 {r.P50Ms,6:F2} ms  p99 {r.P99Ms,7:F2} ms  max {r.MaxMs,8:F2} ms  {r.EventsPerSecond,9:N0} ev/s  server CPU {r.ServerCpuPercent,5:F0}%  driver CPU {r.DriverCpuPercent,5:F0}%  server {r.ServerMicrosPerEvent,6:F1} µs/event");
                }
            }
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill(entireProcessTree: true);
                await server.WaitForExitAsync();
            }

            Directory.Delete(folder, recursive: true);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(resultsPath))!);
        await File.WriteAllTextAsync(resultsPath, JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"results: {Path.GetFullPath(resultsPath)}");
        return 0;
    }

    private static string Channel(double speed) => $"bench-x{speed.ToString(CultureInfo.InvariantCulture)}";

    private static async Task<Row> RunOnceAsync(int port, Process server, int sessions, double speed, int seconds)
    {
        var errors = new List<double>[sessions];
        var sockets = new ClientWebSocket[sessions];
        var uri = new Uri($"ws://127.0.0.1:{port}/ws?channel={Channel(speed)}");
        for (var i = 0; i < sessions; i++)
        {
            sockets[i] = new ClientWebSocket();
            await sockets[i].ConnectAsync(uri, CancellationToken.None);
            errors[i] = new List<double>(seconds * 110);
        }

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds + 1));
        var serverCpu0 = server.TotalProcessorTime;
        var driverCpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var wall = Stopwatch.StartNew();
        var play = Encoding.UTF8.GetBytes($$"""{"action":"play","start":"{{Base:O}}","speed":{{speed.ToString(CultureInfo.InvariantCulture)}},"end":"{{Base.AddSeconds((seconds + 5) * speed):O}}"}""");
        var receivers = sockets.Select((s, i) => ReceiveAsync(s, play, errors[i], stop.Token)).ToArray();
        await Task.WhenAll(receivers);
        wall.Stop();
        server.Refresh();
        var serverCpu = (server.TotalProcessorTime - serverCpu0).TotalMilliseconds;
        var driverCpu = (Process.GetCurrentProcess().TotalProcessorTime - driverCpu0).TotalMilliseconds;
        foreach (var s in sockets)
        {
            s.Abort();
            s.Dispose();
        }

        var all = errors.SelectMany(e => e).Select(Math.Abs).Order().ToArray();
        double Q(double q) => all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)(q * all.Length))];
        var elapsed = wall.Elapsed.TotalSeconds;
        return new Row(sessions, speed, all.Length, all.Length / elapsed, Q(0.5), Q(0.99), all.Length == 0 ? double.NaN : all[^1],
            serverCpu / 10 / elapsed, driverCpu / 10 / elapsed, all.Length == 0 ? double.NaN : serverCpu * 1000 / all.Length);
    }

    private static async Task ReceiveAsync(ClientWebSocket socket, byte[] play, List<double> errors, CancellationToken cancellationToken)
    {
        var buffer = new byte[1 << 16];
        await socket.SendAsync(play, WebSocketMessageType.Text, true, CancellationToken.None);
        var skipUntil = DateTime.UtcNow.AddSeconds(1); // the first second warms caches and JIT
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, cancellationToken);
                var arrival = (DateTime.UtcNow - DateTime.UnixEpoch).TotalMilliseconds;
                if (result.MessageType == WebSocketMessageType.Close || !result.EndOfMessage)
                {
                    continue;
                }

                var span = buffer.AsSpan(0, result.Count);
                if (!span.StartsWith("{\"type\":\"event\""u8))
                {
                    continue;
                }

                var dueAt = span.IndexOf("\"due\":"u8);
                var rest = span[(dueAt + 6)..];
                var end = rest.IndexOfAny((byte)',', (byte)'}');
                var due = double.Parse(Encoding.ASCII.GetString(rest[..end]), CultureInfo.InvariantCulture);
                if (DateTime.UtcNow >= skipUntil)
                {
                    errors.Add(arrival - due);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (WebSocketException)
        {
        }
    }

    private static async Task IngestAsync(HttpClient http, string channel, int streamSeconds, double intervalSeconds)
    {
        var total = (int)(streamSeconds / intervalSeconds);
        for (var offset = 0; offset < total; offset += 50_000)
        {
            var body = new StringBuilder();
            for (var i = offset; i < Math.Min(total, offset + 50_000); i++)
            {
                body.Append("{\"ts\":\"").Append(Base.AddSeconds(i * intervalSeconds).ToString("O", CultureInfo.InvariantCulture))
                    .Append("\",\"data\":{\"i\":").Append(i).Append(",\"v\":").Append((i * 7 % 1000).ToString(CultureInfo.InvariantCulture)).Append("}}\n");
            }

            using var response = await http.PostAsync($"channels/{channel}/events", new StringContent(body.ToString(), Encoding.UTF8, "application/x-ndjson"));
            response.EnsureSuccessStatusCode();
        }
    }

    private static async Task WaitHealthyAsync(HttpClient http)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                if ((await http.GetAsync("healthz")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("The gateway did not become healthy within 60 s.");
            }

            await Task.Delay(200);
        }
    }

    private sealed record Row(int Sessions, double Speed, int Events, double EventsPerSecond, double P50Ms, double P99Ms, double MaxMs,
        double ServerCpuPercent, double DriverCpuPercent, double ServerMicrosPerEvent);
}
