using System.Text.Json;
using System.Globalization;
using Tivo.Testing;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>
/// /metrics: Prometheus text with the gateway's, the silo's and the runtime's figures. The gateway runs as
/// a process of its own, as a user runs it: OpenTelemetry listens to every meter of a name in a process,
/// so the in-process test hosts would blend their figures.
/// </summary>
public sealed class MetricsTests
{
    private const int CacheLimit = 8 * 1024 * 1024;
    private const int EventCount = 200;

    [Fact]
    public async Task Metrics_count_what_a_play_did()
    {
        await using var gateway = await GatewayProcess.StartAsync("--Tivo:Cache:MaxBytes", CacheLimit.ToString(CultureInfo.InvariantCulture));
        var start = new DateTime(2024, 3, 1, 12, 0, 0, DateTimeKind.Utc);
        await gateway.IngestLinesAsync("metered",
            Enumerable.Range(0, EventCount).Select(i => $$$"""{"ts":"{{{start.AddMilliseconds(i * 100):O}}}","data":{"i":{{{i}}}}}"""), EventCount);

        var before = await gateway.MetricsAsync();
        // Every series is there from the start, at zero (before: none until its first use, so a dashboard of a fresh server
        // showed no data rather than 0).
        Assert.All(["tivo_gateway_connections", "tivo_gateway_events_sent_total", "tivo_gateway_frames_sent_total", "tivo_gateway_slow_consumers_total",
                "tivo_sessions_active", "tivo_events_pushed_total", "tivo_sessions_holds_total", "tivo_sessions_held_seconds_total", "tivo_store_queries_total",
                "tivo_cache_hits_total", "tivo_cache_misses_total"],
            name => Assert.True(before.ContainsKey(name), $"{name} in /metrics before anything used it"));
        Assert.Equal(CacheLimit, before["tivo_cache_limit_bytes"]);
        Assert.Equal(0, before["tivo_gateway_send_window_seconds"]); // a gateway that keeps up sends every message at its due
        Assert.Equal(0, before.GetValueOrDefault("tivo_gateway_connections"));
        Assert.Equal(0, before.GetValueOrDefault("tivo_sessions_active"));
        Assert.Equal(0, before.GetValueOrDefault("tivo_gateway_events_sent_total"));
        Assert.Equal(0, before.GetValueOrDefault("tivo_gateway_frames_sent_total"));

        await using (var socket = await TestSocket.ConnectAsync(gateway.WebSocketUri("channels/metered")))
        {
            // 20 s of stream time at speed 20: one second of playback.
            await socket.SendAsync($$"""{"action":"play","start":"{{start:O}}","end":"{{start.AddSeconds(20):O}}","speed":20}""");
            await socket.NextAsync("state");
            for (var i = 0; i < EventCount; i++)
            {
                Assert.Equal(i, (await socket.NextAsync("event")).GetProperty("data").GetProperty("i").GetInt32());
            }

            // The exporter serves a scrape from a short-lived cache: poll until the figures include the play.
            await Eventually.WaitAsync(async () =>
            {
                var during = await gateway.MetricsAsync();
                return during.GetValueOrDefault("tivo_gateway_connections") == 1 && during.GetValueOrDefault("tivo_sessions_active") == 1
                    && during.GetValueOrDefault("tivo_gateway_events_sent_total") == EventCount
                    && during.GetValueOrDefault("tivo_events_pushed_total") == EventCount
                    && during.GetValueOrDefault("tivo_gateway_send_lateness_seconds_count") == EventCount
                    && during.GetValueOrDefault("tivo_gateway_frames_sent_total") >= EventCount + 2; // without lead a frame per event, and the ack and state
            }, "one connection, one session and its 200 events (sent, how late, in how many frames) in /metrics");
        }

        // How late each event went to its socket: one observation per event, in the histogram's buckets.
        var lateness = PrometheusText.Buckets(await gateway.Http.GetStringAsync("metrics"), "tivo_gateway_send_lateness_seconds");
        Assert.Equal(EventCount, lateness[double.PositiveInfinity]);
        Assert.Equal([0, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, double.PositiveInfinity], lateness.Keys);
        Assert.InRange(PrometheusText.Quantile([], lateness, 0.5), 0, 10);

        var after = await gateway.MetricsAsync();
        Assert.True(after["tivo_store_queries_total"] >= 1, "the play read the store");
        Assert.True(after["tivo_cache_misses_total"] >= 1, "the first read of a chunk is a miss");
        Assert.InRange(after["tivo_cache_chunks"], 1, 21); // the window's 20 one-second chunks at most (+ the lookahead's)
        Assert.InRange(after["tivo_cache_size_bytes"], EventCount * 10, CacheLimit);
        Assert.True(after["dotnet_gc_last_collection_heap_size_bytes"] > 0, "the runtime's meter is exported");

        await Eventually.WaitAsync(async () => (await gateway.MetricsAsync()).GetValueOrDefault("tivo_gateway_connections") == 0,
            "the closed connection leaves tivo_gateway_connections");
    }

