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
    private readonly string _folder;

    private readonly StringBuilder _output;

    private GatewayProcess(Process process, int port, string folder, StringBuilder output)
    {
        _output = output;
        Process = process;
        Port = port;
        _folder = folder;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
    }

    public Process Process { get; }

    public int Port { get; }

    public HttpClient Http { get; }

    /// <summary>What the process wrote to stdout and stderr so far (its logs).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public Uri WebSocketUri(string pathAndQuery) => new($"ws://127.0.0.1:{Port}/{pathAndQuery}");

    /// <summary>The one-process server built in the configuration of the running assembly (…/bin/{configuration}/net10.0/).</summary>
    public static string GatewayDll => BuiltDll("server", "Tivo.Server");

    /// <summary>A project's program built in the configuration of the running assembly, e.g. ("silo", "Tivo.Silo").</summary>
    public static string BuiltDll(string folder, string project)
    {
        var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = framework.Parent?.Name ?? "Release";
        return Path.Combine(DynaliteServer.RepositoryRoot(), folder, project, "bin", configuration, framework.Name, project + ".dll");
    }

    /// <summary>Starts a gateway with <paramref name="settings"/> (pairs of <c>--Key value</c>) and waits until healthy.</summary>
    public static async Task<GatewayProcess> StartAsync(params string[] settings)
    {
        if (!File.Exists(GatewayDll))
        {
            throw new InvalidOperationException($"Build the gateway first: dotnet build Tivo.sln ({GatewayDll} is missing).");
        }

        var folder = Directory.CreateTempSubdirectory("tivo-gateway-").FullName;
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
                     "--Logging:LogLevel:Default", "Warning",
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
        var gateway = new GatewayProcess(process, port, folder, output);
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

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await ChildProcess.StopAsync(Process, _folder);
    }
}

