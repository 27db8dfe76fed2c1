using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Tivo.Testing;

namespace Tivo.Bench;

/// <summary>
/// Lead mode measured at the real JavaScript client: bench/peers/lead-clients.mjs runs one <c>TivoClient</c> per session
/// in one Node.js process and reports |release − due| as each event reaches its listener. The server's CPU is measured
/// here over the same interval (from the play to the report).
/// </summary>
internal static class LeadClients
{
    public static async Task<DeliveryRow> DriveAsync(Uri uri, Process server, int sessions, double speed, int seconds, string play, int lead)
    {
        var peers = Path.Combine(DynaliteServer.RepositoryRoot(), "bench", "peers");
        var info = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, WorkingDirectory = peers };
        info.ArgumentList.Add(Path.Combine(peers, "lead-clients.mjs"));
        foreach (var (name, value) in new[] { ("--url", uri.ToString()), ("--sessions", $"{sessions}"), ("--seconds", $"{seconds}"), ("--lead", $"{lead}"), ("--play", play) })
        {
            info.ArgumentList.Add(name);
            info.ArgumentList.Add(value);
        }

        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var connected = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(2));
        if (connected != "connected")
        {
            throw new InvalidOperationException($"The JS lead clients did not connect: {connected} {await stderr}");
        }

        var cpu = CpuMeter.Start(server);
        await process.StandardInput.WriteLineAsync("go");
        await process.StandardInput.FlushAsync();
        var report = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(seconds + 60));
        var measured = cpu.Stop();
        await process.WaitForExitAsync();
        using var json = JsonDocument.Parse(report ?? throw new InvalidOperationException($"The JS lead clients ended without a report: {await stderr}"));
        var r = json.RootElement;
        double Ms(string name) => r.GetProperty(name).ValueKind == JsonValueKind.Number ? r.GetProperty(name).GetDouble() : double.NaN;
        var events = r.GetProperty("events").GetInt32();
        var wall = measured.Wall.TotalSeconds;
        return new DeliveryRow("tivo-lead-js", sessions, speed, events, events / wall, Ms("p50"), Ms("p99"), Ms("max"),
            measured.Server.TotalMilliseconds / 10 / wall, Ms("cpuMs") / 10 / wall, events == 0 ? double.NaN : measured.Server.TotalMilliseconds * 1000 / events);
    }
}
