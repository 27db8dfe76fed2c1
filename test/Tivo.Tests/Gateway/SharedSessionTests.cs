using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>Several sockets in one session: identical streams, roles, late joiners, seed-style channels, resume by seq.</summary>
public sealed class SharedSessionTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private Uri Ws(string pathAndQuery) => new(fixture.WsBase, pathAndQuery);

    private static string NewSession() => "shared-" + Guid.NewGuid().ToString("n")[..10];

    [Fact]
    public async Task Every_participant_gets_the_same_events_with_the_same_seq_and_due()
    {
        var session = NewSession();
        await using var a = await TestSocket.ConnectAsync(Ws($"ws?channel=taxi&session={session}"));
        await using var b = await TestSocket.ConnectAsync(Ws($"ws?channel=taxi&session={session}"));
        Assert.Equal(session, (await a.NextAsync("hello")).GetProperty("session").GetString());
        Assert.Equal(session, (await b.NextAsync("hello")).GetProperty("session").GetString());
        await a.SendAsync("""{"action":"play","start":"2016-01-15T18:00:00Z","end":"2016-01-15T18:10:00Z","speed":30}""");

        var fromA = new List<string>();
        var fromB = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            fromA.Add(Key(await a.NextAsync("event")));
            fromB.Add(Key(await b.NextAsync("event")));
        }

        Assert.Equal(fromA, fromB);
    }

    [Fact]
    public async Task The_session_pushes_once_per_gateway_and_the_gateway_fans_out()
    {
        var session = NewSession();
        var sockets = new List<TestSocket>();
        for (var i = 0; i < 3; i++)
        {
            var socket = await TestSocket.ConnectAsync(Ws($"ws?channel=alerts&session={session}"));
            await socket.NextAsync("hello");
            sockets.Add(socket);
        }

        await sockets[0].SendAsync("""{"action":"play","start":"2016-01-15T00:00:00Z","end":"2016-01-16T00:00:00Z","duration":2}""");
        var perSocket = new List<List<string>>();
        foreach (var socket in sockets)
        {
            perSocket.Add([.. (await UntilEndedAsync(socket)).Select(Key)]);
        }

        Assert.True(perSocket[0].Count > 100);
        Assert.Equal(perSocket[0], perSocket[1]);
        Assert.Equal(perSocket[0], perSocket[2]);
        var fanout = fixture.Services.GetRequiredService<Tivo.Gateway.Connections.SessionFanoutRegistry>().Find(session)!;
        Assert.Equal(perSocket[0].Count, fanout.Events); // each event crossed from the grain once, not three times
        foreach (var socket in sockets)
        {
            await socket.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_viewer_watches_but_its_controls_are_forbidden()
    {
        var session = NewSession();
        await using var controller = await TestSocket.ConnectAsync(Ws($"ws?channel=taxi&session={session}"));
        await using var viewer = await TestSocket.ConnectAsync(Ws($"ws?channel=taxi&session={session}&role=viewer"));
        await controller.NextAsync("hello");
        Assert.Equal("viewer", (await viewer.NextAsync("hello")).GetProperty("role").GetString());
        await controller.SendAsync("""{"action":"play","start":"2016-01-15T18:00:00Z","end":"2016-01-15T18:10:00Z","speed":30}""");
        await viewer.NextAsync("event");

        await viewer.SendAsync("""{"action":"pause","id":"v1"}""");
        var error = await viewer.NextAsync("error");
        Assert.Equal("forbidden", error.GetProperty("code").GetString());
        Assert.Equal("v1", error.GetProperty("id").GetString());
        await viewer.SendAsync("""{"action":"status"}""");
        Assert.Equal("playing", (await viewer.NextAsync("state")).GetProperty("status").GetString());
        await viewer.NextAsync("event"); // still watching
    }

    [Fact]
    public async Task A_late_joiner_gets_the_state_the_last_event_per_channel_then_the_stream()
    {
        var session = NewSession();
        await using var first = await TestSocket.ConnectAsync(Ws($"ws?session={session}"));
        await first.NextAsync("hello");
        await first.SendAsync("""{"action":"play","channels":["sensors","taxi"],"start":"2016-01-15T08:00:00Z","end":"2016-01-15T09:00:00Z","speed":20}""");
        for (var i = 0; i < 30; i++)
        {
            await first.NextAsync("event");
        }

        await using var late = await TestSocket.ConnectAsync(Ws($"ws?session={session}&role=viewer"));
        var hello = await late.NextAsync("hello");
        Assert.Equal("playing", hello.GetProperty("state").GetProperty("status").GetString());
        var playhead = hello.GetProperty("state").GetProperty("playhead").GetString()!;

        var snapshot = new List<JsonElement>();
        JsonElement next;
        while (true)
        {
            next = await late.NextAsync("event");
            if (!next.TryGetProperty("snapshot", out var flag) || !flag.GetBoolean())
            {
                break;
            }

            snapshot.Add(next);
        }

        Assert.Equal(["sensors", "taxi"], snapshot.Select(e => e.GetProperty("channel").GetString()).Order());
        Assert.All(snapshot, e => Assert.True(string.CompareOrdinal(e.GetProperty("ts").GetString(), playhead) < 0));
        Assert.All(snapshot, e => Assert.Equal(0, e.GetProperty("seq").GetInt64()));

        // From then on the late joiner's stream is the first participant's stream.
        var seq = next.GetProperty("seq").GetInt64();
        var lateKeys = new List<string> { Key(next) };
        for (var i = 0; i < 10; i++)
        {
            lateKeys.Add(Key(await late.NextAsync("event")));
        }

        var firstKeys = new List<string>();
        while (firstKeys.Count < 11)
        {
            var e = await first.NextAsync("event");
            if (e.GetProperty("seq").GetInt64() >= seq)
            {
                firstKeys.Add(Key(e));
            }
        }

        Assert.Equal(firstKeys, lateKeys);
    }

    [Fact]
    public async Task Connections_for_different_channels_share_one_clock_and_each_gets_its_own()
    {
        var session = NewSession();
        await using var taxi = await TestSocket.ConnectAsync(Ws($"channels/taxi?session={session}"));
        await using var sensors = await TestSocket.ConnectAsync(Ws($"channels/sensors?session={session}"));
        await taxi.NextAsync("hello");
        await sensors.NextAsync("hello");
        // The seed's own message, without channels: the session plays every participant's channel.
        await taxi.SendAsync("""{"action":"play","start":"2016-01-15T14:32:00Z","end":"2016-01-15T14:34:00Z","speed":20,"loop":"False"}""");
        var state = await taxi.NextAsync("state");
        Assert.Equal(["sensors", "taxi"], state.GetProperty("channels").EnumerateArray().Select(c => c.GetString()));

        var taxiEvents = await UntilEndedAsync(taxi);
        var sensorEvents = await UntilEndedAsync(sensors);
        Assert.NotEmpty(taxiEvents);
        Assert.NotEmpty(sensorEvents);
        Assert.All(taxiEvents, e => Assert.Equal("taxi", e.GetProperty("channel").GetString()));
        Assert.All(sensorEvents, e => Assert.Equal("sensors", e.GetProperty("channel").GetString()));

        // One clock: merged by seq, the two streams are in time order and due follows ts exactly.
        var merged = taxiEvents.Concat(sensorEvents).OrderBy(e => e.GetProperty("seq").GetInt64()).ToList();
        var ts = merged.Select(e => DateTime.Parse(e.GetProperty("ts").GetString()!, System.Globalization.CultureInfo.InvariantCulture).ToUniversalTime().Ticks).ToList();
        Assert.Equal(ts.Order(), ts);
        var due0 = merged[0].GetProperty("due").GetDouble();
        for (var i = 1; i < merged.Count; i++)
        {
            // due is epoch ms in a double (resolution 0.00024 ms): compare within 0.001 ms, not by rounding.
            Assert.Equal((ts[i] - ts[0]) / 10_000.0 / 20, merged[i].GetProperty("due").GetDouble() - due0, 0.001);
        }
    }

    [Fact]
    public async Task A_client_that_reconnects_with_its_last_seq_gets_everything_after_it_once()
    {
        var session = NewSession();
        await using var witness = await TestSocket.ConnectAsync(Ws($"ws?channel=trades&session={session}&role=viewer"));
        await witness.NextAsync("hello");
        var client = await TestSocket.ConnectAsync(Ws($"ws?channel=trades&session={session}"));
        await client.NextAsync("hello");
        await client.SendAsync("""{"action":"play","start":"2016-01-14T15:00:00Z","end":"2016-01-14T15:02:00Z","speed":10}""");
        var before = new List<JsonElement>();
        for (var i = 0; i < 15; i++)
        {
            before.Add(await client.NextAsync("event"));
        }

        var lastSeq = before[^1].GetProperty("seq").GetInt64();
        await client.DisposeAsync(); // the connection drops; the session carries on for the witness

        for (var i = 0; i < 25; i++)
        {
            await witness.NextAsync("event"); // time passes: events the dropped client misses
        }

        await using var resumed = await TestSocket.ConnectAsync(Ws($"ws?channel=trades&session={session}&lastSeq={lastSeq}"));
        await resumed.NextAsync("hello");
        var after = await UntilEndedAsync(resumed);
        var all = before.Concat(after).Select(e => e.GetProperty("seq").GetInt64()).ToList();
        Assert.Equal(all.Distinct().Count(), all.Count); // nothing twice
        var witnessed = witness.Received.Where(m => m.GetProperty("type").GetString() == "event").Select(e => e.GetProperty("seq").GetInt64()).ToList();
        witnessed.AddRange((await UntilEndedAsync(witness)).Select(e => e.GetProperty("seq").GetInt64()));
        Assert.Equal(witnessed.Distinct().Order(), all.Order()); // nothing lost
    }

    [Fact]
    public async Task Bad_role_or_last_seq_is_refused_before_the_upgrade()
    {
        using var http = new HttpClient { BaseAddress = fixture.HttpBase };
        foreach (var query in new[] { "role=admin", "lastSeq=-1", "lastSeq=abc" })
        {
            var socket = new ClientWebSocket();
            var error = await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(Ws($"ws?channel=taxi&{query}"), CancellationToken.None));
            Assert.Contains("400", error.Message, StringComparison.Ordinal);
        }
    }

    private static string Key(JsonElement e) =>
        $"{e.GetProperty("seq").GetInt64()}|{e.GetProperty("ts").GetString()}|{e.GetProperty("due").GetDouble():R}|{e.GetProperty("channel").GetString()}";

    private static async Task<List<JsonElement>> UntilEndedAsync(TestSocket socket)
    {
        var events = new List<JsonElement>();
        while (true)
        {
            var message = await socket.NextNonClockAsync(TimeSpan.FromSeconds(30));
            switch (message.GetProperty("type").GetString())
            {
                case "event":
                    events.Add(message);
                    break;
                case "state" when message.GetProperty("status").GetString() == "ended":
                    return events;
            }
        }
    }

    [Fact]
    public async Task State_says_how_many_watch_and_how_many_control()
    {
        var session = NewSession();
        await using var controller = await TestSocket.ConnectAsync(Ws($"ws?channel=taxi&session={session}"));
        await controller.NextAsync("hello");
        await using (var viewer = await TestSocket.ConnectAsync(Ws($"ws?channel=taxi&session={session}&role=viewer")))
        {
            await viewer.NextAsync("hello");
            await viewer.SendAsync("""{"action":"status"}""");
            var participants = (await viewer.NextAsync("state")).GetProperty("participants");
            Assert.Equal(2, participants.GetProperty("total").GetInt32());
            Assert.Equal(1, participants.GetProperty("controllers").GetInt32());
        }

        await Eventually.WaitAsync(async () =>
        {
            await controller.SendAsync("""{"action":"status"}""");
            return (await controller.NextAsync("state")).GetProperty("participants").GetProperty("total").GetInt32() == 1;
        }, "the viewer's leaving is counted");
    }
}
