using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Tivo.Testing;

/// <summary>
/// A Tivo server (server/Tivo.Server: the gateway with an embedded silo unless settings say otherwise) started as a
/// separate process on free loopback ports, as a user runs it: its CPU, memory and metrics are its own. Runs the
/// build of the caller's configuration (Release for the benchmark and <c>./test.sh</c>).
/// </summary>
public sealed class GatewayProcess : IAsyncDisposable
{
    private readonly TivoProcess _process;

    private GatewayProcess(TivoProcess process) => _process = process;

    public Process Process => _process.Process;

    public int Port => _process.HttpPort;

    public HttpClient Http => _process.Http;

    /// <summary>What the process wrote to stdout and stderr so far (its logs).</summary>
    public string Output => _process.Output;

    public Uri WebSocketUri(string pathAndQuery) => _process.WebSocketUri(pathAndQuery);

    /// <summary>The one-process server built in the configuration of the running assembly (…/bin/{configuration}/net10.0/).</summary>
    public static string GatewayDll => BuiltDll("server", "Tivo.Server");

    /// <summary>A project's program built in the configuration of the running assembly, e.g. ("silo", "Tivo.Silo").</summary>
    public static string BuiltDll(string folder, string project)
    {
        var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = framework.Parent?.Name ?? "Release";
        return Path.Combine(DynaliteServer.RepositoryRoot(), folder, project, "bin", configuration, framework.Name, project + ".dll");
    }

    /// <summary>Starts a server with <paramref name="settings"/> (pairs of <c>--Key value</c>), its embedded store in a
    /// scratch folder, and waits until healthy.</summary>
    public static async Task<GatewayProcess> StartAsync(params string[] settings)
    {
        return new GatewayProcess(await TivoProcess.RetryingPortClashesAsync(() =>
        {
            var folder = Directory.CreateTempSubdirectory("tivo-gateway-").FullName;
            return TivoProcess.StartAsync("the gateway", GatewayDll,
            [
                "--Tivo:Store:Path", Path.Combine(folder, "tivo.db"), "--Tivo:Store:SeedDemoData", "false",
                "--Tivo:Orleans:SiloPort", TestPorts.Free().ToString(CultureInfo.InvariantCulture),
                "--Tivo:Orleans:GatewayPort", TestPorts.Free().ToString(CultureInfo.InvariantCulture),
                .. settings,
            ], folder: folder);
        }));
    }

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

    /// <summary>Waits (at most <paramref name="limit"/>) until the silo has no active session (<c>tivo_sessions_active</c> is 0:
    /// every session ended and was released); returns how many are still active then (0 once all are gone).</summary>
    public async Task<double> WaitNoSessionsAsync(TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        double active;
        while ((active = (await MetricsAsync()).GetValueOrDefault("tivo_sessions_active")) > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(250);
        }

        return active;
    }

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}

