using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;

namespace Tivo.Bench;

/// <summary>
/// End-to-end delivery: N WebSocket sessions, each playing its own session at ~100 events/s, against a
/// gateway started as a separate process (embedded mode, Release), and the same against the naive peer
/// (Node.js <c>ws</c>, one timer per event), the floor (<see cref="FloorServer"/>: one send per event, nothing else) and
/// NATS JetStream (replay policy <c>original</c>, 1× only).
/// Reports |arrival − due| percentiles, events/s delivered, and the CPU of server and driver separately.
/// </summary>
/// <summary>Which of Tivo's rows the delivery benchmark runs (<c>--rows</c>): one kind alone takes a third of the time, for
/// pairs of builds or settings alternated in the same hour.</summary>
[Flags]
internal enum DeliveryRowKinds
{
    /// <summary>Plain clients: one frame per event, released by the gateway at due.</summary>
    Plain = 1,

    /// <summary>Lead, measured at arrival by the benchmark's own sockets.</summary>
    Lead = 2,

    /// <summary>Lead, measured where the JavaScript client library releases each event.</summary>
    Js = 4,

    All = Plain | Lead | Js,
}

internal static class DeliveryBenchmark
{
    // In the past: chunks that end less than 5 s before now are "open" (live) and never cached.
    public static readonly DateTime Base = new(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    public static string Channel(double speed) => $"bench-x{speed.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Events per wall second per session.</summary>
    public const int Rate = 100;

    public static int EventCount(int seconds) => (seconds + 5) * Rate;

    /// <summary>Runs the rows; with <paramref name="runs"/> above 1 each Tivo row (plain, lead, JS client) is run that many
    /// times in turn in the same gateway, so the summary gives each figure's range (the machine's load moves from run to run).
    /// <paramref name="kinds"/> says which of Tivo's rows run (the lead and JS-client rows only with a lead above 0).</summary>
    public static async Task<DeliveryResults> RunAsync(int[] sessionCounts, double[] speeds, int seconds, bool peers, int lead, JsClientProcesses? jsClients = null, int runs = 1,
        DeliveryRowKinds kinds = DeliveryRowKinds.All)
    {
        var rows = new List<DeliveryRow>();
        var cold = new List<DeliveryRow>();
        var (warmSessions, warmSeconds) = (Math.Max(WarmUpSessions, sessionCounts.Max()), Math.Max(WarmUpSeconds, seconds));
        if (lead > 0 && kinds.HasFlag(DeliveryRowKinds.Js))
        {
            PeerServer.NodeFolder(LeadClients.JsRowNeeds); // before any row, not after a minute of them
        }

        // Sessions left by their participants end 2 s later (not the default 30 s), and every Tivo row waits for the previous
        // row's to be gone: their ending (and until then their ticks) would otherwise be measured as the next row's CPU.
        await using (var gateway = await BenchGateway.StartAsync("--Tivo:Playback:SessionGracePeriod", "00:00:02"))
        {
            foreach (var speed in speeds.Distinct())
            {
                // 100 events per wall second at this speed: one event every speed/100 stream seconds.
                await gateway.IngestAsync(Channel(speed), Base, speed / Rate, EventCount(seconds));
            }

            Console.WriteLine($"  server: Tivo gateway pid {gateway.Process.Id} (embedded, SQLite); {seconds} s per run, {Rate} events/s per session");
            // The lead warm-up only for rows with lead (a `--rows plain` run has none to warm).
            var leadRows = lead > 0 && (kinds.HasFlag(DeliveryRowKinds.Lead) || kinds.HasFlag(DeliveryRowKinds.Js));
            cold.Add(await WarmUpAsync("tivo", gateway.WebSocketUri($"ws?channel={Channel(speeds[0])}"), gateway.Process, speeds[0], leadRows ? lead : 0,
                warmSessions, warmSeconds, gateway.WithGatewayFiguresAsync));
            foreach (var speed in speeds)
            {
                foreach (var sessions in sessionCounts)
                {
                    var play = PlayMessage(speed, seconds);
                    for (var run = 1; run <= runs; run++)
                    {
                        if (kinds.HasFlag(DeliveryRowKinds.Plain))
                        {
                            rows.Add(Print(await gateway.WithGatewayFiguresAsync(counting => DriveAsync("tivo", gateway.WebSocketUri($"ws?channel={Channel(speed)}"), gateway.Process, sessions, speed, seconds, play, counting))));
                        }

                        // Lead mode: frames ahead of due. This driver counts an event arriving ahead as released on time (a
                        // perfect jitter buffer), one arriving after its due as late by that much; then the real JS client.
                        if (lead > 0 && kinds.HasFlag(DeliveryRowKinds.Lead))
                        {
                            rows.Add(Print(await gateway.WithGatewayFiguresAsync(counting => DriveAsync("tivo-lead", gateway.WebSocketUri($"ws?channel={Channel(speed)}&lead={lead}"), gateway.Process, sessions, speed, seconds, play, counting))));
                        }

                        if (lead > 0 && kinds.HasFlag(DeliveryRowKinds.Js))
                        {
                            rows.Add(Print(await gateway.WithGatewayFiguresAsync(counting => LeadClients.DriveAsync(gateway.WebSocketUri($"ws?channel={Channel(speed)}"), gateway.Process, sessions, speed, seconds, play, lead, jsClients ?? new JsClientProcesses(), counting))));
                        }
                    }
                }
            }
        }

        var results = new DeliveryResults(rows, [], cold);
        if (!peers)
        {
            return results;
        }

        // The same driver against two WebSocket peers fed the same events: the naive design, and the floor (what one send
        // per event costs on this machine with nothing else).
        foreach (var (system, start, what) in new (string, Func<Task<PeerServer>>, string)[]
        {
            ("naive-node-ws", () => PeerServer.StartNaiveAsync(speeds, seconds), "naive Node.js ws peer (window loaded per play, one setTimeout per event)"),
            ("floor-sends", () => PeerServer.StartFloorAsync(speeds, seconds), "the floor (a thread per core, one blocking send per event, nothing else: bench/Tivo.Bench/FloorServer.cs)"),
        })
        {
            await PeerAsync(system, results, async () =>
            {
                await using var peer = await start();
                Console.WriteLine($"  server: {what}, pid {peer.Process.Id}");
                cold.Add(await WarmUpAsync(system, peer.Uri(Channel(speeds[0])), peer.Process, speeds[0], 0, warmSessions, warmSeconds, drive => drive(() => Task.CompletedTask)));
                foreach (var speed in speeds)
                {
                    foreach (var sessions in sessionCounts)
                    {
                        rows.Add(Print(await DriveAsync(system, peer.Uri(Channel(speed)), peer.Process, sessions, speed, seconds, PlayMessage(speed, seconds))));
                    }
                }
            });
        }

        await PeerAsync("nats-jetstream", results, async () =>
        {
            await using var nats = await NatsPeer.StartAsync(seconds);
            Console.WriteLine($"  server: nats-server {nats.Version} pid {nats.Process.Id} (JetStream, file store, replay policy original)");
            foreach (var sessions in sessionCounts)
            {
                rows.Add(Print(await nats.DriveAsync(sessions, seconds)));
            }
        });

        return results;
    }

    /// <summary>Runs one peer's rows. A peer that fails (its server does not start, or stops answering under load) costs its
    /// own remaining rows, not the run: the NATS server once failed to answer the tidying after its 1,000-session row and the
    /// benchmark died there, every figure of a 10-minute run lost. The failure is kept in <paramref name="results"/>.</summary>
    private static async Task PeerAsync(string peer, DeliveryResults results, Func<Task> run)
    {
        try
        {
            await run();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Console.Error.WriteLine($"  {peer}: failed, its remaining rows are missing: {ex.GetType().Name}: {ex.Message}");
            results.PeerFailures.Add($"{peer} rows ({ex.GetType().Name}: {ex.Message})");
        }
    }

    /// <summary>Sessions and seconds of the lead warm-up, and the fewest of the plain one.</summary>
    private const int WarmUpSessions = 100, WarmUpSeconds = 3;

    /// <summary>
    /// A fresh server's first plays, before its rows: as many plain sessions as the largest row for as long (at least 100
    /// sessions for 3 s), then 100 sessions for 3 s with lead when the rows have lead. The plain run is returned as the
    /// server's cold row: printed, and kept apart from the rows (<see cref="DeliveryResults.Cold"/>). The rows then measure a
    /// server as it runs: its code compiled, its collector's budgets grown to its load, and in Tivo the replay-log segments of
    /// ended sessions in its pool. Every server (Tivo, the naive peer, the floor) gets the same warm-up.
    /// Until 4 Dec 2026 the warm-up was 100 sessions for 3 s, and the first 1,000-session row of a gateway measured the
    /// start of all that: 3 plain rows at 1,000 sessions in one gateway had p99 52.98, 12.13 and 14.79 ms, the first with a
    /// gen1 at the plays' start promoting 55.7 MB and a gen2 promoting 123 MB, the others one gen0 each promoting 2.4 MB.
    /// Without any warm-up, one session had taken 12–15% of the gateway's CPU and p99 1.99–2.07 ms, against 3–4% and
    /// 0.64–1.01 ms run again in the same process.
    /// </summary>
    private static async Task<DeliveryRow> WarmUpAsync(string system, Uri uri, Process server, double speed, int lead, int sessions, int seconds,
        Func<Func<Func<Task>, Task<DeliveryRow>>, Task<DeliveryRow>> withFigures)
    {
        var play = PlayMessage(speed, seconds);
        var plain = await withFigures(counting => DriveAsync(system, uri, server, sessions, speed, seconds, play, counting));
        var led = lead > 0 ? await DriveAsync("warm-up", new Uri($"{uri}&lead={lead}"), server, WarmUpSessions, speed, WarmUpSeconds, PlayMessage(speed, WarmUpSeconds)) : null;
        Console.WriteLine($"  warm-up, not among the rows: {sessions} sessions × {seconds} s{(led is null ? "" : $"; with lead {WarmUpSessions} sessions × {WarmUpSeconds} s ({led.EventsPerSecond:N0} ev/s)")}; a fresh server's first plays:");
        return Print(plain);
    }

    private static DeliveryRow Print(DeliveryRow r)
    {
        Console.WriteLine($"  {r.System,-14} {r.Sessions,5} sessions × speed {r.Speed,3}: p50 {r.P50Ms,7:F2} ms  p99 {r.P99Ms,8:F2} ms  max {r.MaxMs,8:F2} ms  {r.EventsPerSecond,9:N0} ev/s  server CPU {r.ServerCpuPercent,4:F0}%{(r.ServerIdlePercent is { } idle ? $" (idle {idle:F0}%)" : "")}{(r.ServerStartMs is { } start ? $" (start {start:F0} ms)" : "")}  driver CPU {r.DriverCpuPercent,4:F0}%  {r.ServerMicrosPerEvent,7:F1} µs/event{(r.GatewayBytesPerEvent is { } b ? $"  {b,5:F0} B allocated/event" : "")}{(r.ServerP99Ms is { } s ? $"  at the gateway p99 {s:F2} ms" : "")}{(r.EventsPerFrame is { } f ? $"  {f:F1} events/frame" : "")}{(r.GatewayGc is { } gc ? $"  GC {gc.Collections:F0}× {gc.PausedMs:F0} ms" : "")}{(r.Slowed is { Count: > 0 } slowed ? $"  {slowed}" : "")}");
        if (r.P99BySecondMs is { Length: > 1 } bySecond && r.Sessions >= 100)
        {
            Console.WriteLine($"  {"",-14} p99 by second of the counted window: {string.Join(", ", bySecond.Select(ms => ms?.ToString("F1", CultureInfo.InvariantCulture) ?? "–"))} ms");
        }

        if (r.GatewayCollections is { Count: > 0 } collections)
        {
            Console.WriteLine($"  {"",-14} the gateway's collections: {string.Join("; ", collections)}");
        }

        if (r.DriverCollections is { Count: > 0 } own && r.Sessions >= 100)
        {
            Console.WriteLine($"  {"",-14} the driver's collections (arrivals stamped late by each pause): {string.Join("; ", own)}");
        }

        return r;
    }

    public static string PlayMessage(double speed, int seconds) =>
        $$"""{"action":"play","start":"{{Base:O}}","speed":{{speed.ToString(CultureInfo.InvariantCulture)}},"end":"{{Base.AddSeconds(EventCount(seconds) * speed / Rate):O}}"}""";

    /// <summary>Opens <paramref name="sessions"/> sockets, sends <paramref name="play"/> on each and records
    /// |arrival − due| of every event message (the first second is discarded as warm-up).</summary>
    public static async Task<DeliveryRow> DriveAsync(string system, Uri uri, Process server, int sessions, double speed, int seconds, string play, Func<Task>? counting = null)
    {
        var driven = new DriverSession[sessions];
        var achieved = new double?[sessions];
        var sockets = new ClientWebSocket[sessions];
        for (var i = 0; i < sessions; i++)
        {
            sockets[i] = new ClientWebSocket();
            await sockets[i].ConnectAsync(uri, CancellationToken.None);
            driven[i] = DriverSession.Rent(seconds * (Rate + 10));
        }

        var idle = await CpuMeter.WaitQuietAsync(server, TimeSpan.FromSeconds(30));
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds + 1));
        // The driver's own collections: while one pauses it, every arrival it stamps is late by the pause, whatever the server.
        var driverCollections = ProcessCollections.Start(Environment.ProcessId);
        var meter = new RowMeter(server, counting);
        var bytes = Encoding.UTF8.GetBytes(play);
        await Task.WhenAll(sockets.Select(async (s, i) => achieved[i] = await ReceiveAsync(s, bytes, driven[i], meter.CountFrom, stop.Token)));
        var (measured, startCpu) = await meter.StopAsync();
        var driverCollected = driverCollections is null ? null : await driverCollections.StopAsync(meter.CountFrom);
        foreach (var s in sockets)
        {
            s.Abort();
            s.Dispose();
        }