    [Fact]
    public async Task An_idle_viewer_costs_its_connections_timers_and_its_session_none()
    {
        // A viewer connected and not playing: its socket's keep-alive and its membership renewal are timers, its session has
        // nothing to do. Before, every session checked its empty replay log every 5 s: 1,000 idle viewers held 3,021 timers
        // instead of 2,021, and the runtime's timer queue fired 200 more times a second.
        const int Viewers = 40;
        await using var gateway = await GatewayProcess.StartAsync();
        var before = await SteadyTimersAsync(gateway, sessions: 0);
        var sockets = new List<TestSocket>();
        try
        {
            for (var i = 0; i < Viewers; i++)
            {
                sockets.Add(await TestSocket.ConnectAsync(gateway.WebSocketUri("ws")));
            }

            var added = await SteadyTimersAsync(gateway, sessions: Viewers) - before;
            Assert.True(added <= 2 * Viewers + 4, $"{Viewers} idle viewers added {added} timers: at most 2 each (keep-alive, renewal) expected");
            Assert.True(added >= Viewers, $"{Viewers} idle viewers added {added} timers: their keep-alives at least");
        }
        finally
        {
            foreach (var socket in sockets)
            {
                await socket.DisposeAsync();
            }
        }
    }

    /// <summary>The runtime's timer count once <paramref name="sessions"/> are active and it read the same twice, a second apart.</summary>
    private static async Task<double> SteadyTimersAsync(GatewayProcess gateway, int sessions)
    {
        var last = double.NaN;
        await Eventually.WaitAsync(async () =>
        {
            await Task.Delay(1000); // the exporter serves a scrape from a short-lived cache
            var m = await gateway.MetricsAsync();
            var (previous, now) = (last, m.GetValueOrDefault("dotnet_timer_count", double.NaN));
            last = now;
            return m.GetValueOrDefault("tivo_sessions_active") == sessions && now == previous;
        }, $"{sessions} sessions active and the timer count steady");
        return last;
    }

    [Fact]
    public async Task The_sessions_replay_logs_stay_within_the_silos_bound_and_a_resume_past_it_says_so()
    {
        // Each session keeps its last events for clients resuming with lastSeq, up to its own bounds (20,000 events, 4 MiB):
        // a thousand long sessions held gigabytes. Tivo:Playback:ReplayMemoryLimit bounds them together.
        const int Limit = 12_000; // about a hundred of these events, as the logs count them (a log alone holds 400)
        const int Count = 400;
        await using var gateway = await GatewayProcess.StartAsync("--Tivo:Playback:ReplayMemoryLimit", Limit.ToString(CultureInfo.InvariantCulture));
        var start = new DateTime(2024, 3, 1, 12, 0, 0, DateTimeKind.Utc);
        await gateway.IngestLinesAsync("kept",
            Enumerable.Range(0, Count).Select(i => $$$"""{"ts":"{{{start.AddMilliseconds(i * 100):O}}}","data":{"i":{{{i}}}}}"""), Count);
        var before = await gateway.MetricsAsync();
        Assert.Equal(Limit, before["tivo_replay_limit_bytes"]);
        Assert.Equal(0, before["tivo_replay_size_bytes"]);
        Assert.Equal(0, before["tivo_replay_pool_bytes"]); // nothing ended yet: no emptied segments kept

        foreach (var session in new[] { "kept-a", "kept-b" })
        {
            await using var socket = await TestSocket.ConnectAsync(gateway.WebSocketUri($"ws?channel=kept&session={session}"));
            await socket.SendAsync($$"""{"action":"play","start":"{{start:O}}","end":"{{start.AddSeconds(40):O}}","speed":40}""");
            for (var i = 0; i < Count; i++)
            {
                Assert.Equal(i, (await socket.NextAsync("event")).GetProperty("data").GetProperty("i").GetInt32());
            }
        }

        // Both sessions carry on without participants for their grace period, their logs held. The first trimmed to the bound
        // while it played alone; the second's pushes trim it to its share, and the first (no longer pushing) trims to its share
        // at its next check: together within the bound.
        await Eventually.WaitAsync(async () => (await gateway.MetricsAsync()) is var m && m.GetValueOrDefault("tivo_sessions_active") == 2
            && m["tivo_replay_size_bytes"] is > 0 and <= Limit, "both sessions' logs within the silo's bound");

        await using var resumed = await TestSocket.ConnectAsync(gateway.WebSocketUri("ws?channel=kept&session=kept-a&lastSeq=1"));
        // The hole is told first (before: the events held, due already, went ahead of a gap released at the resume).
        var gap = await resumed.NextAnyUntilAsync(m => m.GetProperty("type").GetString() is "gap" or "event");
        Assert.Equal("gap", gap.GetProperty("type").GetString());
        Assert.Equal(2, gap.GetProperty("fromSeq").GetInt64());
        Assert.Contains("Tivo:Playback:ReplayMemoryLimit", gap.GetProperty("message").GetString(), StringComparison.Ordinal);
        var first = await resumed.NextAsync("event");
        Assert.Equal(gap.GetProperty("toSeq").GetInt64() + 1, first.GetProperty("seq").GetInt64()); // then the oldest event held
    }

