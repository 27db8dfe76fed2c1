using System.Diagnostics;
using System.Globalization;
using Tivo.Testing;

namespace Tivo.Bench;

/// <summary>The naive peer (bench/peers/naive-ws-server.mjs) as a separate Node.js process, fed the same events.</summary>
internal sealed class NaivePeer : IAsyncDisposable
{
    private readonly string _folder;

    private NaivePeer(Process process, int port, string folder)
    {
        Process = process;
        Port = port;
        _folder = folder;
    }

    public Process Process { get; }

    public int Port { get; }

    public Uri Uri(string channel) => new($"ws://127.0.0.1:{Port}/?channel={System.Uri.EscapeDataString(channel)}");

    public static async Task<NaivePeer> StartAsync(double[] speeds, int seconds)
    {
        var peers = Path.Combine(DynaliteServer.RepositoryRoot(), "bench", "peers");
        if (!File.Exists(Path.Combine(peers, "node_modules", "ws", "package.json")))
        {
            throw new InvalidOperationException("The naive peer needs its dependency: npm ci --prefix bench/peers");
        }

        var folder = Directory.CreateTempSubdirectory("tivo-bench-naive-").FullName;
        var port = TestPorts.Free();
        var info = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = peers };
        info.ArgumentList.Add(Path.Combine(peers, "naive-ws-server.mjs"));
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
        var ready = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (ready is null || !ready.StartsWith("naive peer listening", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"The naive peer did not start: {ready} {await process.StandardError.ReadToEndAsync()}");
        }

        return new NaivePeer(process, port, folder);
    }

    public async ValueTask DisposeAsync() => await ChildProcess.StopAsync(Process, _folder);
}
