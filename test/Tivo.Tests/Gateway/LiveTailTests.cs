using Tivo.Events;
using System.Globalization;
using System.Net;
using System.Text;
using Tivo.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Tivo.Tests.Gateway;

/// <summary>Playing with no end follows live data: catch-up, switch to real time, ingest arriving, pause and resume.</summary>
public sealed class LiveTailTests(GatewayFixture fixture, ITestOutputHelper output) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task Behind_live_it_catches_up_then_follows_real_time_and_new_events_arrive()
    {
        var now = DateTime.UtcNow;
        var history = Enumerable.Range(0, 40).Select(i => now.AddSeconds(-20 + i * 0.5)).ToList();
        await IngestAsync("live-a", history);

        await using var socket = await TestSocket.ConnectAsync(new Uri(fixture.WsBase, "channels/live-a"));
        await socket.NextAsync("hello");
        await socket.SendAsync($$"""{"action":"play","start":"{{Iso(now.AddSeconds(-20))}}","speed":10}""");
        var state = await socket.NextAsync("state");
        Assert.Equal(JsonNull, state.GetProperty("window").GetProperty("end").ValueKind);
        Assert.InRange(state.GetProperty("behindLive").GetDouble(), 15, 25);

        var received = new List<string>();
        for (var i = 0; i < history.Count; i++)
        {
            received.Add((await socket.NextAsync("event")).GetProperty("ts").GetString()!);
        }

        Assert.Equal(history.Select(Iso), received);

        // Caught up with the present: the session turns to speed 1 and says how far behind live it is.
        System.Text.Json.JsonElement caughtUp;
        do
        {
            caughtUp = await socket.NextAsync("state", TimeSpan.FromSeconds(10));
        }
        while (caughtUp.GetProperty("speed").GetDouble() != 1);
        Assert.InRange(caughtUp.GetProperty("behindLive").GetDouble(), 0, 0.5);

        // An event ingested now reaches the session within a second.
        var fresh = DateTime.UtcNow;
        await IngestAsync("live-a", [fresh]);
        var arrived = await socket.NextAsync("event", TimeSpan.FromSeconds(10));
        var latency = DateTime.UtcNow - fresh;
        output.WriteLine($"ingest → delivery at the live edge: {latency.TotalMilliseconds:F0} ms");
        Assert.Equal(Iso(fresh), arrived.GetProperty("ts").GetString());
        Assert.True(latency < TimeSpan.FromSeconds(1), $"took {latency.TotalMilliseconds:F0} ms");
    }

    [Fact]
    public async Task Pausing_on_live_data_and_resuming_later_plays_everything_missed()
    {
        await IngestAsync("live-b", [DateTime.UtcNow.AddSeconds(-1)]);
        await using var socket = await TestSocket.ConnectAsync(new Uri(fixture.WsBase, "channels/live-b"));
        await socket.NextAsync("hello");
        await socket.SendAsync($$"""{"action":"play","start":"{{Iso(DateTime.UtcNow.AddSeconds(-2))}}","speed":1}""");
        await socket.NextAsync("event");
        await socket.SendAsync("""{"action":"pause"}""");
        Assert.Equal("paused", (await socket.NextAsync("state")).GetProperty("status").GetString());

        var missed = new List<DateTime>();
        for (var i = 0; i < 3; i++)
        {
            missed.Add(DateTime.UtcNow);
            await IngestAsync("live-b", [missed[^1]]);
            await Task.Delay(300); // live data keeps coming while paused
        }

        await socket.SendAsync("""{"action":"resume"}""");
        var resumed = await socket.NextAsync("state");
        Assert.Equal("playing", resumed.GetProperty("status").GetString());
        Assert.True(resumed.GetProperty("behindLive").GetDouble() > 0.5);
        var received = new List<string>();
        for (var i = 0; i < missed.Count; i++)
        {
            received.Add((await socket.NextAsync("event", TimeSpan.FromSeconds(10))).GetProperty("ts").GetString()!);
        }

        Assert.Equal(missed.Select(Iso), received);
    }

    [Fact]
    public async Task An_ingest_through_Tivo_reaches_a_live_session_at_once_not_at_its_next_poll()
    {
        // The poll is set to a minute, so only the channel's notice can bring the event within the 10 s waited here.
        // (Before: live sessions learned of ingests only by polling, 157-236 ms at the default 250 ms.)
        using var directory = new TempDirectory();
        await using var app = await TestHosts.StartGatewayAsync("--Tivo:Store:Path", directory.File("tivo.db"), "--Tivo:Store:SeedDemoData", "false",
            "--Tivo:Playback:LivePollInterval", "00:01:00");
        using var http = new HttpClient { BaseAddress = app.HttpBase() };
        await IngestAsync(http, "live-c", [DateTime.UtcNow.AddSeconds(-1)]);
        await using var socket = await TestSocket.ConnectAsync(new Uri(app.WsBase(), "channels/live-c"));
        await socket.NextAsync("hello");
        await socket.SendAsync($$"""{"action":"play","start":"{{Iso(DateTime.UtcNow.AddSeconds(-2))}}","speed":1}""");
        await socket.NextAsync("event"); // at the live edge now, waiting

        for (var i = 0; i < 3; i++)
        {
            var fresh = DateTime.UtcNow;
            await IngestAsync(http, "live-c", [fresh]);
            var arrived = await socket.NextAsync("event", TimeSpan.FromSeconds(10));
            Assert.Equal(Iso(fresh), arrived.GetProperty("ts").GetString());
            output.WriteLine($"ingest → delivery with a 1-minute poll: {(DateTime.UtcNow - fresh).TotalMilliseconds:F0} ms");
        }

        await app.StopAsync();
    }

    [Fact]
    public async Task Live_play_refuses_options_that_need_an_end()
    {
        await using var socket = await TestSocket.ConnectAsync(new Uri(fixture.WsBase, "channels/taxi"));
        await socket.NextAsync("hello");
        await socket.SendAsync("""{"action":"play","start":"2016-01-15T00:00:00Z","loop":true}""");
        Assert.Contains("need an end", (await socket.NextAsync("error")).GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    private const System.Text.Json.JsonValueKind JsonNull = System.Text.Json.JsonValueKind.Null;

    // Ingest keeps microseconds in the embedded store as ticks; compare with 7-digit precision.
    private static string Iso(DateTime t) => Tivo.Events.TimeUtil.ToIso(t.Ticks);

    private Task IngestAsync(string channel, IEnumerable<DateTime> times) => IngestAsync(fixture.Http, channel, times);

    private static async Task IngestAsync(HttpClient http, string channel, IEnumerable<DateTime> times)
    {
        var body = string.Join('\n', times.Select(t => $"{{\"ts\":\"{t.ToString("O", CultureInfo.InvariantCulture)}\",\"data\":{{\"v\":1}}}}"));
        using var response = await http.PostAsync($"channels/{channel}/events", new StringContent(body, Encoding.UTF8, "application/x-ndjson"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
