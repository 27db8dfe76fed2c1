using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Tivo.Testing;

/// <summary>
/// A Tivo program (a silo, a gateway or the one-process server) run as a process of its own on free loopback ports, as
/// an operator runs it: started with settings, waited for until <c>/healthz</c> answers 200, and stopped gracefully
/// (SIGTERM, as Kubernetes does) or killed (SIGKILL, as a crash).
/// </summary>
public sealed class TivoProcess : IAsyncDisposable
{
    private readonly StringBuilder _output;
    private readonly string _folder;

    private TivoProcess(string name, Process process, int httpPort, string folder, StringBuilder output)
    {
        Name = name;
        Process = process;
        HttpPort = httpPort;
        _folder = folder;
        _output = output;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/") };
    }

    public string Name { get; }

    public Process Process { get; }

    public int HttpPort { get; }

    public HttpClient Http { get; }

    public bool Exited => Process.HasExited;

    /// <summary>What the process wrote so far.</summary>
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

    public Uri WebSocketUri(string pathAndQuery) => new($"ws://127.0.0.1:{HttpPort}/{pathAndQuery}");

    /// <summary>Starts silo/Tivo.Silo with <paramref name="settings"/> (pairs of <c>--Key value</c>).</summary>
    public static Task<TivoProcess> StartSiloAsync(string name, params string[] settings) =>
        StartAsync(name, GatewayProcess.BuiltDll("silo", "Tivo.Silo"), settings);

    /// <summary>Starts gateway/Tivo.Gateway (an Orleans client) with <paramref name="settings"/>.</summary>
    public static Task<TivoProcess> StartGatewayAsync(string name, params string[] settings) =>
        StartAsync(name, GatewayProcess.BuiltDll("gateway", "Tivo.Gateway"), settings);

    /// <summary>Starts <paramref name="dll"/> in <paramref name="folder"/> (a new scratch folder when null; deleted with the
    /// process either way) and waits until <c>/healthz</c> answers.</summary>
    public static async Task<TivoProcess> StartAsync(string name, string dll, IEnumerable<string> settings, TimeSpan? healthyWithin = null, string? folder = null)
    {
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"Build first: dotnet build Tivo.sln ({dll} is missing).");
        }

        folder ??= Directory.CreateTempSubdirectory($"tivo-{name}-").FullName;
        var port = TestPorts.Free();
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { dll, "--urls", $"http://127.0.0.1:{port}", "--Logging:LogLevel:Default", "Warning" }.Concat(settings))
        {
            info.ArgumentList.Add(a);
        }

        var process = Process.Start(info)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var started = new TivoProcess(name, process, port, folder, output);
        try
        {
            await started.WaitHealthyAsync(healthyWithin ?? TimeSpan.FromSeconds(90));
            return started;
        }
        catch
        {
            await started.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts a process with ports chosen by <paramref name="start"/>, again with new ones (up to three times) when
    /// one was taken between choosing it and binding it: free ports come from the ephemeral range, which other processes'
    /// connections (a silo's to PostgreSQL, say) draw from too.</summary>
    public static async Task<T> RetryingPortClashesAsync<T>(Func<Task<T>> start)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await start();
            }
            catch (InvalidOperationException ex) when (attempt < 3 && ex.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
            }
        }
    }

    /// <summary>Waits until <c>/healthz</c> answers 200.</summary>
    public async Task WaitHealthyAsync(TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            if (Process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with {Process.ExitCode}: {Output}");
            }

            try
            {
                using var check = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                using var response = await Http.GetAsync("healthz", check.Token);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{Name} did not become healthy within {within.TotalSeconds} s: {Output}");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>kill -9: the process dies at once, as in a crash or an OOM kill.</summary>
    public async Task KillAsync()
    {
        Process.Kill(entireProcessTree: true);
        await Process.WaitForExitAsync();
    }

    /// <summary>SIGTERM (what Kubernetes sends before stopping a pod), then waits up to <paramref name="within"/> for the exit.</summary>
    public async Task TerminateAsync(TimeSpan within)
    {
        using (var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", Process.Id.ToString(CultureInfo.InvariantCulture)]))!)
        {
            await kill.WaitForExitAsync();
        }

        using var timeout = new CancellationTokenSource(within);
        try
        {
            await Process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{Name} did not exit within {within.TotalSeconds} s of SIGTERM: {Output}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await ChildProcess.StopAsync(Process, _folder);
    }
}