        var row = DeliveryRow.From(system, sessions, speed, driven.SelectMany(d => d.Errors), measured) with
        {
            Slowed = SlowedSessions.From(achieved, speed), ServerIdlePercent = idle, ServerStartMs = startCpu.TotalMilliseconds,
            P99BySecondMs = DriverSession.P99BySecond(driven),
            DriverCollections = driverCollected,
        };
        DriverSession.Return(driven);
        return row;
    }

    /// <summary>Plays on <paramref name="socket"/>, recording |arrival − due| of each event that arrives from
    /// <paramref name="countFrom"/> on (the row's first second, its plays' start, is left out); returns the lowest
    /// <c>achievedSpeed</c> a <c>state</c> reported in that window (null if none: the session was never held).</summary>
    private static async Task<double?> ReceiveAsync(ClientWebSocket socket, byte[] play, DriverSession session, DateTime countFrom, CancellationToken cancellationToken)
    {
        var countFromMs = (countFrom - DateTime.UnixEpoch).TotalMilliseconds;
        double? achieved = null;
        var buffer = session.Buffer;
        await socket.SendAsync(play, WebSocketMessageType.Text, true, CancellationToken.None);
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer.AsMemory(), cancellationToken); // the ValueTask overload: nothing allocated per message
                var arrival = (DateTime.UtcNow - DateTime.UnixEpoch).TotalMilliseconds;
                if (result.MessageType == WebSocketMessageType.Close || !result.EndOfMessage)
                {
                    continue;
                }

                var message = buffer.AsSpan(0, result.Count);
                if (DateTime.UtcNow < countFrom)
                {
                    continue;
                }

                if (DueOf(message) is { } due)
                {
                    session.Add(arrival - due, arrival - countFromMs);
                    continue;
                }

                if (AchievedSpeedOf(message) is { } speed)
                {
                    achieved = Math.Min(achieved ?? speed, speed); // a state: the session was held (backpressure) and says how fast it went
                }

                if (message.StartsWith("{\"type\":\"batch\""u8))
                {
                    foreach (var ahead in DuesOfBatch(message))
                    {
                        session.Add(Math.Max(0, arrival - ahead), arrival - countFromMs); // held until its due by the client: late only if it came after it
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (WebSocketException)
        {
        }

        return achieved;
    }

    /// <summary>The last <c>achievedSpeed</c> in a <c>state</c> message or a lead <c>batch</c> frame, or null.</summary>
    private static double? AchievedSpeedOf(ReadOnlySpan<byte> message)
    {
        var at = message.LastIndexOf("\"achievedSpeed\":"u8);
        if (at < 0)
        {
            return null;
        }

        var rest = message[(at + 16)..];
        var end = rest.IndexOfAny((byte)',', (byte)'}');
        return double.Parse(rest[..end], CultureInfo.InvariantCulture);
    }

    /// <summary>The <c>due</c> of each event in a lead mode <c>batch</c> frame.</summary>
    private static List<double> DuesOfBatch(ReadOnlySpan<byte> message)
    {
        var dues = new List<double>();
        var reader = new System.Text.Json.Utf8JsonReader(message);
        var depth = 0;
        var isEvent = false;
        double? due = null;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case System.Text.Json.JsonTokenType.StartObject:
                    depth++;
                    if (depth == 2)
                    {
                        (isEvent, due) = (false, null);
                    }

                    break;
                case System.Text.Json.JsonTokenType.EndObject:
                    if (depth == 2 && isEvent && due is { } d)
                    {
                        dues.Add(d);
                    }

                    depth--;
                    break;
                case System.Text.Json.JsonTokenType.StartArray when depth > 2:
                    reader.Skip();
                    break;
                case System.Text.Json.JsonTokenType.PropertyName when depth == 2:
                    if (reader.ValueTextEquals("type"u8))
                    {
                        reader.Read();
                        isEvent = reader.ValueTextEquals("event"u8);
                    }
                    else if (reader.ValueTextEquals("due"u8))
                    {
                        reader.Read();
                        due = reader.GetDouble();
                    }
                    else
                    {
                        reader.Read();
                        reader.Skip(); // data and the rest
                    }

                    break;
            }
        }

        return dues;
    }

    /// <summary>The <c>due</c> of an event message (epoch ms), or null for other messages.</summary>
    public static double? DueOf(ReadOnlySpan<byte> message)
    {
        if (!message.StartsWith("{\"type\":\"event\""u8))
        {
            return null;
        }

        var at = message.IndexOf("\"due\":"u8);
        var rest = message[(at + 6)..];
        var end = rest.IndexOfAny((byte)',', (byte)'}');
        return double.Parse(rest[..end], CultureInfo.InvariantCulture);
    }
}

