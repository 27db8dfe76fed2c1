using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Text;
using Microsoft.Diagnostics.NETCore.Client;
using Tivo.Testing;

namespace Tivo.Bench;

/// <summary>
/// A Tivo gateway (embedded mode unless settings say otherwise, Release build) started as a separate
/// process on free loopback ports, so its CPU and memory are its own. Reads its <c>/metrics</c>.
/// </summary>
internal sealed class GatewayProcess : IAsyncDisposable
{
    private readonly string _folder;

    private GatewayProcess(Process process, int port, string folder)
    {
        Process = process;
        Port = port;
        _folder = folder;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
    }

    public Process Process { get; }

    public int Port { get; }

    public HttpClient Http { get; }

    public Uri WebSocketUri(string pathAndQuery) => new($"ws://127.0.0.1:{Port}/{pathAndQuery}");

    public static string GatewayDll => Path.Combine(DynaliteServer.RepositoryRoot(), "gateway", "Tivo.Gateway", "bin", "Release", "net10.0", "Tivo.Gateway.dll");

    /// <summary>Starts a gateway with <paramref name="settings"/> (pairs of <c>--Key value</c>) and waits until healthy.</summary>
    public static async Task<GatewayProcess> StartAsync(params string[] settings)
    {
        if (!File.Exists(GatewayDll))
        {
            throw new InvalidOperationException($"Build the gateway first: dotnet build -c Release gateway/Tivo.Gateway ({GatewayDll} is missing).");
        }

        var folder = Directory.CreateTempSubdirectory("tivo-bench-").FullName;
        var port = TestPorts.Free();
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[]
                 {
                     GatewayDll, "--urls", $"http://127.0.0.1:{port}", "--Tivo:Store:Path", Path.Combine(folder, "tivo.db"), "--Tivo:Store:SeedDemoData", "false",
                     "--Tivo:Orleans:SiloPort", TestPorts.Free().ToString(CultureInfo.InvariantCulture),
                     "--Tivo:Orleans:GatewayPort", TestPorts.Free().ToString(CultureInfo.InvariantCulture),
                     "--Tivo:Gateway:SendQueueLimit", "200000", "--Logging:LogLevel:Default", "Warning",
                 }.Concat(settings))
        {
            info.ArgumentList.Add(a);
        }

        var process = Process.Start(info)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var gateway = new GatewayProcess(process, port, folder);
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"The gateway exited with {process.ExitCode}: {output}");
            }

            try
            {
                using var response = await gateway.Http.GetAsync("healthz");
                if (response.IsSuccessStatusCode)
                {
                    return gateway;
                }
            }
            catch (HttpRequestException)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The gateway did not become healthy within 90 s: {output}");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>Posts events <c>start + i × interval</c> for i in [0, count) as NDJSON.</summary>
    public Task IngestAsync(string channel, DateTime start, double intervalSeconds, int count) =>
        IngestLinesAsync(channel, SyntheticEvents.Lines(start, intervalSeconds, 0, count), 50_000);

    /// <summary>Posts NDJSON lines of <c>{"ts","data"}</c>, <paramref name="perRequest"/> at a time
    /// (keep each request under the gateway's 16 MiB ingest limit).</summary>
    public async Task IngestLinesAsync(string channel, IEnumerable<string> lines, int perRequest)
    {
        foreach (var batch in lines.Chunk(perRequest))
        {
            using var response = await Http.PostAsync($"channels/{Uri.EscapeDataString(channel)}/events",
                new StringContent(string.Join('\n', batch), Encoding.UTF8, "application/x-ndjson"));
            response.EnsureSuccessStatusCode();
        }
    }

    /// <summary>The gateway's metrics, summed over labels: name → value.</summary>
    public async Task<Dictionary<string, double>> MetricsAsync() => PrometheusText.Parse(await Http.GetStringAsync("metrics"));

    /// <summary>Induces a full blocking GC in the gateway (through the runtime's diagnostics port, as
    /// dotnet-gcdump does) and returns the managed heap size after it, from the runtime's own metric.</summary>
    public async Task<long> HeapAfterFullGcAsync()
    {
        var before = (await MetricsAsync()).GetValueOrDefault("dotnet_gc_collections_total");
        var client = new DiagnosticsClient(Process.Id);
        const long GcHeapCollectKeyword = 0x800000;
        using (var session = client.StartEventPipeSession(
                   [new EventPipeProvider("Microsoft-Windows-DotNETRuntime", EventLevel.Informational, GcHeapCollectKeyword | 0x1 /* GC */)], requestRundown: false))
        {
            var drain = session.EventStream.CopyToAsync(Stream.Null);
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while ((await MetricsAsync()).GetValueOrDefault("dotnet_gc_collections_total") <= before && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }

            await session.StopAsync(CancellationToken.None);
            await drain;
        }

        await Task.Delay(100);
        return (long)(await MetricsAsync()).GetValueOrDefault("dotnet_gc_last_collection_heap_size_bytes");
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
            await Process.WaitForExitAsync();
        }

        Process.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>The benchmark's events: one every <c>interval</c> seconds from a start, with a small payload.
/// The same lines feed Tivo (ingest), the naive peer (a file) and NATS (published messages).</summary>
internal static class SyntheticEvents
{
    public static IEnumerable<string> Lines(DateTime start, double intervalSeconds, int from, int to)
    {
        for (var i = from; i < to; i++)
        {
            yield return $$$"""{"ts":"{{{Ts(start, intervalSeconds, i)}}}","data":{"i":{{{i}}},"v":{{{i * 7 % 1000}}},"kind":"{{{Kinds[i % Kinds.Length]}}}"}}""";
        }
    }

    public static string Ts(DateTime start, double intervalSeconds, int i) =>
        start.AddTicks((long)Math.Round(i * intervalSeconds * TimeSpan.TicksPerSecond)).ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    private static readonly string[] Kinds = ["pickup", "dropoff", "idle", "alert"];
}
