using System.Diagnostics;
using System.Text.Json;
using Tivo.Testing;

namespace Tivo.Bench;

/// <summary>
/// How the benchmark runs the JS clients: at most <see cref="ClientsPerProcess"/> clients in one Node.js process (four processes
/// of 250 measured worse on 2 cores than one of 1,000 — p99 676 vs 111 ms in one run — as five busy processes share two cores
/// with the server; a browser tab would have one client on its own core), started with <see cref="NodeOptions"/>.
/// </summary>
/// <remarks>
/// <see cref="DefaultNodeOptions"/> gives V8 a 128-MB old generation to start with. 1,000 clients in one process keep about
/// 15 MB in its old generation, under the 16 MB of its young one; V8 then starts a full collection whenever the room left
/// is less than a young generation, about every 0.6 s, and each held the releases of every client 10–40 ms while its helper
/// threads took the cores (docs/performance.md, "The JS clients' stalls"). A page's one client has a heap of a few MB.
/// </remarks>
internal sealed record JsClientProcesses(int ClientsPerProcess = JsClientProcesses.DefaultClientsPerProcess, IReadOnlyList<string>? NodeOptions = null)
{
    public const int DefaultClientsPerProcess = 1000;

    public const string DefaultNodeOptions = "--initial-old-space-size=128";

    public IReadOnlyList<string> Options => NodeOptions ?? DefaultNodeOptions.Split(' ');
}

/// <summary>
/// Lead mode measured at the real JavaScript client: bench/peers/lead-clients.mjs runs one <c>TivoClient</c> per session
/// and reports |release − due| as each event reaches its listener, in the Node.js processes <see cref="JsClientProcesses"/>
/// says. The server's CPU is measured here over the same interval (from the play to the last report).
/// </summary>
internal static class LeadClients
{
    /// <summary>Who needs bench/peers' dependency, in the message when it is missing.</summary>
    public const string JsRowNeeds = "The JS client's row (delivery --rows js, and every delivery run with a lead)";

    public static async Task<DeliveryRow> DriveAsync(Uri uri, Process server, int sessions, double speed, int seconds, string play, int lead, JsClientProcesses clients, Func<Task>? counting = null)
    {
        var peers = PeerServer.NodeFolder(JsRowNeeds);
        var processes = new List<Process>();
        try
        {
            Console.WriteLine($"  tivo-lead-js   JS clients: {sessions} in {(sessions + clients.ClientsPerProcess - 1) / clients.ClientsPerProcess} Node.js process(es), {(clients.Options.Count == 0 ? "no options" : string.Join(' ', clients.Options))}");
            for (var left = sessions; left > 0; left -= clients.ClientsPerProcess)
            {
                processes.Add(Start(peers, uri, Math.Min(left, clients.ClientsPerProcess), seconds, play, lead, server.Id, clients.Options));
            }

            foreach (var process in processes)
            {
                var connected = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(2));
                if (connected != "connected")
                {
                    throw new InvalidOperationException($"The JS lead clients did not connect: {connected} {await process.StandardError.ReadToEndAsync()}");
                }
            }

            var idle = await CpuMeter.WaitQuietAsync(server, TimeSpan.FromSeconds(30));
            var meter = new RowMeter(server, counting); // the clients count from the same warm-up after their "go"
            foreach (var process in processes)
            {
                await process.StandardInput.WriteLineAsync("go");
                await process.StandardInput.FlushAsync();
            }

            var reports = (await Task.WhenAll(processes.Select(p => p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(seconds + 60)))))
                .Select(r => JsonSerializer.Deserialize<JsClientsReport>(r ?? throw new InvalidOperationException("A JS lead client process ended without a report."), ReportJson)!)
                .ToList();
            var (measured, startCpu) = await meter.StopAsync();
            var errors = reports.SelectMany(r => r.Errors).ToList();
            var gc = reports.Select(r => r.Gc).Aggregate((a, b) => a + b);
            var late = reports.Select(r => r.Late).Aggregate((a, b) => a + b);

            // The release tail of many clients in one Node.js event loop is mostly its collector's pauses: say how many and how long.
            Console.WriteLine($"  tivo-lead-js   JS clients' garbage collection in the measured window: {gc.Count} pauses, {gc.TotalMs:F0} ms in all, longest {gc.MaxMs:F1} ms; of them {gc.MajorCount} full (mark-compact), {gc.MajorMs:F0} ms");

            // Where the late releases are: spread over the clients, or in stalls of their whole process (docs/performance.md).
            Console.WriteLine($"  tivo-lead-js   JS clients' releases more than 4 ms late: {late.Count:N0} of {errors.Count:N0} ({Percent(late.Count, errors.Count)}); {Percent(late.InStalls, late.Count)} of them in {late.Stalls} {(late.Stalls == 1 ? "stall" : "stalls")} of the whole process (10-ms spans in which a tenth of the releases or more were late), {late.StallsWithGc} of those with a collection of the process starting in them or up to 40 ms before, {late.StallsWithMajor} with a full one from 40 ms before to 40 ms after (the same spans 250 ms later, what chance gives: {late.ShiftedWithGc} and {late.ShiftedWithMajor})");

