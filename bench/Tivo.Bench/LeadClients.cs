using System.Diagnostics;
using System.Text.Json;
using Tivo.Testing;

namespace Tivo.Bench;

/// <summary>
/// Lead mode measured at the real JavaScript client: bench/peers/lead-clients.mjs runs one <c>TivoClient</c> per session
/// and reports |release − due| as each event reaches its listener. Sessions are spread over Node.js processes of at most
/// <c>clientsPerProcess</c> (<see cref="DefaultClientsPerProcess"/> unless <c>--js-clients-per-process</c> says). (Four processes of 250 measured worse on 2 cores than one of 1,000 — p99 676 vs 111 ms
/// in one run — as five busy processes share two cores with the server; a browser tab would have one client on its own
/// core.) The server's CPU is measured here over the same interval (from the play to the last report).
/// </summary>
internal static class LeadClients
{
    public const int DefaultClientsPerProcess = 1000;

    public static async Task<DeliveryRow> DriveAsync(Uri uri, Process server, int sessions, double speed, int seconds, string play, int lead, int clientsPerProcess = DefaultClientsPerProcess, Func<Task>? counting = null)
    {
        var peers = Path.Combine(DynaliteServer.RepositoryRoot(), "bench", "peers");
        var processes = new List<Process>();
        try
        {
            for (var left = sessions; left > 0; left -= clientsPerProcess)
            {
                processes.Add(Start(peers, uri, Math.Min(left, clientsPerProcess), seconds, play, lead));
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
            var (late, lateInStalls, stalls, stallsWithGc, shiftedWithGc) = (0, 0, 0, 0, 0);
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
            }

            // The release tail of many clients in one Node.js event loop is mostly its collector's pauses: say how many and how long.
            Console.WriteLine($"  tivo-lead-js   JS clients' garbage collection in the measured window: {gcCount} pauses, {gcTotalMs:F0} ms in all, longest {gcMaxMs:F1} ms; of them {majorCount} full (mark-compact), {majorMs:F0} ms");

            // Where the late releases are: spread over the clients, or in stalls of their whole process (docs/performance.md).
            Console.WriteLine($"  tivo-lead-js   JS clients' releases more than 4 ms late: {late:N0} of {errors.Count:N0} ({Percent(late, errors.Count)}); {Percent(lateInStalls, late)} of them in {stalls} {(stalls == 1 ? "stall" : "stalls")} of the whole process (10-ms spans in which a tenth of the releases or more were late), {stallsWithGc} of those with a collection of the process starting in them or up to 40 ms before (the same spans 250 ms later: {shiftedWithGc}, what chance gives)");

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

    private static Process Start(string peers, Uri uri, int sessions, int seconds, string play, int lead)
    {
        var info = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, WorkingDirectory = peers };
        info.ArgumentList.Add(Path.Combine(peers, "lead-clients.mjs"));
        foreach (var (name, value) in new[] { ("--url", uri.ToString()), ("--sessions", $"{sessions}"), ("--seconds", $"{seconds}"), ("--lead", $"{lead}"), ("--warm-up-ms", $"{RowMeter.WarmUp.TotalMilliseconds:0}"), ("--play", play) })
        {
            info.ArgumentList.Add(name);
            info.ArgumentList.Add(value);
        }

        return Process.Start(info)!;
    }
}
