using Tivo.GrainInterfaces;

namespace Tivo.Tests.Grains;

/// <summary>
/// A participant as the gateway would be: batches go through the same <see cref="DeliveryQueue{TLocal}"/>
/// and count as delivered once their release time has passed on the test's clock.
/// </summary>
internal sealed class RecordingObserver : IPlaybackObserver
{
    private readonly Lock _lock = new();
    private readonly DeliveryQueue<object> _queue = new();
    private readonly List<Delivery<object>> _delivered = [];
    private readonly List<PlaybackBatch> _received = [];

    private long _maxOrder;

    public Task OnBatch(PlaybackBatch batch)
    {
        lock (_lock)
        {
            _received.Add(batch);
            _queue.Add(batch);
            foreach (var e in batch.Events)
            {
                _maxOrder = Math.Max(_maxOrder, e.Order);
            }

            foreach (var s in batch.Signals)
            {
                _maxOrder = Math.Max(_maxOrder, s.Order);
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>Every batch as it arrived, before release times and the epoch rule apply.</summary>
    public IReadOnlyList<PlaybackBatch> Received
    {
        get
        {
            lock (_lock)
            {
                return [.. _received];
            }
        }
    }

    /// <summary>The highest push order received (pushes are one-way and may still be in flight).</summary>
    public long MaxOrder
    {
        get
        {
            lock (_lock)
            {
                return _maxOrder;
            }
        }
    }

    /// <summary>Moves everything released at or before <paramref name="nowTicks"/> to <see cref="Delivered"/>.</summary>
    public void Deliver(long nowTicks)
    {
        lock (_lock)
        {
            while (_queue.TryTake(nowTicks, out var item))
            {
                _delivered.Add(item);
            }
        }
    }

    public IReadOnlyList<Delivery<object>> Delivered
    {
        get
        {
            lock (_lock)
            {
                return [.. _delivered];
            }
        }
    }

    public IReadOnlyList<SessionEvent> Events => [.. Delivered.Where(d => d.Event is not null).Select(d => d.Event!)];

    public IReadOnlyList<TSignal> Signals<TSignal>()
        where TSignal : SessionSignal => [.. Delivered.Select(d => d.Signal).OfType<TSignal>()];
}