            // What the clients' event loop was doing in those stalls: running, waiting for a core, or asleep (Linux only).
            if (late.AllCores is { Span: > 0 } whole)
            {
                var inThem = late.Stalls == 0 ? "" : $"in the stalls and the 10 ms before each ({late.Cores?.Span ?? 0:F0} ms): {CoreTime.Describe(late.Cores)}; the same spans 250 ms later: {CoreTime.Describe(late.ShiftedCores)}; ";
                Console.WriteLine($"  tivo-lead-js   JS clients' event loop {inThem}over the whole window: {CoreTime.Describe(whole)}");
            }

            var driver = TimeSpan.FromMilliseconds(reports.Sum(r => r.CpuMs));
            return DeliveryRow.From("tivo-lead-js", sessions, speed, errors, measured with { Driver = driver }) with
            {
                ServerIdlePercent = idle, ServerStartMs = startCpu.TotalMilliseconds,
            };
        }
        finally
        {
            foreach (var process in processes)
            {
                if (!process.HasExited)
                {
                    process.Kill();
                }

                process.Dispose();
            }
        }
    }

    private static readonly JsonSerializerOptions ReportJson = new(JsonSerializerDefaults.Web);

    private static string Percent(int part, int whole) => whole == 0 ? "–" : $"{100.0 * part / whole:F1}%";

    private static Process Start(string peers, Uri uri, int sessions, int seconds, string play, int lead, int serverPid, IReadOnlyList<string> nodeOptions)
    {
        var info = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, WorkingDirectory = peers };
        foreach (var option in nodeOptions)
        {
            info.ArgumentList.Add(option);
        }

        info.ArgumentList.Add(Path.Combine(peers, "lead-clients.mjs"));
        foreach (var (name, value) in new[] { ("--url", uri.ToString()), ("--sessions", $"{sessions}"), ("--seconds", $"{seconds}"), ("--lead", $"{lead}"), ("--warm-up-ms", $"{RowMeter.WarmUp.TotalMilliseconds:0}"), ("--play", play), ("--server-pid", $"{serverPid}") })
        {
            info.ArgumentList.Add(name);
            info.ArgumentList.Add(value);
        }

        return Process.Start(info)!;
    }
}

/// <summary>The one JSON line a JS client process prints at its end (bench/peers/lead-clients.mjs): every error (ms), its
/// CPU, its collections in the measured window, its late releases. A row with several processes adds their reports.</summary>
internal sealed record JsClientsReport(double[] Errors, double CpuMs, JsCollections Gc, JsLateReleases Late);

internal sealed record JsCollections(int Count, double TotalMs, double MaxMs, int MajorCount, double MajorMs)
{
    public static JsCollections operator +(JsCollections a, JsCollections b) =>
        new(a.Count + b.Count, a.TotalMs + b.TotalMs, Math.Max(a.MaxMs, b.MaxMs), a.MajorCount + b.MajorCount, a.MajorMs + b.MajorMs);
}

/// <summary>Releases more than 4 ms late, the stalls they came in, how many stalls had a collection (and the same spans
/// 250 ms later, as a control), and what the event loop's thread did in the stalls, in the control and over the window.</summary>
internal sealed record JsLateReleases(int Count, int InStalls, int Stalls, int StallsWithGc, int ShiftedWithGc, int StallsWithMajor, int ShiftedWithMajor,
    CoreTime? Cores, CoreTime? ShiftedCores, CoreTime? AllCores)
{
    public static JsLateReleases operator +(JsLateReleases a, JsLateReleases b) => new(
        a.Count + b.Count, a.InStalls + b.InStalls, a.Stalls + b.Stalls, a.StallsWithGc + b.StallsWithGc, a.ShiftedWithGc + b.ShiftedWithGc,
        a.StallsWithMajor + b.StallsWithMajor, a.ShiftedWithMajor + b.ShiftedWithMajor,
        CoreTime.Add(a.Cores, b.Cores), CoreTime.Add(a.ShiftedCores, b.ShiftedCores), CoreTime.Add(a.AllCores, b.AllCores));
}

/// <summary>
/// Time of a JS client process's main thread over some spans (ms), from Linux's scheduler statistics: on a core, runnable but
/// waiting for one; and over the same spans the CPU of the process's other threads (the collector's helpers, the sampler),
/// of the server and of the server's collector threads, and the host's steal from the machine's virtual cores. Null where
/// not sampled (not Linux).
/// </summary>
internal sealed record CoreTime(double Span, double Ran, double Waited, double Stolen, double OtherThreads, double Server, double ServerGc)
{
    public static CoreTime? Add(CoreTime? a, CoreTime? b) => a is null ? b : b is null ? a : new(
        a.Span + b.Span, a.Ran + b.Ran, a.Waited + b.Waited, a.Stolen + b.Stolen, a.OtherThreads + b.OtherThreads, a.Server + b.Server, a.ServerGc + b.ServerGc);

    public static string Describe(CoreTime? time) => time is not { Span: > 0 }
        ? "not sampled"
        : $"ran {time.Share(time.Ran)}, waited for a core {time.Share(time.Waited)}, asleep {time.Share(Math.Max(0, time.Span - time.Ran - time.Waited))} (of one core: the process's other threads {time.Share(time.OtherThreads)}, the server {time.Share(time.Server)}, of which its collector's threads {time.Share(time.ServerGc)}, host steal {time.Share(time.Stolen)})";

    private string Share(double ms) => $"{100 * ms / Span:F0}%";
}
