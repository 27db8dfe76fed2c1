using System.Net;
using System.Text;
using System.Text.Json;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>POST /channels/{channel}/events on the embedded store, then playing what was ingested.</summary>
public sealed class GatewayIngestTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task Ingested_events_are_listed_counted_and_played()
    {
        var body = """
            [
              {"ts": "2030-05-01T10:00:00.5Z", "data": {"v": 1, "tag": "ä"}},
              {"ts": "2030-05-01T10:00:01.25Z", "data": [1, 2, 3]},
              {"ts": 1903860002000, "data": "epoch ms"}
            ]
            """;
        using var response = await fixture.Http.PostAsync("channels/ingested/events", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(3, result.GetProperty("accepted").GetInt32());
        Assert.Equal("2030-05-01T10:00:00.5Z", result.GetProperty("first").GetString());

        // Listed at once (the catalog refreshes after a write through its silo), with the ingested count.
        var listed = JsonDocument.Parse(await fixture.Http.GetStringAsync("channels")).RootElement.EnumerateArray()
            .Single(c => c.GetProperty("name").GetString() == "ingested");
        Assert.Equal(3, listed.GetProperty("count").GetInt64());
        var histogram = JsonDocument.Parse(await fixture.Http.GetStringAsync("channels/ingested/histogram")).RootElement;
        Assert.Equal(3, histogram.GetProperty("total").GetInt64());

        await using var socket = await TestSocket.ConnectAsync(new Uri(fixture.WsBase, "channels/ingested"));
        await socket.SendAsync("""{"action":"play","start":"2030-05-01T10:00:00Z","end":"2030-05-01T10:00:03Z","speed":10}""");
        var first = await socket.NextAsync("event");
        Assert.Equal("2030-05-01T10:00:00.5Z", first.GetProperty("ts").GetString());
        Assert.Equal("ä", first.GetProperty("data").GetProperty("tag").GetString());
        Assert.Equal(3, (await socket.NextAsync("event")).GetProperty("data").GetArrayLength());
        Assert.Equal("epoch ms", (await socket.NextAsync("event")).GetProperty("data").GetString());
    }

    [Fact]
    public async Task A_bad_ndjson_line_is_reported_by_number_and_nothing_is_written()
    {
        var body = "{\"ts\":\"2030-06-01T00:00:00Z\",\"data\":1}\n{\"ts\":\"2030-06-01T00:00:01Z\",\"data\":2}\n{\"ts\":\"not a time\",\"data\":3}\n";
        using var response = await fixture.Http.PostAsync("channels/half/events", new StringContent(body, Encoding.UTF8, "application/x-ndjson"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("bad_request", error.GetProperty("code").GetString());
        Assert.Equal(3, error.GetProperty("line").GetInt32());
        Assert.Contains("Nothing was written", error.GetProperty("message").GetString(), StringComparison.Ordinal);

        // The lookup goes to the store when a name is not in the cached list, so a write would show here.
        using var histogram = await fixture.Http.GetAsync("channels/half/histogram");
        Assert.Equal(HttpStatusCode.NotFound, histogram.StatusCode);
    }

    [Fact]
    public async Task Ingest_into_a_played_window_is_seen_by_the_next_play()
    {
        await PostAsync("fresh", """[{"ts":"2030-07-01T00:00:00.1Z","data":"a"}]""");
        Assert.Equal(["a"], await PlayAllAsync("fresh"));
        await PostAsync("fresh", """[{"ts":"2030-07-01T00:00:00.2Z","data":"b"}]""");
        Assert.Equal(["a", "b"], await PlayAllAsync("fresh")); // the cached chunk was dropped on ingest
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("{\"data\":1}", "\"ts\" is missing")]
    [InlineData("{\"ts\":\"2030-01-01T00:00:00Z\"}", "\"data\" is missing")]
    [InlineData("[1]", "must be an object")]
    [InlineData("[{\"ts\":\"2030-01-01T00:00:00Z\",\"data\":1},", "not valid JSON")]
    public async Task Malformed_bodies_are_refused_with_the_reason(string body, string fragment)
    {
        using var response = await fixture.Http.PostAsync("channels/bad/events", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(fragment, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_oversized_body_is_refused_with_413()
    {
        var huge = new string(' ', 17 * 1024 * 1024);
        using var response = await fixture.Http.PostAsync("channels/big/events", new StringContent(huge, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("too_large", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("code").GetString());
    }

    private async Task PostAsync(string channel, string body)
    {
        using var response = await fixture.Http.PostAsync($"channels/{channel}/events", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private async Task<List<string>> PlayAllAsync(string channel)
    {
        await using var socket = await TestSocket.ConnectAsync(new Uri(fixture.WsBase, "ws"));
        await socket.SendAsync($$"""{"action":"play","channels":["{{channel}}"],"start":"2030-07-01T00:00:00Z","end":"2030-07-01T00:00:01Z","speed":100}""");
        var data = new List<string>();
        while (true)
        {
            var message = await socket.NextNonClockAsync();
            var type = message.GetProperty("type").GetString();
            if (type == "event")
            {
                data.Add(message.GetProperty("data").GetString()!);
            }
            else if (type == "state" && message.GetProperty("status").GetString() == "ended")
            {
                return data;
            }
            else if (type == "error")
            {
                throw new InvalidOperationException(message.ToString());
            }
        }
    }

    [Theory]
    [InlineData("a/b", "a%2Fb")]
    [InlineData("valve ß/2", "valve%20%C3%9F%2F2")]
    [InlineData("100%/x", "100%25%2Fx")]
    public async Task A_channel_name_with_a_slash_is_decoded_once_on_every_route(string name, string segment)
    {
        // Before: POST /channels/a%2Fb/events created a channel literally named "a%2Fb".
        const string Body = """[{"ts":"2031-04-01T00:00:00Z","data":{"n":1}},{"ts":"2031-04-01T00:00:01Z","data":{"n":2}}]""";
        using (var ingest = await fixture.Http.PostAsync($"channels/{segment}/events", new StringContent(Body, Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.OK, ingest.StatusCode);
            Assert.Equal(name, JsonDocument.Parse(await ingest.Content.ReadAsStringAsync()).RootElement.GetProperty("channel").GetString());
        }

        var list = JsonDocument.Parse(await fixture.Http.GetStringAsync("channels")).RootElement;
        Assert.Contains(list.EnumerateArray(), c => c.GetProperty("name").GetString() == name);
        Assert.Equal(name, JsonDocument.Parse(await fixture.Http.GetStringAsync($"channels/{segment}")).RootElement.GetProperty("name").GetString());
        var histogram = JsonDocument.Parse(await fixture.Http.GetStringAsync($"channels/{segment}/histogram")).RootElement;
        Assert.Equal(2, histogram.GetProperty("total").GetInt64());

        await using var socket = await TestSocket.ConnectAsync(new Uri(fixture.WsBase, $"channels/{segment}"));
        var hello = await socket.NextAsync("hello");
        Assert.Equal([name], hello.GetProperty("channels").EnumerateArray().Select(c => c.GetString()));
        await socket.SendAsync("""{"action":"play","start":"2031-04-01T00:00:00Z","end":"2031-04-01T00:00:02Z","speed":10}""");
        Assert.Equal(name, (await socket.NextAsync("event")).GetProperty("channel").GetString());
    }
}
