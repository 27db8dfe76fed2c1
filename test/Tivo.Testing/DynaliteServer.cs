using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;

namespace Tivo.Testing;

/// <summary>
/// dynalite, a DynamoDB-compatible server in Node.js, on a free loopback port (./test.sh installs it
/// under test/dynalite). Fails, never skips, when it cannot start.
/// </summary>
public sealed class DynaliteServer : IAsyncDisposable
{
    private Process? _process;

    public int Port { get; private set; }

    public string ServiceUrl => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    public async Task StartNewAsync()
    {
        var cli = Path.Combine(RepositoryRoot(), "test", "dynalite", "node_modules", "dynalite", "cli.js");
        if (!File.Exists(cli))
        {
            throw new InvalidOperationException($"dynalite is not installed ({cli} is missing): run ./test.sh, or npm ci --prefix test/dynalite.");
        }

        Port = TestPorts.Free();
        var start = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])[cli, "--host", "127.0.0.1", "--port", Port.ToString(CultureInfo.InvariantCulture), "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"])
        {
            start.ArgumentList.Add(a);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException("Could not start node for dynalite.");
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", Port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !_process.HasExited)
            {
                await Task.Delay(50);
            }
            catch (SocketException ex)
            {
                throw new InvalidOperationException($"dynalite did not start: {(_process.HasExited ? await _process.StandardError.ReadToEndAsync() : ex.Message)}");
            }
        }
    }

    public async ValueTask DisposeAsync() => await ChildProcess.StopAsync(_process);

    /// <summary>The folder holding Tivo.sln.</summary>
    public static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Tivo.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("Tivo.sln was not found above the test binaries.");
    }
}

