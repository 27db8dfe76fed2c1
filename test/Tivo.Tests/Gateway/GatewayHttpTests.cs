using Tivo.Events;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Tivo.Stores;
using Tivo.Stores.Embedded;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>The HTTP routes beside the socket, checked against what the store holds.</summary>
public sealed class GatewayHttpTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task Channels_lists_every_demo_channel_with_its_extent_and_count()
    {
        var store = Store();
        var expected = await store.ListChannelsAsync(CancellationToken.None);
        using var response = await fixture.Http.GetAsync("channels");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var channels = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.EnumerateArray().ToList();
        Assert.Equal(["alerts", "sensors", "taxi", "trades"], channels.Select(c => c.GetProperty("name").GetString()));
        foreach (var (json, extent) in channels.Zip(expected))
        {
            Assert.Equal(TimeUtil.ToIso(extent.FirstTicks), json.GetProperty("first").GetString());
            Assert.Equal(TimeUtil.ToIso(extent.LastTicks), json.GetProperty("last").GetString());
            Assert.Equal(extent.Count, json.GetProperty("count").GetInt64());
        }

        // The demo data set spans at least a day on at least three channels.
        Assert.True(channels.Count(c => DateTime.Parse(c.GetProperty("last").GetString()!, System.Globalization.CultureInfo.InvariantCulture)
            - DateTime.Parse(c.GetProperty("first").GetString()!, System.Globalization.CultureInfo.InvariantCulture) >= TimeSpan.FromHours(24)) >= 3);
    }

    [Fact]
    public async Task Histogram_counts_every_event_of_the_window_per_second()
    {
        TimeUtil.TryParseIso("2016-01-15T08:00:00Z", out var from);
        TimeUtil.TryParseIso("2016-01-15T08:10:00Z", out var to);
        var perSecond = new Dictionary<long, int>();
        await foreach (var e in Store().ReadAsync("taxi", from, to, CancellationToken.None))
        {
            var second = TimeUtil.SecondOf(e.Ticks);
            perSecond[second] = perSecond.GetValueOrDefault(second) + 1;
        }

        using var response = await fixture.Http.GetAsync("channels/taxi/histogram?start=2016-01-15T08:00:00Z&end=2016-01-15T08:10:00Z");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(600, body.GetProperty("seconds").GetInt32());
        Assert.Equal(perSecond.Values.Sum(), body.GetProperty("total").GetInt64());
        var bins = body.GetProperty("bins").EnumerateArray()
            .ToDictionary(b => { TimeUtil.TryParseIso(b.GetProperty("t").GetString(), out var t); return TimeUtil.SecondOf(t); }, b => b.GetProperty("count").GetInt32());
        Assert.Equal(perSecond.OrderBy(p => p.Key), bins.OrderBy(p => p.Key));
    }

    [Theory]
    [InlineData("channels/nope/histogram", HttpStatusCode.NotFound, "unknown_channel")]
    [InlineData("channels/taxi/histogram?start=banana", HttpStatusCode.BadRequest, "bad_request")]
    [InlineData("channels/taxi/histogram?start=2016-01-15T09:00:00Z&end=2016-01-15T08:00:00Z", HttpStatusCode.BadRequest, "bad_request")]
    [InlineData("channels/taxi/histogram?start=2015-01-01T00:00:00Z&end=2016-01-15T08:00:00Z", HttpStatusCode.BadRequest, "bad_request")]
    [InlineData("channels/nope", HttpStatusCode.NotFound, "unknown_channel")]
    [InlineData("ws", HttpStatusCode.BadRequest, "bad_request")]
    [InlineData("channels/taxi/histogram?step=abc", HttpStatusCode.BadRequest, "bad_request")] // was an empty 400 from binding
    [InlineData("channels/taxi/histogram?step=0", HttpStatusCode.BadRequest, "bad_request")]
    [InlineData("channels/taxi/histogram?start=12:00:00&end=2016-01-15T00:00:00Z", HttpStatusCode.BadRequest, "bad_request")]
    [InlineData("no/such/route", HttpStatusCode.NotFound, "bad_request")]
    public async Task Http_errors_carry_a_code_and_a_message(string path, HttpStatusCode status, string code)
    {
        using var response = await fixture.Http.GetAsync(path);
        Assert.Equal(status, response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(code, body.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(body.GetProperty("message").GetString()));
    }

    [Fact]
    public async Task Healthz_answers_200_when_the_cluster_serves()
    {
        using var response = await fixture.Http.GetAsync("healthz");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_plain_get_of_a_channel_describes_it()
    {
        using var response = await fixture.Http.GetAsync("channels/taxi");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("taxi", body.GetProperty("name").GetString());
    }

    [Fact]
    public async Task The_http_api_describes_itself_in_an_openapi_document()
    {
        var document = JsonDocument.Parse(await fixture.Http.GetStringAsync("openapi/v1.json")).RootElement;
        Assert.StartsWith("3.", document.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        var paths = document.GetProperty("paths");
        Assert.True(paths.GetProperty("/channels").TryGetProperty("get", out _));
        Assert.True(paths.GetProperty("/channels/{channel}").TryGetProperty("get", out _));
        var histogram = paths.GetProperty("/channels/{channel}/histogram").GetProperty("get");
        Assert.Equal(["channel", "end", "start", "step"], histogram.GetProperty("parameters").EnumerateArray().Select(p => p.GetProperty("name").GetString()).Order());
        var export = paths.GetProperty("/channels/{channel}/events").GetProperty("get");
        Assert.Superset(new HashSet<string?> { "channel", "start", "end", "format", "limit", "after" }, export.GetProperty("parameters").EnumerateArray().Select(p => p.GetProperty("name").GetString()).ToHashSet());
        var ingest = paths.GetProperty("/channels/{channel}/events").GetProperty("post");
        var bodyTypes = ingest.GetProperty("requestBody").GetProperty("content").EnumerateObject().Select(c => c.Name).ToList();
        Assert.Contains("application/json", bodyTypes);
        Assert.Contains("application/x-ndjson", bodyTypes);

        // Every route names its error responses, in the protocol's {code, message} shape.
        foreach (var operation in new[] { histogram, export, ingest })
        {
            var error = operation.GetProperty("responses").GetProperty(operation.GetProperty("responses").TryGetProperty("400", out _) ? "400" : "401");
            var schema = error.GetProperty("content").GetProperty("application/json").GetProperty("schema").GetProperty("$ref").GetString()!;
            var properties = document.GetProperty("components").GetProperty("schemas").GetProperty(schema.Split('/')[^1]).GetProperty("properties");
            Assert.True(properties.TryGetProperty("code", out _), schema);
            Assert.True(properties.TryGetProperty("message", out _), schema);
        }
    }

    private SqliteEventStore Store() =>
        new(Options.Create(new EmbeddedStoreOptions { Path = fixture.StorePath }), NullLogger<SqliteEventStore>.Instance);
}