/// <summary>One delivery run's figures.</summary>
internal sealed record DeliveryRow(string System, int Sessions, double Speed, int Events, double EventsPerSecond, double P50Ms, double P99Ms, double MaxMs,
    double ServerCpuPercent, double DriverCpuPercent, double ServerMicrosPerEvent)
{
    /// <summary>Bytes the gateway's managed heap allocated per delivered event over the window the row counts (Tivo rows; from
    /// the runtime's <c>dotnet.gc.heap.total_allocated</c> metric, so it includes what the sessions do beside their events).</summary>
    public double? GatewayBytesPerEvent { get; init; }

    /// <summary>The server's own share of the lateness (Tivo rows): p99 of <c>tivo.gateway.send.lateness</c> over the window the
    /// row counts, from the gateway's /metrics, in ms.</summary>
    public double? ServerP99Ms { get; init; }

    /// <summary>Events the gateway sent per WebSocket frame over the window the row counts (Tivo rows; <c>tivo.gateway.events.sent</c> ÷
    /// <c>tivo.gateway.frames.sent</c>, replies and signals counted as frames): 1 or less without lead.</summary>
    public double? EventsPerFrame { get; init; }

    /// <summary>The server's CPU (% of a core) with the run's sockets open just before it played (half a second, once the
    /// previous run's sessions were done): the share of <see cref="ServerCpuPercent"/> that is not the run's events.</summary>
    public double? ServerIdlePercent { get; init; }

    /// <summary>The gateway's garbage collections over the window the row counts and the time its threads were paused for them, in ms (Tivo
    /// rows; the runtime's <c>dotnet.gc.collections</c> and <c>dotnet.gc.pause.time</c>): a pause stops every send.</summary>
    public GcFigures? GatewayGc { get; init; }

    /// <summary>Each of the gateway's garbage collections in the window the row counts: when (seconds into the window, as
    /// <see cref="P99BySecondMs"/>), its generation, how long it paused the gateway and what it promoted (Tivo rows; null when the
    /// gateway's diagnostics port did not answer).</summary>
    public IReadOnlyList<ProcessCollection>? GatewayCollections { get; init; }

    /// <summary>The benchmark driver's own garbage collections in the window the row counts, listed like the gateway's (rows the
    /// .NET driver measures, every server's; null when its diagnostics port did not answer): a pause of the driver stamps every
    /// arrival in it late, so a second whose p99 stands out with no collection of the server may have one of these.</summary>
    public IReadOnlyList<ProcessCollection>? DriverCollections { get; init; }

    /// <summary>The server's CPU in the row's first second, in ms: the plays' start (and the events of that second), which the
    /// row's other figures leave out (<see cref="RowMeter"/>).</summary>
    public double? ServerStartMs { get; init; }

    /// <summary>Sessions whose clock the server held to keep up (backpressure), and how fast they went.</summary>
    public SlowedSessions? Slowed { get; init; }

    /// <summary>p99 of |arrival − due| of the events that arrived in each second of the counted window, in order (rows the driver's
    /// own sockets measure): whether lateness settles as the sessions are held, or was the start's.</summary>
    public double?[]? P99BySecondMs { get; init; }

    public static DeliveryRow From(string system, int sessions, double speed, IEnumerable<double> signedErrors, CpuMeasurement cpu)
    {
        var all = signedErrors.Select(Math.Abs).Order().ToArray();
        double Q(double q) => all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)(q * all.Length))];
        var elapsed = cpu.Wall.TotalSeconds;
        return new DeliveryRow(system, sessions, speed, all.Length, all.Length / elapsed, Q(0.5), Q(0.99), all.Length == 0 ? double.NaN : all[^1],
            cpu.Server.TotalMilliseconds / 10 / elapsed, cpu.Driver.TotalMilliseconds / 10 / elapsed,
            all.Length == 0 ? double.NaN : cpu.Server.TotalMilliseconds * 1000 / all.Length);
    }
}

