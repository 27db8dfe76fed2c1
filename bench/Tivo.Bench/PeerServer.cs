using System.Diagnostics;
using System.Globalization;
using Tivo.Testing;

namespace Tivo.Bench;

/// <summary>
/// A peer WebSocket server as a separate process, fed the same events as Tivo (an NDJSON file of <c>{ts, data}</c> per
/// channel) and driven by the same driver: the naive Node.js peer (bench/peers/naive-ws-server.mjs, one timer per event)
/// or the floor (<see cref="FloorServer"/>, this benchmark's own <c>floor-peer</c> command: one send per event, nothing else).
/// </summary>
internal sealed class PeerServer : IAsyncDisposable
{
    private readonly string _folder;

    private PeerServer(Process process, int port, string folder)
    {
        Process = process;
        Port = port;
        _folder = folder;
    }

    public Process Process { get; }

    public int Port { get; }

    public Uri Uri(string channel) => new($"ws://127.0.0.1:{Port}/?channel={System.Uri.EscapeDataString(channel)}");

    /// <summary>bench/peers, once its Node.js dependency is installed; else stops with what <paramref name="who"/> needs
    /// and the command that installs it.</summary>
    public static string NodeFolder(string who)
    {
        var peers = Path.Combine(DynaliteServer.RepositoryRoot(), "bench", "peers");
        if (!File.Exists(Path.Combine(peers, "node_modules", "ws", "package.json")))
        {
            throw new InvalidOperationException($"{who} needs bench/peers' dependency (ws), which is not installed: npm ci --prefix bench/peers");
        }

        return peers;
    }

    public static Task<PeerServer> StartNaiveAsync(double[] speeds, int seconds)
    {
        var peers = NodeFolder("The naive peer");
        var info = new ProcessStartInfo("node") { WorkingDirectory = peers };
        info.ArgumentList.Add(Path.Combine(peers, "naive-ws-server.mjs"));
        return StartAsync(info, "naive peer listening", speeds, seconds);
    }

    /// <summary>The floor peer: this benchmark run again as <c>Tivo.Bench floor-peer</c> (through <c>dotnet</c> when that is
    /// how this one runs), Release like the gateway.</summary>
    public static Task<PeerServer> StartFloorAsync(double[] speeds, int seconds)
    {
        var host = Environment.ProcessPath!;
        var info = new ProcessStartInfo(host);
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            info.ArgumentList.Add(typeof(PeerServer).Assembly.Location);
        }

        info.ArgumentList.Add(FloorServer.Command);
        return StartAsync(info, FloorServer.Ready, speeds, seconds);
    }

    private static async Task<PeerServer> StartAsync(ProcessStartInfo info, string ready, double[] speeds, int seconds)
    {
        var folder = Directory.CreateTempSubdirectory("tivo-bench-peer-").FullName;
        var port = TestPorts.Free();
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.ArgumentList.Add("--port");
        info.ArgumentList.Add(port.ToString(CultureInfo.InvariantCulture));
        foreach (var speed in speeds.Distinct())
        {
            var file = Path.Combine(folder, DeliveryBenchmark.Channel(speed) + ".ndjson");
            await File.WriteAllLinesAsync(file, SyntheticEvents.Lines(DeliveryBenchmark.Base, speed / DeliveryBenchmark.Rate, 0, DeliveryBenchmark.EventCount(seconds)));
            info.ArgumentList.Add("--channel");
            info.ArgumentList.Add($"{DeliveryBenchmark.Channel(speed)}={file}");
        }

        var process = Process.Start(info)!;
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (line is null || !line.StartsWith(ready, StringComparison.Ordinal))
        {
            var error = await process.StandardError.ReadToEndAsync();
            await ChildProcess.StopAsync(process, folder);
            throw new InvalidOperationException($"The peer {info.FileName} did not start: {line} {error}");
        }

        return new PeerServer(process, port, folder);
    }

    public async ValueTask DisposeAsync() => await ChildProcess.StopAsync(Process, _folder);
}
