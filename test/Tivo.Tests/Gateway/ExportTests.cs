using Tivo.Events;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Tivo.Stores;
using Tivo.Stores.Embedded;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>GET /channels/{channel}/events: the store's rows, streamed as NDJSON or CSV, paged by a cursor.</summary>
public sealed class ExportTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private const string Start = "2032-01-01T00:00:00Z";
    private const string End = "2032-01-01T01:00:00Z";

    [Fact]
    public async Task The_export_returns_exactly_the_stored_rows_in_order()
    {
        var channel = await IngestAsync("export-exact");
        var stored = await fixture.ReadStoreAsync(channel, Start, End);
        using var response = await fixture.Http.GetAsync($"channels/{channel}/events?start={Start}&end={End}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType?.MediaType);
        var rows = Lines(await response.Content.ReadAsStringAsync());
        Assert.Equal(stored.Count, rows.Count);
        for (var i = 0; i < rows.Count; i++)
        {
            Assert.Equal(TimeUtil.ToIso(stored[i].Ticks), rows[i].GetProperty("ts").GetString());
            Assert.Equal(JsonDocument.Parse(stored[i].Data).RootElement.GetRawText(), rows[i].GetProperty("data").GetRawText());
        }

        // Without start and end: the channel's whole extent.
        Assert.Equal(stored.Count, Lines(await fixture.Http.GetStringAsync($"channels/{channel}/events")).Count);
    }

    [Fact]
    public async Task Pages_joined_by_their_cursors_are_the_whole_export_even_across_equal_times()
    {
        var channel = await IngestAsync("export-pages");
        var whole = Lines(await fixture.Http.GetStringAsync($"channels/{channel}/events")).Select(r => r.GetRawText()).ToList();
        var pages = new List<string>();
        string? cursor = null;
        var tiesAtCursor = 0;
        while (true)
        {
            var page = Lines(await fixture.Http.GetStringAsync($"channels/{channel}/events?limit=97{(cursor is null ? "" : "&after=" + Uri.EscapeDataString($"{cursor}~{tiesAtCursor}"))}"));
            pages.AddRange(page.Select(r => r.GetRawText()));
            if (page.Count < 97)
            {
                break;
            }

            var last = page[^1].GetProperty("ts").GetString()!;
            var atLast = page.Count(r => r.GetProperty("ts").GetString() == last);
            tiesAtCursor = last == cursor && atLast == page.Count ? tiesAtCursor + atLast : atLast;
            cursor = last;
        }

        Assert.Equal(whole, pages);
    }

    [Fact]
    public async Task Csv_flattens_the_payload_one_level_under_a_header_from_the_first_rows()
    {
        const string Body = """
            {"ts":"2032-02-01T00:00:00Z","data":{"zone":"JFK","fare":13.05,"tags":["a","b"],"note":"say \"hi\", twice"}}
            {"ts":"2032-02-01T00:00:01.5Z","data":{"zone":"LGA","fare":9,"ok":true}}
            """;
        using (var ingest = await fixture.Http.PostAsync("channels/export-csv/events", new StringContent(Body, Encoding.UTF8, "application/x-ndjson")))
        {
            Assert.Equal(HttpStatusCode.OK, ingest.StatusCode);
        }

        using var response = await fixture.Http.GetAsync("channels/export-csv/events?format=csv");
        Assert.Equal("text/csv", response.Content.Headers.ContentType?.MediaType);
        var lines = (await response.Content.ReadAsStringAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("ts,zone,fare,tags,note,ok", lines[0]);
        Assert.Equal("2032-02-01T00:00:00Z,JFK,13.05,\"[\"\"a\"\",\"\"b\"\"]\",\"say \"\"hi\"\", twice\",", lines[1]);
        Assert.Equal("2032-02-01T00:00:01.5Z,LGA,9,,,true", lines[2]);
        Assert.Equal(3, lines.Length);
    }

    [Theory]
    [InlineData("channels/no-such-channel/events", HttpStatusCode.NotFound, "unknown_channel")]
    [InlineData("channels/taxi/events?limit=0", HttpStatusCode.BadRequest, "bad_request")]
    [InlineData("channels/taxi/events?limit=ten", HttpStatusCode.BadRequest, "bad_request")]
    [InlineData("channels/taxi/events?after=yesterday", HttpStatusCode.BadRequest, "bad_request")]
    [InlineData("channels/taxi/events?format=xml", HttpStatusCode.BadRequest, "bad_request")]
    [InlineData("channels/taxi/events?start=2016-01-15T15:00:00Z&end=2016-01-15T14:00:00Z", HttpStatusCode.BadRequest, "bad_request")]
    [InlineData("channels/taxi/events?start=12:00:00", HttpStatusCode.BadRequest, "bad_request")]
    public async Task Bad_ranges_get_the_same_coded_errors_as_playback(string path, HttpStatusCode status, string code)
    {
        using var response = await fixture.Http.GetAsync(path);
        Assert.Equal(status, response.StatusCode);
        Assert.Equal(code, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("code").GetString());
    }

    /// <summary>2,500 events over an hour with runs of equal times, ingested through Tivo.</summary>
    private async Task<string> IngestAsync(string channel)
    {
        var start = DateTime.Parse(Start, null, System.Globalization.DateTimeStyles.AdjustToUniversal);
        var lines = Enumerable.Range(0, 2500).Select(i => JsonSerializer.Serialize(new
        {
            ts = start.AddMilliseconds(i / 3 * 1000.25).ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", System.Globalization.CultureInfo.InvariantCulture),
            data = new { i, label = $"row \"{i}\", ok", nested = new { even = i % 2 == 0 } },
        }));
        using var response = await fixture.Http.PostAsync($"channels/{channel}/events", new StringContent(string.Join('\n', lines), Encoding.UTF8, "application/x-ndjson"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return channel;
    }

    private static List<JsonElement> Lines(string ndjson) =>
        [.. ndjson.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone())];
}
