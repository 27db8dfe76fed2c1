using System.Net;
using System.Text.Json;
using Tivo.Testing;
using Tivo.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Tivo.Tests.Gateway;

/// <summary>
/// 10,000 generated frames and 1,000 generated HTTP requests (CsCheck, fixed seed) against a live gateway while a
/// neighbour session plays: no <c>internal</c>, no silent close, no 5xx, every HTTP error in the coded shape,
/// the neighbour's every event delivered once and in order, the server healthy. The benchmark's
/// <c>fuzz</c> command runs the same fuzzer for longer.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Generated_frames_and_requests_get_coded_answers_and_hurt_no_neighbour()
    {
        using var directory = new TempDirectory();
        // The command rate limit is raised so that frames reach the parser and the grains instead of rate_limited.
        await using var app = await TestHosts.StartGatewayAsync("--Tivo:Store:Path", directory.File("tivo.db"), "--Tivo:Gateway:MaxMessageBytes", "4096",
            "--Tivo:Gateway:CommandsPerSecond", "100000", "--Tivo:Gateway:CommandBurst", "100000", "--Logging:LogLevel:Default", "Error");
        using var http = new HttpClient { BaseAddress = app.HttpBase() };
        var histogram = JsonDocument.Parse(await http.GetStringAsync("channels/sensors/histogram?start=2016-01-15T12:00:00Z&end=2016-01-15T13:00:00Z")).RootElement;
        var expected = histogram.GetProperty("total").GetInt64();
        Assert.True(expected > 100, "the demo data has sensor readings in the neighbour's window");

        await using var neighbour = await TestSocket.ConnectAsync(new Uri(app.WsBase(), "channels/sensors"));
        await neighbour.SendAsync("""{"action":"play","start":"2016-01-15T12:00:00Z","end":"2016-01-15T13:00:00Z","duration":20}""");

        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var report = await ProtocolFuzzer.RunAsync(app.HttpBase(), frames: 10_000, requests: 1_000, sockets: 8, seed: 20161215, cancel.Token);
        output.WriteLine(report.ToString());

        Assert.Equal(0, report.Internal);
        Assert.Equal(0, report.Unanswered);
        Assert.Equal(0, report.SilentCloses);
        Assert.Equal(0, report.ServerErrors);
        Assert.Equal(0, report.ErrorsWithoutBody);
        Assert.True(report.ErrorCodes.GetValueOrDefault("bad_request") > 1_000, report.ToString()); // the frames reached the parser

        var seqs = new List<long>();
        while (true)
        {
            var message = await neighbour.NextNonClockAsync(TimeSpan.FromSeconds(60));
            var type = message.GetProperty("type").GetString();
            if (type == "event")
            {
                seqs.Add(message.GetProperty("seq").GetInt64());
            }
            else if (type == "state" && message.GetProperty("status").GetString() == "ended")
            {
                break;
            }
        }

        Assert.Equal(Enumerable.Range(1, (int)expected).Select(i => (long)i), seqs);
        using var health = await http.GetAsync("healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        await app.StopAsync();
    }
}
