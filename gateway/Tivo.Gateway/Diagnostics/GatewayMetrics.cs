using System.Diagnostics.Metrics;

namespace Tivo.Gateway.Diagnostics;

/// <summary>The gateway's metrics (meter <see cref="MeterName"/>): open connections and messages sent.</summary>
internal sealed class GatewayMetrics
{
    public const string MeterName = "Tivo.Gateway";

    private readonly UpDownCounter<long> _connections;
    private readonly Counter<long> _eventsSent;
    private readonly Counter<long> _slowConsumers;

    public GatewayMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        _connections = meter.CreateUpDownCounter<long>("tivo.gateway.connections", "{connection}", "Open WebSocket connections.");
        _eventsSent = meter.CreateCounter<long>("tivo.gateway.events.sent", "{event}", "Event messages written to sockets.");
        _slowConsumers = meter.CreateCounter<long>("tivo.gateway.slow_consumers", "{connection}", "Connections closed because they fell too far behind.");
    }

    public void ConnectionOpened() => _connections.Add(1);

    public void ConnectionClosed() => _connections.Add(-1);

    public void EventSent() => _eventsSent.Add(1);

    public void SlowConsumer() => _slowConsumers.Add(1);
}