/// <summary>
/// What the driver keeps for one of a row's sessions: its receive buffer and its errors (arrival − due, ms), each with the
/// second of the counted window it arrived in. Kept from row to row (<see cref="Rent"/>, <see cref="Return"/>), the buffers
/// on the pinned-object heap: made anew for each session (until 4 Dec 2026), 1,000 sessions' 64-KB buffers and 13-KB logs
/// filled the driver's young generation at every row's start, and its collections copied them while the row ran (gen1 and
/// gen2 collections of the driver of 40–63 ms promoting 93–122 MB), each stamping every arrival in it late by its pause,
/// whatever the server.
/// </summary>
internal sealed class DriverSession
{
    /// <summary>Larger than any frame of the rows (a lead frame holds at most 256 messages).</summary>
    private const int BufferBytes = 1 << 16;

    private static readonly ConcurrentBag<DriverSession> Kept = new();

    private DriverSession(int capacity)
    {
        Errors = new(capacity);
        _seconds = new(capacity);
    }

    /// <summary>The session's receive buffer.</summary>
    public byte[] Buffer { get; } = GC.AllocateUninitializedArray<byte>(BufferBytes, pinned: true);

    /// <summary>A session with no errors yet and room for <paramref name="capacity"/>: one a row before returned, or a new one.</summary>
    public static DriverSession Rent(int capacity)
    {
        if (!Kept.TryTake(out var session))
        {
            return new DriverSession(capacity);
        }

        session.Errors.Clear();
        session._seconds.Clear();
        session.Errors.EnsureCapacity(capacity);
        session._seconds.EnsureCapacity(capacity);
        return session;
    }

