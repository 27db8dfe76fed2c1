using System.Net;
using Tivo.Testing;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>/metrics: Prometheus text with the gateway's, the silo's and the runtime's figures.</summary>
public sealed class MetricsTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task Metrics_count_what_a_play_did()
    {
        var before = await ScrapeAsync();
        await using (var socket = await TestSocket.ConnectAsync(new Uri(fixture.WsBase, "channels/trades")))
        {
            await socket.SendAsync("""{"action":"play","start":"2016-01-15T14:32:24Z","end":"2016-01-15T14:34:24Z","speed":120}""");
            await socket.NextAsync("state");
            for (var i = 0; i < 20; i++)
            {
                await socket.NextAsync("event");
            }

            // The exporter serves a scrape from a short-lived cache: poll until the figures include the play.
            await Eventually.WaitAsync(async () =>
            {
                var during = await ScrapeAsync();
                return during.GetValueOrDefault("tivo_gateway_connections") >= 1 && during.GetValueOrDefault("tivo_sessions_active") >= 1;
            }, "the connection and its session in /metrics");
        }

        Dictionary<string, double> after = [];
        await Eventually.WaitAsync(async () =>
        {
            after = await ScrapeAsync();
            return after.GetValueOrDefault("tivo_gateway_events_sent_total") - before.GetValueOrDefault("tivo_gateway_events_sent_total") >= 20
                && after.GetValueOrDefault("tivo_events_pushed_total") - before.GetValueOrDefault("tivo_events_pushed_total") >= 20;
        }, "the 20 events in /metrics");
        Assert.True(after["tivo_store_queries_total"] >= 1);
        // Gauges are reported but not compared: every test host in this process registers the same meter
        // name, and OpenTelemetry reports one callback's value for a gauge. The benchmark reads the
        // values from a gateway in its own process (docs/performance.md: cache bound under a sweep).
        Assert.Contains("tivo_cache_size_bytes", after.Keys);
        Assert.Contains("tivo_cache_limit_bytes", after.Keys);
        Assert.Contains("tivo_cache_chunks", after.Keys);
        Assert.Contains("dotnet_gc_last_collection_heap_size_bytes", after.Keys);
    }

    private async Task<Dictionary<string, double>> ScrapeAsync()
    {
        using var response = await fixture.Http.GetAsync(new Uri(fixture.HttpBase, "metrics"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return PrometheusText.Parse(await response.Content.ReadAsStringAsync());
    }
}
