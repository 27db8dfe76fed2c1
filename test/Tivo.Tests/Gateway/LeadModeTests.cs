using System.Text.Json;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>Lead mode (<c>lead</c> on connect or play): batched frames ahead of due, recalls at a cut, plain clients unaffected.</summary>
public sealed class LeadModeTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private const string DayInThreeSeconds = """{"action":"play","start":"2016-01-15T00:00:00Z","end":"2016-01-16T00:00:00Z","duration":3}""";

    private Uri Ws(string pathAndQuery) => new(fixture.WsBase, pathAndQuery);

    /// <summary>Connects, sends <paramref name="play"/> and returns the socket once its ack came.</summary>
    private async Task<TestSocket> PlayingAsync(string pathAndQuery, string play)
    {
        var socket = await TestSocket.ConnectAsync(Ws(pathAndQuery));
        await socket.NextAsync("hello");
        await socket.SendAsync(play);
        await socket.NextAsync("ack");
        return socket;
    }

    private static string NewSession() => "lead-" + Guid.NewGuid().ToString("n")[..10];

    [Fact]
    public async Task A_lead_connection_gets_the_stream_in_batched_frames_ahead_of_due_and_a_plain_one_in_the_same_session_is_unaffected()
    {
        var session = NewSession();
        await using var lead = await TestSocket.ConnectAsync(Ws($"ws?channel=alerts&session={session}&lead=100"));
        await using var plain = await TestSocket.ConnectAsync(Ws($"ws?channel=alerts&session={session}&role=viewer"));
        await lead.NextAsync("hello");
        await plain.NextAsync("hello");
        await lead.SendAsync(DayInThreeSeconds);
        await lead.NextAsync("ack");

        var batches = new List<JsonElement>();
        var fromLead = new List<long>();
        var sawEnded = false;
        while (!sawEnded)
        {
            var batch = await lead.NextAsync("batch");
            batches.Add(batch);
            foreach (var m in batch.GetProperty("messages").EnumerateArray())
            {
                Assert.True(m.TryGetProperty("due", out _), $"every message of a batch carries its due: {m}");
                switch (m.GetProperty("type").GetString())
                {
                    case "event":
                        fromLead.Add(m.GetProperty("seq").GetInt64());
                        break;
                    case "state" when m.GetProperty("status").GetString() == "ended":
                        sawEnded = true;
                        break;
                }
            }
        }

        var fromPlain = new List<long>();
        while ((await plain.NextNonClockAsync()) is var m && !(m.GetProperty("type").GetString() == "state" && m.GetProperty("status").GetString() == "ended"))
        {
            Assert.NotEqual("batch", m.GetProperty("type").GetString());
            if (m.GetProperty("type").GetString() == "event")
            {
                fromPlain.Add(m.GetProperty("seq").GetInt64());
            }
        }

        Assert.True(fromLead.Count > 100, $"the day has events: {fromLead.Count}");
        Assert.Equal(fromPlain, fromLead); // the same stream, every event once, in order
        Assert.True(batches.Count * 3 < fromLead.Count, $"{fromLead.Count} events came in {batches.Count} frames: batched");
        foreach (var batch in batches)
        {
            var now = batch.GetProperty("now").GetDouble();
            var dues = batch.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("due").GetDouble()).ToList();
            Assert.Equal(dues.Order(), dues); // in due order
            Assert.True(dues[^1] - now <= 100 + 1.001, $"nothing leaves more than the lead (+ the release tolerance) ahead of its due: {dues[^1] - now} ms");
        }

        // A frame goes once its earliest message is within a quarter to half the lead of its due, drawn anew for each frame
        // (so the frames of many connections whose dues fall together spread out instead of going in one burst).
        var earliestAhead = batches.Skip(1).Select(b => b.GetProperty("messages")[0].GetProperty("due").GetDouble() - b.GetProperty("now").GetDouble()).ToList();
        Assert.All(earliestAhead, a => Assert.True(a <= 50 + 1.001, $"a frame goes when its earliest is at most half the lead ahead: {a} ms"));
        var sorted = earliestAhead.Order().ToList();
        var quartiles = sorted[sorted.Count * 3 / 4] - sorted[sorted.Count / 4]; // a few late frames do not make a spread
        Assert.True(quartiles >= 5, $"frames go at varying points ahead (quartiles {quartiles:F1} ms apart): {string.Join(", ", earliestAhead.Select(a => a.ToString("F1")))} ms");
    }

    [Fact]
    public async Task With_the_default_lead_each_push_goes_out_as_it_comes_in_one_frame()
    {
        // The JS client's default lead (500 ms): the session ticks every 400 ms (the lead less the 100 ms margin for a
        // push's way to the gateway) and hands on up to the lead, so each push's messages are all within the lead when it
        // comes and go at once, together: about the margin ahead of their due, with no release timer between push and frame.
        await using var socket = await PlayingAsync("ws?channel=alerts&lead=500", DayInThreeSeconds.Replace("\"duration\":3", "\"duration\":4", StringComparison.Ordinal));

        var earliestAhead = new List<double>();
        var events = 0;
        var ended = false;
        while (!ended)
        {
            var batch = await socket.NextAsync("batch");
            var messages = batch.GetProperty("messages");
            earliestAhead.Add(messages[0].GetProperty("due").GetDouble() - batch.GetProperty("now").GetDouble());
            foreach (var m in messages.EnumerateArray())
            {
                events += m.GetProperty("type").GetString() == "event" ? 1 : 0;
                ended |= m.GetProperty("type").GetString() == "state" && m.GetProperty("status").GetString() == "ended";
            }
        }

        var frames = earliestAhead.Count;
        Assert.True(events > 100, $"the day has events: {events}");
        Assert.True(frames <= (4 / 0.4) + 2, $"{events} events in {frames} frames: about one a push (every 400 ms)");
        var later = earliestAhead.Skip(1).Order().ToList(); // the first push hands on the whole lead at once
        Assert.True(later[later.Count / 2] <= 120, $"frames go as their pushes come, the margin ahead of the earliest due (median {later[later.Count / 2]:F1} ms): {string.Join(", ", earliestAhead.Select(a => a.ToString("F1")))} ms");
    }

    [Fact]
    public async Task A_control_recalls_what_a_lead_connection_holds_past_the_cut()
    {
        // lead on play: for this connection, from this play on. A day in 8 s, paused after two frames of events: each frame
        // spans at least half the lead, and a loaded machine merges more, so a 3-s play waiting for five frames sometimes
        // ended first (four frames in all: 1 of 2 full runs of the suite beside two CPU hogs).
        await using var socket = await PlayingAsync("ws?channel=alerts", DayInThreeSeconds.Replace("\"duration\":3", "\"duration\":8,\"lead\":1000", StringComparison.Ordinal));
        var sentAhead = double.MinValue;
        var playingAfter = 0;
        while (playingAfter < 2)
        {
            var batch = await socket.NextAsync("batch");
            var events = batch.GetProperty("messages").EnumerateArray().Where(m => m.GetProperty("type").GetString() == "event").ToList();
            if (events.Count > 0)
            {
                sentAhead = Math.Max(sentAhead, events[^1].GetProperty("due").GetDouble());
                playingAfter++;
            }
        }

        await socket.SendAsync("""{"action":"pause","id":"p"}""");
        var recall = await socket.NextAnyUntilAsync(m => m.GetProperty("type").GetString() == "recall");
        var cut = recall.GetProperty("after").GetDouble();
        Assert.True(cut < sentAhead, $"the cut ({cut}) falls before what was sent ahead ({sentAhead}), so some of it is recalled");

        // After the recall, nothing due after the cut comes; the pause's state is due at the cut.
        while (true)
        {
            var batch = await socket.NextAsync("batch");
            foreach (var m in batch.GetProperty("messages").EnumerateArray())
            {
                Assert.True(m.GetProperty("due").GetDouble() <= cut + 0.001, $"due after the cut: {m}");
                if (m.GetProperty("type").GetString() == "state")
                {
                    Assert.Equal("paused", m.GetProperty("status").GetString());
                    return;
                }
            }
        }
    }

    [Fact]
    public async Task A_lead_viewer_joining_mid_play_gets_the_snapshot_then_the_shared_stream_in_frames_each_event_once()
    {
        var session = NewSession();
        await using var controller = await TestSocket.ConnectAsync(Ws($"ws?channel=alerts&session={session}"));
        await controller.NextAsync("hello");
        await controller.SendAsync(DayInThreeSeconds);
        await controller.NextAsync("event");
        await controller.NextAsync("event");

        await using var viewer = await TestSocket.ConnectAsync(Ws($"ws?channel=alerts&session={session}&role=viewer&lead=500"));
        await viewer.NextAsync("hello");
        var snapshots = 0;
        var seqs = new List<long>();
        var ended = false;
        while (!ended)
        {
            foreach (var m in (await viewer.NextAsync("batch")).GetProperty("messages").EnumerateArray())
            {
                switch (m.GetProperty("type").GetString())
                {
                    case "event" when m.TryGetProperty("snapshot", out _):
                        Assert.Empty(seqs); // the snapshot comes first
                        snapshots++;
                        break;
                    case "event":
                        seqs.Add(m.GetProperty("seq").GetInt64());
                        break;
                    case "state" when m.GetProperty("status").GetString() == "ended":
                        ended = true;
                        break;
                }
            }
        }

        Assert.Equal(1, snapshots); // the channel's last value before the join
        Assert.True(seqs.Count > 50, $"{seqs.Count} events after the join");
        Assert.Equal(Enumerable.Range((int)seqs[0], seqs.Count).Select(i => (long)i), seqs); // consecutive: none lost, none twice
    }

    [Fact]
    public async Task Large_payloads_are_spread_over_frames_of_at_most_a_quarter_mebibyte()
    {
        // 20 events of ~100 KB due within one second: one frame of 2 MB without the bound.
        var payload = new string('x', 100_000);
        var lines = Enumerable.Range(0, 20).Select(i => $$$"""{"ts":"2031-03-01T00:00:{{{i:00}}}Z","data":{"i":{{{i}}},"blob":"{{{payload}}}"}}""");
        using var ingest = await fixture.Http.PostAsync("channels/big-payloads/events",
            new StringContent(string.Join('\n', lines), System.Text.Encoding.UTF8, "application/x-ndjson"));
        Assert.True(ingest.IsSuccessStatusCode, await ingest.Content.ReadAsStringAsync());

        await using var socket = await TestSocket.ConnectAsync(Ws("ws?channel=big-payloads&lead=1000"));
        await socket.NextAsync("hello");
        await socket.SendAsync("""{"action":"play","start":"2031-03-01T00:00:00Z","end":"2031-03-01T00:00:20Z","duration":1}""");
        var received = new List<int>();
        while (received.Count < 20)
        {
            var events = (await socket.NextAsync("batch")).GetProperty("messages").EnumerateArray().Where(m => m.GetProperty("type").GetString() == "event").ToList();
            Assert.True(events.Count <= 3, $"a frame held {events.Count} events of 100 KB");
            received.AddRange(events.Select(e => e.GetProperty("data").GetProperty("i").GetInt32()));
        }

        Assert.Equal(Enumerable.Range(0, 20), received);
    }

    [Theory]
    [InlineData("abc", "lead must be a number of milliseconds")]
    [InlineData("5000", "0 (off) to 1000; got 5000")]
    [InlineData("-1", "0 (off) to 1000; got -1")]
    public async Task A_bad_lead_on_connect_is_refused_before_the_upgrade_naming_it(string lead, string expected)
    {
        // A WebSocket upgrade request by hand, to read the refusal's body (ClientWebSocket only says "400").
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(fixture.HttpBase.Host, fixture.HttpBase.Port);
        var stream = tcp.GetStream();
        var request = $"GET /ws?channel=alerts&lead={lead} HTTP/1.1\r\nHost: {fixture.HttpBase.Authority}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(request));
        var response = new System.Text.StringBuilder();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (!response.ToString().Contains(expected, StringComparison.Ordinal) && await stream.ReadAsync(buffer, timeout.Token) is var n and > 0)
        {
            response.Append(System.Text.Encoding.UTF8.GetString(buffer, 0, n));
        }

        Assert.StartsWith("HTTP/1.1 400", response.ToString(), StringComparison.Ordinal);
        Assert.Contains(expected, response.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1001", "\"lead\" is how many milliseconds ahead")]
    [InlineData("\"100\"", "\"lead\" must be a finite number, not a string")]
    public async Task A_bad_lead_on_play_is_refused_naming_it(string lead, string expected)
    {
        await using var socket = await TestSocket.ConnectAsync(Ws("ws?channel=alerts"));
        await socket.NextAsync("hello");
        await socket.SendAsync($$"""{"action":"play","id":1,"lead":{{lead}}}""");
        var error = await socket.NextAsync("error");
        Assert.Equal("bad_request", error.GetProperty("code").GetString());
        Assert.Contains(expected, error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }
}
