using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Tivo.Stores.Embedded;
using Tivo.Testing;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>
/// README's two commands run from different folders use one store: the embedded default file does not depend on
/// the working directory. Before: the import wrote ./data/tivo.db and the server read gateway/Tivo.Gateway/data/tivo.db.
/// </summary>
public sealed class DefaultStoreTests
{
    [Fact]
    public void The_default_file_is_absolute_and_under_the_users_data_folder()
    {
        Assert.True(Path.IsPathRooted(EmbeddedStoreOptions.DefaultPath), EmbeddedStoreOptions.DefaultPath);
        Assert.Equal(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "tivo", "tivo.db"), EmbeddedStoreOptions.DefaultPath);
    }

    [Fact]
    public async Task An_import_from_one_folder_is_served_by_a_gateway_started_in_another()
    {
        using var home = new TempDirectory();
        var dataHome = Directory.CreateDirectory(Path.Combine(home.Path, "share")).FullName;
        var importFolder = Directory.CreateDirectory(Path.Combine(home.Path, "repo")).FullName;
        // The server starts where its appsettings.json is, as `dotnet run --project gateway/Tivo.Gateway` does (its
        // content root): a Tivo:Store:Path there once pinned the store to gateway/Tivo.Gateway/data/tivo.db.
        var serverFolder = Path.GetDirectoryName(GatewayProcess.GatewayDll)!;
        Assert.True(File.Exists(Path.Combine(serverFolder, "appsettings.json")));
        await File.WriteAllTextAsync(Path.Combine(importFolder, "trips.csv"), "pickup_time,zone\n2016-01-15T14:32:24Z,JFK\n2016-01-15T14:32:25Z,LGA\n");
        var expectedFile = Path.Combine(dataHome, "tivo", "tivo.db");

        var (code, output) = await RunAsync(importFolder, dataHome, TimeSpan.FromSeconds(60),
            GatewayProcess.BuiltDll("silo", "Tivo.Silo"), "import", "trips.csv", "--channel", "trips", "--time-column", "pickup_time");
        Assert.True(code == 0, output);
        Assert.Contains(expectedFile, output, StringComparison.Ordinal);
        Assert.DoesNotContain("Application started", output, StringComparison.Ordinal); // no host lifecycle lines in a one-shot command

        var port = TestPorts.Free();
        var info = Start(serverFolder, dataHome, GatewayProcess.GatewayDll, "--urls", $"http://127.0.0.1:{port}",
            "--Tivo:Orleans:SiloPort", TestPorts.Free().ToString(CultureInfo.InvariantCulture), "--Tivo:Orleans:GatewayPort", TestPorts.Free().ToString(CultureInfo.InvariantCulture));
        using var gateway = Process.Start(info)!;
        var log = new System.Text.StringBuilder();
        gateway.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        gateway.BeginOutputReadLine();
        gateway.BeginErrorReadLine();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            JsonElement channels = default;
            await Eventually.WaitAsync(async () =>
            {
                try
                {
                    channels = JsonDocument.Parse(await http.GetStringAsync("channels")).RootElement;
                    return true;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, "the gateway answers", TimeSpan.FromSeconds(90));
            var trips = channels.EnumerateArray().Single(c => c.GetProperty("name").GetString() == "trips");
            Assert.Equal(2, trips.GetProperty("count").GetInt64());
            await Eventually.WaitAsync(() => { lock (log) { return log.ToString().Contains(expectedFile, StringComparison.Ordinal); } }, "the gateway names its store file");
        }
        finally
        {
            await ChildProcess.StopAsync(gateway, null);
        }
    }

    private static ProcessStartInfo Start(string folder, string dataHome, string dll, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true };
        info.Environment["XDG_DATA_HOME"] = dataHome; // where .NET's LocalApplicationData points on Linux
        info.Environment["Logging__LogLevel__Default"] = "Information";
        info.ArgumentList.Add(dll);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        return info;
    }

    private static async Task<(int Code, string Output)> RunAsync(string folder, string dataHome, TimeSpan timeout, string dll, params string[] args)
    {
        using var process = Process.Start(Start(folder, dataHome, dll, args))!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync(new CancellationTokenSource(timeout).Token);
        return (process.ExitCode, await output + await error);
    }
}
