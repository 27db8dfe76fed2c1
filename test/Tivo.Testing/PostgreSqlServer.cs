using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace Tivo.Testing;

/// <summary>
/// A throwaway PostgreSQL cluster on a free loopback port, started from the machine's PostgreSQL
/// binaries (./test.sh installs them). Fails, never skips, when it cannot start. One per test run;
/// each user makes its own database with <see cref="CreateDatabaseAsync"/>. Used by the tests and the benchmark.
/// </summary>
public sealed class PostgreSqlServer : IAsyncDisposable
{
    private string _folder = "";
    private string _bin = "";
    private bool _asPostgresUser;

    public int Port { get; private set; }

    public async Task StartNewAsync()
    {
        _bin = FindBinaries();
        _asPostgresUser = Environment.UserName == "root";
        _folder = Path.Combine(Path.GetTempPath(), "tivo-pg-" + Guid.NewGuid().ToString("n")[..12]);
        Directory.CreateDirectory(_folder);
        if (_asPostgresUser)
        {
            await RunAsync("chown", ["postgres:postgres", _folder], asPostgres: false);
        }

        Port = TestPorts.Free();
        await RunAsync(Path.Combine(_bin, "initdb"), ["-D", Path.Combine(_folder, "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]);
        await RunAsync(Path.Combine(_bin, "pg_ctl"),
        [
            "-D", Path.Combine(_folder, "data"), "-l", Path.Combine(_folder, "log"), "-w", "-t", "60",
            "-o", $"-p {Port} -k {_folder} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200",
            "start",
        ]);
    }

    /// <summary>Creates an empty database and returns a connection string to it.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix)
    {
        var name = $"{prefix}_{Guid.NewGuid():n}"[..Math.Min(prefix.Length + 13, 63)].ToLowerInvariant();
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await command.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    public string ConnectionString(string database) =>
        $"Host=127.0.0.1;Port={Port.ToString(CultureInfo.InvariantCulture)};Database={database};Username=postgres;Pooling=true;Timeout=5;Command Timeout=60";

    /// <summary>Stops the server abruptly (as a crash or a network loss would look).</summary>
    public Task StopAsync() =>
        RunAsync(Path.Combine(_bin, "pg_ctl"), ["-D", Path.Combine(_folder, "data"), "-m", "immediate", "-w", "stop"]);

    /// <summary>Starts the server again on the same port and data; pooled connections to the old process are dropped.</summary>
    public async Task StartAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await RunAsync(Path.Combine(_bin, "pg_ctl"),
        [
            "-D", Path.Combine(_folder, "data"), "-l", Path.Combine(_folder, "log"), "-w", "-t", "60",
            "-o", $"-p {Port} -k {_folder} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200",
            "start",
        ]);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        catch (InvalidOperationException)
        {
        }

        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static string FindBinaries()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("TIVO_PG_BIN");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return fromEnvironment;
        }

        var root = "/usr/lib/postgresql";
        var found = Directory.Exists(root)
            ? Directory.GetDirectories(root).Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "initdb")))
                .OrderByDescending(d => d, StringComparer.Ordinal).FirstOrDefault()
            : null;
        return found ?? throw new InvalidOperationException(
            "PostgreSQL server binaries were not found under /usr/lib/postgresql/*/bin (set TIVO_PG_BIN). ./test.sh installs them with apt-get install postgresql-15.");
    }

    private async Task RunAsync(string file, string[] arguments, bool asPostgres = true)
    {
        var start = new ProcessStartInfo
        {
            FileName = asPostgres && _asPostgresUser ? "runuser" : file,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (asPostgres && _asPostgresUser)
        {
            foreach (var a in (string[])["-u", "postgres", "--", file])
            {
                start.ArgumentList.Add(a);
            }
        }

        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {file}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            var log = File.Exists(Path.Combine(_folder, "log")) ? await File.ReadAllTextAsync(Path.Combine(_folder, "log")) : "";
            throw new InvalidOperationException($"{Path.GetFileName(file)} failed ({process.ExitCode}): {await stderr}{await stdout}\n{log}");
        }
    }
}