    [Fact]
    public async Task A_gateway_running_late_holds_its_session_which_says_so_in_state_and_metrics()
    {
        // Any lateness at all counts as pressure here (1 µs): a send loop woken for a release always runs a little after it.
        await using var gateway = await GatewayProcess.StartAsync("--Tivo:Gateway:LateReportThreshold", "00:00:00.0000010");
        var start = new DateTime(2024, 3, 1, 12, 0, 0, DateTimeKind.Utc);
        const int Events = 300;
        await gateway.IngestLinesAsync("held",
            Enumerable.Range(0, Events).Select(i => $$$"""{"ts":"{{{start.AddMilliseconds(i * 100):O}}}","data":{"i":{{{i}}}}}"""), Events);

        var states = new List<JsonElement>();
        await using (var socket = await TestSocket.ConnectAsync(gateway.WebSocketUri("channels/held")))
        {
            // 30 s of stream time at speed 10: three seconds of playback, every event in order however it is held.
            await socket.SendAsync($$"""{"action":"play","start":"{{start:O}}","end":"{{start.AddSeconds(30):O}}","speed":10}""");
            for (var i = 0; i < Events;)
            {
                var message = await socket.NextAnyUntilAsync(m => m.GetProperty("type").GetString() is "event" or "state");
                if (message.GetProperty("type").GetString() == "state")
                {
                    states.Add(message);
                    continue;
                }

                Assert.Equal(i++, message.GetProperty("data").GetProperty("i").GetInt32());
            }
        }

        Assert.Contains(states, s => s.GetProperty("status").GetString() == "playing" && s.GetProperty("speed").GetDouble() == 10
            && s.GetProperty("achievedSpeed").GetDouble() is > 0 and < 10);
        var metrics = await gateway.MetricsAsync();
        Assert.True(metrics.GetValueOrDefault("tivo_sessions_holds_total") >= 1, "the session counted its holds");
        Assert.InRange(metrics.GetValueOrDefault("tivo_sessions_held_seconds_total"), 1e-7, 3);
    }

    [Fact]
    public void A_quantile_between_two_scrapes_is_read_from_the_buckets_that_grew()
    {
        const string Before = """
            x_seconds_bucket{otel_scope_name="T",le="0.01"} 50
            x_seconds_bucket{otel_scope_name="T",le="0.05"} 50
            x_seconds_bucket{otel_scope_name="T",le="+Inf"} 50
            """;
        const string After = """
            x_seconds_bucket{otel_scope_name="T",le="0.01"} 140
            x_seconds_bucket{otel_scope_name="T",le="0.05"} 150
            x_seconds_bucket{otel_scope_name="T",le="+Inf"} 150
            y_seconds_bucket{le="+Inf"} 7
            """;
        var (before, after) = (PrometheusText.Buckets(Before, "x_seconds"), PrometheusText.Buckets(After, "x_seconds"));
        Assert.Equal(0.005, PrometheusText.Quantile(before, after, 0.45), 9); // 90 of the 100 new ones at or below 10 ms
        Assert.Equal(0.01 + (0.04 * 9 / 10), PrometheusText.Quantile(before, after, 0.99), 9); // 9 of the 10 between 10 and 50 ms
        Assert.True(double.IsNaN(PrometheusText.Quantile(after, after, 0.99)), "nothing observed between the scrapes");
    }
}