    /// <summary>Keeps <paramref name="sessions"/> for the next rows (their errors are not to be read again).</summary>
    public static void Return(IEnumerable<DriverSession> sessions)
    {
        foreach (var session in sessions)
        {
            Kept.Add(session);
        }
    }

    public List<double> Errors { get; }

    private readonly List<int> _seconds;

    public void Add(double error, double sinceCountFromMs)
    {
        Errors.Add(error);
        _seconds.Add((int)Math.Max(0, sinceCountFromMs / 1000));
    }

    /// <summary>p99 of |error| of all the sessions' events, by the second they arrived in (a second with no event: null).</summary>
    public static double?[] P99BySecond(IReadOnlyList<DriverSession> logs)
    {
        var bySecond = new List<List<double>>();
        foreach (var log in logs)
        {
            for (var i = 0; i < log.Errors.Count; i++)
            {
                var second = log._seconds[i];
                while (bySecond.Count <= second)
                {
                    bySecond.Add(new List<double>());
                }

                bySecond[second].Add(Math.Abs(log.Errors[i]));
            }
        }

        return bySecond.Select(errors =>
        {
            errors.Sort();
            return errors.Count == 0 ? (double?)null : errors[Math.Min(errors.Count - 1, (int)(0.99 * errors.Count))];
        }).ToArray();
    }
}

