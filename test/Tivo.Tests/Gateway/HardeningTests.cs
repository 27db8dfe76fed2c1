using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>
/// A client that means harm, or is careless: the probes of the hardening issue, each answered with its coded
/// error, none touching another session. Over real Kestrel sockets against the embedded demo data.
/// </summary>
public sealed class HardeningTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private const string Window = "\"start\":\"2016-01-15T14:00:00Z\",\"end\":\"2016-01-15T15:00:00Z\"";

    [Theory]
    [InlineData("""{"action":"play","start":"2016-01-15T14:32:24Z","end":"2016-01-15T14:33:24Z","rate":5e-324}""")]
    [InlineData("""{"action":"play","start":"2016-01-15T14:32:24Z","end":"2016-01-15T14:33:24Z","loop":true,"duration":0.01}""")]
    [InlineData("""{"action":"play","start":"2006-01-15T14:32:24Z","end":"2016-01-15T14:33:24Z","rate":1}""")]
    [InlineData("""{"action":"speed","speed":50000}""")]
    public async Task A_refused_control_changes_nothing_and_playback_carries_on(string hostile)
    {
        await using var socket = await TestSocket.ConnectAsync(new Uri(fixture.WsBase, "channels/taxi"));
        await socket.SendAsync($$"""{"action":"play",{{Window}},"speed":30,"loop":true}""");
        var before = await socket.NextAsync("state");
        var first = (await socket.NextAsync("event")).GetProperty("seq").GetInt64();

        await socket.SendAsync(hostile);
        var error = await socket.NextAsync("error");
        Assert.Equal("bad_request", error.GetProperty("code").GetString());

        await socket.SendAsync("""{"action":"status"}""");
        var after = await socket.NextAsync("state");
        Assert.Equal("playing", after.GetProperty("status").GetString());
        Assert.Equal(before.GetProperty("window").GetRawText(), after.GetProperty("window").GetRawText());
        Assert.Equal(30, after.GetProperty("speed").GetDouble());
        Assert.True(after.GetProperty("loop").GetBoolean());
        var next = (await socket.NextAsync("event")).GetProperty("seq").GetInt64();
        Assert.True(next > first, "events keep flowing after the refusal");
    }

    [Fact]
    public async Task A_status_flood_that_never_reads_is_rate_limited_then_closed_with_1008()
    {
        await using var neighbour = await TestSocket.ConnectAsync(new Uri(fixture.WsBase, "channels/taxi"));
        await neighbour.SendAsync($$"""{"action":"play",{{Window}},"speed":30}""");
        await neighbour.NextAsync("event");

        using var flood = new ClientWebSocket();
        await flood.ConnectAsync(new Uri(fixture.WsBase, "channels/taxi"), CancellationToken.None);
        var status = Encoding.UTF8.GetBytes("""{"action":"status"}""");
        var sent = 0;
        using (var sending = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            try
            {
                for (; sent < 5_000; sent++)
                {
                    await flood.SendAsync(status, WebSocketMessageType.Text, true, sending.Token);
                }
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
                // The server stopped reading once it decided to close: the client's sends back up. That is the point.
            }
        }

        var (types, codes, _, close) = await RawSocket.DrainAsync(flood);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, close);
        Assert.Contains("rate_limited", codes);
        Assert.True(types.Count(t => t == "state") <= 400, $"{types.Count(t => t == "state")} status replies were answered; the bucket allows about 100 plus the refill");
        Assert.Equal("error", types[^1]);

        // The neighbour did not notice.
        var seqs = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            seqs.Add((await neighbour.NextAsync("event")).GetProperty("seq").GetInt64());
        }

        Assert.Equal(seqs.Order(), seqs);
    }

    [Fact]
    public async Task Invalid_utf8_closes_with_1007()
    {
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri(fixture.WsBase, "channels/taxi"), CancellationToken.None);
        await socket.SendAsync(new byte[] { 0x7B, 0xFF, 0xFE, 0x7D }, WebSocketMessageType.Text, true, CancellationToken.None);
        var (types, _, _, close) = await RawSocket.DrainAsync(socket);
        Assert.Equal("hello", types[0]);
        Assert.Equal(WebSocketCloseStatus.InvalidPayloadData, close);
    }

    [Fact]
    public async Task Pages_from_other_sites_may_not_open_sockets_or_ingest()
    {
        var origin = fixture.HttpBase.GetLeftPart(UriPartial.Authority);
        using var evil = new ClientWebSocket();
        evil.Options.SetRequestHeader("Origin", "http://evil.example");
        evil.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => evil.ConnectAsync(new Uri(fixture.WsBase, "channels/taxi"), CancellationToken.None));
        Assert.Equal(HttpStatusCode.Forbidden, evil.HttpStatusCode);

        // The gateway's own pages (same origin) and clients that send no Origin are served.
        using var own = new ClientWebSocket();
        own.Options.SetRequestHeader("Origin", origin);
        await own.ConnectAsync(new Uri(fixture.WsBase, "channels/taxi"), CancellationToken.None);
        Assert.Equal(WebSocketState.Open, own.State);
        await own.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);

        const string Forged = """[{"ts":"2016-01-15T00:00:00Z","data":{"forged":true}}]""";
        // A cross-site form or text/plain POST (what a page can send without a CORS preflight) is refused for its
        // media type; a JSON POST from a page of another origin for that origin.
        foreach (var (type, status, says) in new[] { ("text/plain", HttpStatusCode.UnsupportedMediaType, "application/x-ndjson"), ("application/json", HttpStatusCode.Forbidden, "Tivo:Gateway:AllowedOrigins") })
        {
            using var csrf = new HttpRequestMessage(HttpMethod.Post, "channels/forged/events") { Content = new StringContent(Forged, Encoding.UTF8, type) };
            csrf.Headers.Add("Origin", "http://evil.example");
            using var response = await fixture.Http.SendAsync(csrf);
            Assert.Equal(status, response.StatusCode);
            Assert.Contains(says, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var plain = await fixture.Http.PostAsync("channels/forged/events", new StringContent(Forged, Encoding.UTF8, "text/plain")))
        {
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, plain.StatusCode);
            Assert.Contains("application/x-ndjson", await plain.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var form = await fixture.Http.PostAsync("channels/forged/events", new FormUrlEncodedContent([new("ts", "x")])))
        {
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, form.StatusCode);
        }

        using (var channel = await fixture.Http.GetAsync("channels/forged"))
        {
            Assert.Equal(HttpStatusCode.NotFound, channel.StatusCode); // nothing was stored
        }
    }

    [Fact]
    public async Task Allowed_origins_widen_who_may_connect()
    {
        using var directory = new TempDirectory();
        await using var app = await TestHosts.StartGatewayAsync("--Tivo:Store:Path", directory.File("tivo.db"), "--Tivo:Store:SeedDemoData", "false",
            "--Tivo:Gateway:AllowedOrigins:0", "https://viz.example.com");
        using var allowed = new ClientWebSocket();
        allowed.Options.SetRequestHeader("Origin", "https://viz.example.com");
        await allowed.ConnectAsync(new Uri(app.WsBase(), "ws"), CancellationToken.None);
        Assert.Equal(WebSocketState.Open, allowed.State);
        await allowed.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);

        using var other = new ClientWebSocket();
        other.Options.SetRequestHeader("Origin", "https://other.example.com");
        await Assert.ThrowsAsync<WebSocketException>(() => other.ConnectAsync(new Uri(app.WsBase(), "ws"), CancellationToken.None));
        await app.StopAsync();
    }

    [Fact]
    public async Task An_ingest_spanning_every_representable_year_is_stored_at_once()
    {
        // Found by the fuzzer: the cache invalidation walked every chunk between the two events (3e10 of them).
        const string Body = """[{"ts":"0001-01-01T00:00:00Z","data":{"n":1}},{"ts":"9999-12-31T23:59:59.9999999Z","data":{"n":2}}]""";
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var response = await fixture.Http.PostAsync("channels/ages/events", new StringContent(Body, Encoding.UTF8, "application/json"), timeout.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var channel = JsonDocument.Parse(await fixture.Http.GetStringAsync("channels/ages")).RootElement;
        Assert.Equal("0001-01-01T00:00:00Z", channel.GetProperty("first").GetString());
        Assert.Equal("9999-12-31T23:59:59.9999999Z", channel.GetProperty("last").GetString());
        Assert.Equal(2, channel.GetProperty("count").GetInt64());
    }

    [Fact]
    public async Task A_histogram_reaching_the_last_representable_second_is_answered()
    {
        using var response = await fixture.Http.GetAsync("channels/taxi/histogram?start=9999-12-31T00:00:00Z&end=9999-12-31T23:59:59.9999999Z");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("9999-12-31T23:59:59Z", body.GetProperty("end").GetString());
        Assert.Equal(0, body.GetProperty("total").GetInt64());
    }

    [Theory]
    [InlineData("""[{"ts":"\ud800","data":1}]""", "lone UTF-16 surrogate")]
    [InlineData("""[{"ts":"2016-01-15T00:00:00Z","data":{"k":"\udfff"}}]""", "lone UTF-16 surrogate")]
    [InlineData("""[{"ts":"12:00:00","data":1}]""", "is not an ISO-8601 time")]
    [InlineData("""[{"ts":"2016-01-15T00:00:00","data":1}]""", "is not an ISO-8601 time")]
    public async Task Ingest_refuses_hostile_strings_and_times_without_an_offset(string body, string fragment)
    {
        using var response = await fixture.Http.PostAsync("channels/hostile/events", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(fragment, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var channel = await fixture.Http.GetAsync("channels/hostile");
        Assert.Equal(HttpStatusCode.NotFound, channel.StatusCode);
    }
}
