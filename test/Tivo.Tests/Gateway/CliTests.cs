using System.Text.Json;
using Tivo.Cli;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>The <c>tivo</c> command-line client against a real gateway.</summary>
public sealed class CliTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private string Server => fixture.HttpBase.ToString();

    [Fact]
    public async Task Channels_lists_the_demo_channels()
    {
        var (code, output, _) = await RunAsync("channels", "--server", Server);
        Assert.Equal(0, code);
        Assert.Contains("taxi", output, StringComparison.Ordinal);
        Assert.Contains("173,428", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Play_prints_every_event_of_the_window_as_ndjson_then_exits()
    {
        var (code, output, error) = await RunAsync("play", "--server", Server, "--channel", "taxi",
            "--start", "2016-01-15T14:32:24Z", "--end", "2016-01-15T14:33:24Z", "--speed", "60", "--format", "ndjson");
        Assert.True(code == 0, error);
        var events = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.NotEmpty(events);
        Assert.All(events, e => Assert.Equal("taxi", e.GetProperty("channel").GetString()));
        Assert.Equal(Enumerable.Range(1, events.Count).Select(i => (long)i), events.Select(e => e.GetProperty("seq").GetInt64()));
    }

    [Fact]
    public async Task Play_reports_the_servers_refusal()
    {
        var (code, _, error) = await RunAsync("play", "--server", Server, "--channel", "taxi", "--start", "2016-01-15T14:33:24Z", "--end", "2016-01-15T14:32:24Z");
        Assert.Equal(1, code);
        Assert.Contains("bad_request", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Import_sends_a_csv_file_to_the_ingest_route()
    {
        using var directory = new TempDirectory();
        var file = directory.File("readings.csv");
        await File.WriteAllTextAsync(file, "when,meter,kwh\n2031-02-01T00:00:00Z,m1,1.5\n2031-02-01T00:00:01Z,m2,2\n");
        var (code, output, error) = await RunAsync("import", file, "--channel", "cli-import", "--time-column", "when", "--server", Server);
        Assert.True(code == 0, error);
        Assert.Contains("Imported 2 events", output, StringComparison.Ordinal);
        var histogram = JsonDocument.Parse(await fixture.Http.GetStringAsync("channels/cli-import/histogram")).RootElement;
        Assert.Equal(2, histogram.GetProperty("total").GetInt64());
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("play", "--help")]
    [InlineData("import", "--help")]
    [InlineData("channels", "-h")]
    public async Task Help_works_on_every_command(params string[] args)
    {
        // Before: tivo --help exited 1 and tivo import --help was an unknown option.
        var (code, output, _) = await RunAsync(args);
        Assert.Equal(0, code);
        Assert.Contains("Usage:", output, StringComparison.Ordinal);
        Assert.Contains(args[0].StartsWith('-') ? "export <channel>" : $" {args[0]} ", output, StringComparison.Ordinal); // the usage line names the command
        if (args[0] == "import")
        {
            Assert.Contains("--strings", output, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("ndjson")]
    [InlineData("csv")]
    public async Task Export_writes_the_same_rows_as_the_export_route(string format)
    {
        using var directory = new TempDirectory();
        var file = directory.File("taxi." + format);
        var route = await fixture.Http.GetStringAsync($"channels/taxi/events?start=2016-01-15T14:00:00Z&end=2016-01-15T14:10:00Z&format={format}");
        var (code, _, error) = await RunAsync("export", "taxi", "--start", "2016-01-15T14:00:00Z", "--end", "2016-01-15T14:10:00Z", "--format", format, "-o", file, "--server", Server);
        Assert.True(code == 0, error);
        Assert.Equal(route, await File.ReadAllTextAsync(file));
        var rows = route.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length - (format == "csv" ? 1 : 0);
        Assert.Contains($"Exported {rows} rows of 'taxi'", error, StringComparison.Ordinal);

        // Without -o the rows go to standard output, with no progress display around them.
        var (piped, output, _) = await RunAsync("export", "taxi", "--start", "2016-01-15T14:00:00Z", "--end", "2016-01-15T14:10:00Z", "--format", format, "--server", Server);
        Assert.Equal(0, piped);
        Assert.Equal(route, output);
    }

    [Fact]
    public async Task A_channel_named_with_a_slash_imports_and_plays_under_that_name()
    {
        // Before: the import created a channel literally named x%2Fy, and play --channel x/y answered unknown_channel.
        using var directory = new TempDirectory();
        var file = directory.File("slash.csv");
        await File.WriteAllTextAsync(file, "ts,v\n2031-03-01T00:00:00Z,1\n2031-03-01T00:00:01Z,2\n");
        var (imported, _, importError) = await RunAsync("import", file, "--channel", "x/y", "--server", Server);
        Assert.True(imported == 0, importError);
        var (code, output, error) = await RunAsync("play", "--server", Server, "--channel", "x/y", "--start", "2031-03-01T00:00:00Z", "--end", "2031-03-01T00:00:02Z",
            "--speed", "100", "--format", "ndjson");
        Assert.True(code == 0, error);
        var events = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["x/y", "x/y"], events.Select(e => e.GetProperty("channel").GetString()));
    }

    [Theory]
    [InlineData(new[] { "fly" }, "Unrecognized command or argument 'fly'")]
    [InlineData(new[] { "play" }, "Option '--channel' is required")]
    [InlineData(new[] { "play", "--channel", "taxi", "--speed", "fast" }, "Cannot parse argument 'fast' for option '--speed'")]
    [InlineData(new[] { "export", "taxi", "--format", "xml" }, "Argument 'xml' not recognized")]
    [InlineData(new[] { "import", "nope.csv", "--channel", "x" }, "nope.csv' does not exist")]
    [InlineData(new[] { "export", "no-such-channel" }, "unknown_channel: Unknown channel 'no-such-channel'")]
    public async Task Wrong_arguments_explain_themselves(string[] args, string fragment)
    {
        var (code, _, error) = await RunAsync([.. args, "--server", Server]);
        Assert.Equal(1, code);
        Assert.Contains(fragment, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_server_is_reported_with_what_to_do()
    {
        var (code, _, error) = await RunAsync("channels", "--server", $"http://127.0.0.1:{Tivo.Testing.TestPorts.Free()}");
        Assert.Equal(2, code);
        Assert.Contains("cannot reach the Tivo server", error, StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await CliProgram.RunAsync(args, output, error, CancellationToken.None);
        return (code, output.ToString(), error.ToString());
    }
}