/// <summary>Garbage collections over a run, and the time the process was paused for them (ms).</summary>
internal sealed record GcFigures(double Collections, double PausedMs);

/// <summary>How many of a run's sessions reported an <c>achievedSpeed</c> below their speed (their clocks were held), and
/// the mean and the least of the lowest speed each reported.</summary>
internal sealed record SlowedSessions(int Count, int Of, double MeanAchieved, double LowestAchieved)
{
    public static SlowedSessions From(double?[] achieved, double speed)
    {
        var slowed = achieved.Where(a => a < speed).Select(a => a!.Value).ToArray();
        return new SlowedSessions(slowed.Length, achieved.Length, slowed.Length == 0 ? speed : slowed.Average(), slowed.Length == 0 ? speed : slowed.Min());
    }

    public override string ToString() => Count == 0 ? "no session slowed" :
        $"{Count:N0} of {Of:N0} sessions slowed, to {MeanAchieved:F2}× at their slowest on average (lowest {LowestAchieved:F2}×)";
}

internal readonly record struct CpuMeasurement(TimeSpan Wall, TimeSpan Server, TimeSpan Driver);

/// <summary>
/// A row's CPU over the window its events are counted in. A row leaves out the events of its first <see cref="WarmUp"/> (the
/// plays' start: every session's first chunk and first push at one instant, code first reached then); its CPU and its
/// rates leave out the same second, so a figure per event divides the CPU of the events it counts. Until 3 Dec 2026 the CPU
/// ran from the play, and the CPU per event divided 11 s of CPU, the start included, by the events of the last 10 s. What
/// the first second cost the server is kept apart (<see cref="DeliveryRow.ServerStartMs"/>).
/// </summary>
internal sealed class RowMeter
{
    public static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(1);

