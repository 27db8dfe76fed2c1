using System.Diagnostics.Metrics;

namespace Tivo.Gateway.Diagnostics;

/// <summary>The gateway's metrics (meter <see cref="MeterName"/>): open connections, events and frames sent and how late events went.</summary>
internal sealed class GatewayMetrics
{
    public const string MeterName = "Tivo.Gateway";

    /// <summary>Bucket bounds (seconds) of <c>tivo.gateway.send.lateness</c>: on time or ahead (0: a lead frame), fine below
    /// one 60 Hz frame, then up to the lateness at which a session is held (<c>LateReportThreshold</c>, 50 ms) and the
    /// seconds a saturated gateway reaches.</summary>
    public static readonly IReadOnlyList<double> LatenessBuckets =
        [0, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly UpDownCounter<long> _connections;
    private readonly Counter<long> _eventsSent;
    private readonly Counter<long> _framesSent;
    private readonly Counter<long> _slowConsumers;
    private readonly Histogram<double> _lateness;

    /// <summary>The gateway's instruments on <paramref name="meters"/>; with <paramref name="scheduler"/>, its send window too.</summary>
    public GatewayMetrics(IMeterFactory meters, Connections.ReleaseScheduler? scheduler = null)
    {
        var meter = meters.Create(MeterName);
        if (scheduler is not null)
        {
            meter.CreateObservableGauge("tivo.gateway.send.window", () => scheduler.SendWindow.TotalSeconds, "s",
                "The send window a saturated gateway opened for plain connections (0 while it keeps up): each of their events goes up to half of it before or after its due.");
        }

        _connections = meter.CreateUpDownCounter<long>("tivo.gateway.connections", "{connection}", "Open WebSocket connections.");
        _eventsSent = meter.CreateCounter<long>("tivo.gateway.events.sent", "{event}", "Event messages written to sockets.");
        _framesSent = meter.CreateCounter<long>("tivo.gateway.frames.sent", "{frame}",
            "WebSocket messages written to sockets (events, batches, replies, signals): events sent ÷ frames sent is how many events a frame carries.");
        _slowConsumers = meter.CreateCounter<long>("tivo.gateway.slow_consumers", "{connection}", "Connections closed because they fell too far behind.");
        _lateness = meter.CreateHistogram("tivo.gateway.send.lateness", "s",
            "How long after its due each event was handed to its socket (0 when it went ahead, in a lead frame): the server's share of the lateness clients see.",
            tags: null, new InstrumentAdvice<double> { HistogramBucketBoundaries = LatenessBuckets });

        // A zero for every counter from the start (the host makes this at startup): a scrape of a fresh gateway shows them.
        _connections.Add(0);
        _eventsSent.Add(0);
        _framesSent.Add(0);
        _slowConsumers.Add(0);
    }

    public void ConnectionOpened() => _connections.Add(1);

    public void ConnectionClosed() => _connections.Add(-1);

    /// <summary>An event went to its socket <paramref name="lateTicks"/> after its due (≤ 0: on time or ahead).</summary>
    public void EventSent(long lateTicks)
    {
        _eventsSent.Add(1);
        _lateness.Record(lateTicks <= 0 ? 0 : lateTicks / (double)TimeSpan.TicksPerSecond);
    }

    /// <summary>A message (one WebSocket frame) went to a socket.</summary>
    public void FrameSent() => _framesSent.Add(1);

    public void SlowConsumer() => _slowConsumers.Add(1);
}
