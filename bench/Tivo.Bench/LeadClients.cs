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
    public static async Task<DeliveryRow> DriveAsync(Uri uri, Process server, int sessions, double speed, int seconds, string play, int lead, JsClientProcesses clients, Func<Task>? counting = null)
    {
        var peers = Path.Combine(DynaliteServer.RepositoryRoot(), "bench", "peers");
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

            var reports = await Task.WhenAll(processes.Select(p => p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(seconds + 60))));
            var (measured, startCpu) = await meter.StopAsync();
            var errors = new List<double>();
            var clientCpuMs = 0.0;
            var (gcCount, gcTotalMs, gcMaxMs, majorCount, majorMs) = (0, 0.0, 0.0, 0, 0.0);
            var (late, lateInStalls, stalls, stallsWithGc, shiftedWithGc, stallsWithMajor, shiftedWithMajor) = (0, 0, 0, 0, 0, 0, 0);
            var (inStalls, shifted, whole) = (new CoreTime(), new CoreTime(), new CoreTime());
            foreach (var report in reports)
            {
                using var json = JsonDocument.Parse(report ?? throw new InvalidOperationException("A JS lead client process ended without a report."));
                errors.AddRange(json.RootElement.GetProperty("errors").EnumerateArray().Select(e => e.GetDouble()));
                clientCpuMs += json.RootElement.GetProperty("cpuMs").GetDouble();
                var gc = json.RootElement.GetProperty("gc");
                (gcCount, gcTotalMs, gcMaxMs) = (gcCount + gc.GetProperty("count").GetInt32(), gcTotalMs + gc.GetProperty("totalMs").GetDouble(),
                    Math.Max(gcMaxMs, gc.GetProperty("maxMs").GetDouble()));
                (majorCount, majorMs) = (majorCount + gc.GetProperty("majorCount").GetInt32(), majorMs + gc.GetProperty("majorMs").GetDouble());
                var lateJson = json.RootElement.GetProperty("late");
                (late, lateInStalls) = (late + lateJson.GetProperty("count").GetInt32(), lateInStalls + lateJson.GetProperty("inStalls").GetInt32());
                (stalls, stallsWithGc) = (stalls + lateJson.GetProperty("stalls").GetInt32(), stallsWithGc + lateJson.GetProperty("stallsWithGc").GetInt32());
                shiftedWithGc += lateJson.GetProperty("shiftedWithGc").GetInt32();
                (stallsWithMajor, shiftedWithMajor) = (stallsWithMajor + lateJson.GetProperty("stallsWithMajor").GetInt32(), shiftedWithMajor + lateJson.GetProperty("shiftedWithMajor").GetInt32());
                inStalls.Add(lateJson, "cores");
                shifted.Add(lateJson, "shiftedCores");
                whole.Add(lateJson, "allCores");
            }

            // The release tail of many clients in one Node.js event loop is mostly its collector's pauses: say how many and how long.
            Console.WriteLine($"  tivo-lead-js   JS clients' garbage collection in the measured window: {gcCount} pauses, {gcTotalMs:F0} ms in all, longest {gcMaxMs:F1} ms; of them {majorCount} full (mark-compact), {majorMs:F0} ms");

            // Where the late releases are: spread over the clients, or in stalls of their whole process (docs/performance.md).
            Console.WriteLine($"  tivo-lead-js   JS clients' releases more than 4 ms late: {late:N0} of {errors.Count:N0} ({Percent(late, errors.Count)}); {Percent(lateInStalls, late)} of them in {stalls} {(stalls == 1 ? "stall" : "stalls")} of the whole process (10-ms spans in which a tenth of the releases or more were late), {stallsWithGc} of those with a collection of the process starting in them or up to 40 ms before, {stallsWithMajor} with a full one from 40 ms before to 40 ms after (the same spans 250 ms later, what chance gives: {shiftedWithGc} and {shiftedWithMajor})");

            // What the clients' event loop was doing in those stalls: running, waiting for a core, or asleep (Linux only).
            if (whole.SpanMs > 0)
            {
                var inThem = stalls == 0 ? "" : $"in the stalls and the 10 ms before each ({inStalls.SpanMs:F0} ms): {inStalls}; the same spans 250 ms later: {shifted}; ";
                Console.WriteLine($"  tivo-lead-js   JS clients' event loop {inThem}over the whole window: {whole}");
            }

            var driver = TimeSpan.FromMilliseconds(clientCpuMs);
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

/// <summary>
/// Time of a JS client process's main thread over some spans, from Linux's scheduler statistics (bench/peers/lead-clients.mjs):
/// on a core, runnable but waiting for one; and over the same spans the CPU of the process's other threads (the collector's
/// helpers, the sampler), of the server and of the server's collector threads, and the host's steal from the machine's virtual cores.
/// </summary>
internal sealed class CoreTime
{
    public double SpanMs { get; private set; }

    public double RanMs { get; private set; }

    public double WaitedMs { get; private set; }

    public double StolenMs { get; private set; }

    public double OtherThreadsMs { get; private set; }

    public double ServerMs { get; private set; }

    public double ServerGcMs { get; private set; }

    public void Add(JsonElement late, string property)
    {
        if (late.TryGetProperty(property, out var time) && time.ValueKind == JsonValueKind.Object)
        {
            SpanMs += time.GetProperty("span").GetDouble();
            RanMs += time.GetProperty("ran").GetDouble();
            WaitedMs += time.GetProperty("waited").GetDouble();
            StolenMs += time.GetProperty("stolen").GetDouble();
            OtherThreadsMs += time.GetProperty("otherThreads").GetDouble();
            ServerMs += time.GetProperty("server").GetDouble();
            ServerGcMs += time.GetProperty("serverGc").GetDouble();
        }
    }

    public override string ToString() => SpanMs <= 0
        ? "not sampled"
        : $"ran {Share(RanMs)}, waited for a core {Share(WaitedMs)}, asleep {Share(Math.Max(0, SpanMs - RanMs - WaitedMs))} (of one core: the process's other threads {Share(OtherThreadsMs)}, the server {Share(ServerMs)}, of which its collector's threads {Share(ServerGcMs)}, host steal {Share(StolenMs)})";

    private string Share(double ms) => $"{100 * ms / SpanMs:F0}%";
}