    private readonly CpuMeter _whole;
    private readonly Task<CpuMeter> _counted;

    /// <summary>Starts metering <paramref name="server"/> now, as the row's plays are sent; <paramref name="counting"/> runs
    /// as the row starts counting (the gateway's own figures are read from then: <see cref="BenchGateway.WithGatewayFiguresAsync"/>).</summary>
    public RowMeter(Process server, Func<Task>? counting = null)
    {
        _whole = CpuMeter.Start(server);
        CountFrom = DateTime.UtcNow + WarmUp;
        _counted = StartAfterWarmUpAsync(server, counting);
    }

    /// <summary>When the row starts counting events (UTC).</summary>
    public DateTime CountFrom { get; }

    private static async Task<CpuMeter> StartAfterWarmUpAsync(Process server, Func<Task>? counting)
    {
        await Task.Delay(WarmUp);
        var meter = CpuMeter.Start(server);
        if (counting is not null)
        {
            await counting();
        }

        return meter;
    }

    /// <summary>The CPU from <see cref="CountFrom"/> to now, and the server's CPU before it.</summary>
    public async Task<(CpuMeasurement Counted, TimeSpan StartServer)> StopAsync()
    {
        var counted = await _counted;
        var measured = counted.Stop();
        var whole = _whole.Stop();
        return (measured, whole.Server - measured.Server);
    }
}

