using System.Diagnostics.Tracing;
using System.Globalization;
using Microsoft.Diagnostics.NETCore.Client;
using Tivo.Testing;

namespace Tivo.Bench;

/// <summary>What the benchmark does with a <see cref="GatewayProcess"/> beyond what tests need.</summary>
internal static class BenchGateway
{
    /// <summary>Starts a gateway with a send queue deep enough for 1,000 sessions at speed 60.</summary>
    public static Task<GatewayProcess> StartAsync(params string[] settings) =>
        GatewayProcess.StartAsync(["--Tivo:Gateway:SendQueueLimit", "200000", .. settings]);

    /// <summary>Posts events <c>start + i × interval</c> for i in [0, count) as NDJSON.</summary>
    public static Task IngestAsync(this GatewayProcess gateway, string channel, DateTime start, double intervalSeconds, int count) =>
        gateway.IngestLinesAsync(channel, SyntheticEvents.Lines(start, intervalSeconds, 0, count), 50_000);

    /// <summary>Once the previous run's sessions are gone, runs <paramref name="drive"/> and adds to its row the gateway's own figures
    /// from /metrics over the window the row counts (from the callback <paramref name="drive"/> is given, which its
    /// <see cref="RowMeter"/> runs after the row's first second, to the end): the bytes it allocated per delivered event, the p99
    /// of how late it handed events to their sockets and how many events a frame carried, and its garbage collections — in all,
    /// and each with when it came and how long it paused the gateway (<see cref="ProcessCollections"/>).</summary>
    public static async Task<DeliveryRow> WithGatewayFiguresAsync(this GatewayProcess gateway, Func<Func<Task>, Task<DeliveryRow>> drive)
    {
        // The previous run's sessions are not this run's work: wait (at most a minute) until they ended and were released.
        if (await gateway.WaitNoSessionsAsync(TimeSpan.FromMinutes(1)) is var active and > 0)
        {
            Console.WriteLine($"  warning: {active:N0} sessions of the previous run still active a minute after it; the next run's figures include them");
        }

        const string Allocated = "dotnet_gc_heap_total_allocated_bytes_total", Lateness = "tivo_gateway_send_lateness_seconds",
            Events = "tivo_gateway_events_sent_total", Frames = "tivo_gateway_frames_sent_total";
        string? before = null;
        var countedFrom = DateTime.MinValue;
        var collections = ProcessCollections.Start(gateway.Process.Id);
        var row = await drive(async () =>
        {
            countedFrom = DateTime.UtcNow;
            before = await gateway.Http.GetStringAsync("metrics");
        });
        var collected = collections is null ? null : await collections.StopAsync(countedFrom);
        if (before is null)
        {
            throw new InvalidOperationException($"The {row.System} row never started counting.");
        }

        var after = await gateway.Http.GetStringAsync("metrics");
        var (was, now) = (PrometheusText.Parse(before), PrometheusText.Parse(after));
        double Moved(string name) => now.GetValueOrDefault(name, double.NaN) - was.GetValueOrDefault(name, double.NaN);
        var allocated = Moved(Allocated);
        var frames = Moved(Frames);
        var late = PrometheusText.Quantile(PrometheusText.Buckets(before, Lateness), PrometheusText.Buckets(after, Lateness), 0.99);
        return row with
        {
            GatewayBytesPerEvent = row.Events == 0 ? null : allocated / row.Events,
            ServerP99Ms = double.IsNaN(late) ? null : late * 1000,
            EventsPerFrame = frames > 0 ? Moved(Events) / frames : null,
            GatewayGc = new GcFigures(Moved("dotnet_gc_collections_total"), Moved("dotnet_gc_pause_time_seconds_total") * 1000),
            GatewayCollections = collected,
        };
    }

    /// <summary>Induces a full blocking GC in the gateway (through the runtime's diagnostics port, as
    /// dotnet-gcdump does) and returns the managed heap size after it, from the runtime's own metric.</summary>
    public static async Task<long> HeapAfterFullGcAsync(this GatewayProcess gateway)
    {
        var before = (await gateway.MetricsAsync()).GetValueOrDefault("dotnet_gc_collections_total");
        var client = new DiagnosticsClient(gateway.Process.Id);
        const long GcHeapCollectKeyword = 0x800000;
        using (var session = client.StartEventPipeSession(
                   [new EventPipeProvider("Microsoft-Windows-DotNETRuntime", EventLevel.Informational, GcHeapCollectKeyword | ProcessCollections.GcKeyword)], requestRundown: false))
        {
            var drain = session.EventStream.CopyToAsync(Stream.Null);
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while ((await gateway.MetricsAsync()).GetValueOrDefault("dotnet_gc_collections_total") <= before && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }

            await session.StopAsync(CancellationToken.None);
            await drain;
        }

        await Task.Delay(100);
        return (long)(await gateway.MetricsAsync()).GetValueOrDefault("dotnet_gc_last_collection_heap_size_bytes");
    }
}

/// <summary>The benchmark's events: one every <c>interval</c> seconds from a start, with a small payload.
/// The same lines feed Tivo (ingest), the naive peer (a file) and NATS (published messages).</summary>
internal static class SyntheticEvents
{
    public static IEnumerable<string> Lines(DateTime start, double intervalSeconds, int from, int to)
    {
        for (var i = from; i < to; i++)
        {
            yield return $$$"""{"ts":"{{{Ts(start, intervalSeconds, i)}}}","data":{"i":{{{i}}},"v":{{{i * 7 % 1000}}},"kind":"{{{Kinds[i % Kinds.Length]}}}"}}""";
        }
    }

    public static string Ts(DateTime start, double intervalSeconds, int i) =>
        start.AddTicks((long)Math.Round(i * intervalSeconds * TimeSpan.TicksPerSecond)).ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    private static readonly string[] Kinds = ["pickup", "dropoff", "idle", "alert"];
}