/// <summary>CPU time of a server process and of this driver over an interval.</summary>
internal sealed class CpuMeter
{
    private readonly Process _server;
    private readonly TimeSpan _server0;
    private readonly TimeSpan _driver0;
    private readonly Stopwatch _wall = Stopwatch.StartNew();

    private CpuMeter(Process server)
    {
        _server = server;
        server.Refresh();
        _server0 = server.TotalProcessorTime;
        _driver0 = Process.GetCurrentProcess().TotalProcessorTime;
    }

    public static CpuMeter Start(Process server) => new(server);

    /// <summary>Waits (at most <paramref name="limit"/>) until <paramref name="server"/> uses under 10% of a core over half a
    /// second: it has settled after the run's sockets connected (the previous run's sessions are already gone: see
    /// <see cref="BenchGateway.WithGatewayFiguresAsync"/>), so neither counts against the run. Returns the server's CPU (% of a core) over the last half second: what it
    /// spends with the run's sockets open and nothing playing, part of every figure of the run.</summary>
    public static async Task<double> WaitQuietAsync(Process server, TimeSpan limit)
    {
        var deadline = Stopwatch.StartNew();
        var percent = double.NaN;
        while (deadline.Elapsed < limit)
        {
            var meter = Start(server);
            await Task.Delay(500);
            var m = meter.Stop();
            percent = m.Server.TotalMilliseconds * 100 / m.Wall.TotalMilliseconds;
            if (percent < 10)
            {
                break;
            }
        }

        return percent;
    }

    public CpuMeasurement Stop()
    {
        _wall.Stop();
        _server.Refresh();
        return new CpuMeasurement(_wall.Elapsed, _server.TotalProcessorTime - _server0, Process.GetCurrentProcess().TotalProcessorTime - _driver0);
    }
}

/// <summary>The delivery rows, and the peers whose run failed, with why: their remaining rows are missing (the summary lists
/// them as missing figures and the benchmark exits 3), and the rows already measured, Tivo's among them, stand. <c>Cold</c>:
/// each server's warm-up, its first plays after it started (as many sessions as the largest row), apart from the rows.</summary>
internal sealed record DeliveryResults(List<DeliveryRow> Rows, List<string> PeerFailures, List<DeliveryRow> Cold);
