namespace Tivo.Grains.Playback;

/// <summary>
/// The silo's emptied replay-log segments, cleared, for its logs to fill before they allocate new ones: a session that starts
/// where others ended fills segments already in the runtime's oldest generation, not new ones its young collections copy as
/// they fill. Bounded by <see cref="Capacity"/> (what it cannot keep is left to the collector), and it gives back what stays
/// unused: every <see cref="TrimInterval"/> it drops half of the segments that no log took during the whole interval, so a
/// silo that had a burst of sessions comes back to its idle size within minutes instead of keeping up to
/// <see cref="Capacity"/> for good. Thread-safe; one per silo (<see cref="ReplayBudget.Segments"/>).
/// </summary>
internal sealed class ReplaySegmentPool : IDisposable
{
    /// <summary>How often the pool looks at what stayed unused.</summary>
    public static readonly TimeSpan TrimInterval = TimeSpan.FromMinutes(1);

    private readonly Lock _lock = new();
    private readonly Stack<ReplayLog.Entry[]> _segments = new();
    private readonly ITimer _timer;

    /// <summary>The fewest segments held since the last trim: that many no log needed in the interval.</summary>
    private int _lowWater;

    public ReplaySegmentPool(int capacity, TimeProvider time)
    {
        Capacity = capacity;
        _timer = time.CreateTimer(static s => ((ReplaySegmentPool)s!).Trim(), this, TrimInterval, TrimInterval);
    }

    /// <summary>The most segments kept.</summary>
    public int Capacity { get; }

    /// <summary>Segments kept now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _segments.Count;
            }
        }
    }

    /// <summary>A cleared segment: a kept one if there is any, else a new one.</summary>
    public ReplayLog.Entry[] Rent()
    {
        lock (_lock)
        {
            if (_segments.TryPop(out var kept))
            {
                _lowWater = Math.Min(_lowWater, _segments.Count);
                return kept;
            }
        }

        return new ReplayLog.Entry[ReplayLog.SegmentSize];
    }

    /// <summary>Keeps <paramref name="segment"/> for the next log (cleared first unless <paramref name="cleared"/>: a kept
    /// segment must not keep an ended session's payloads alive), or leaves it to the collector when the pool is full.</summary>
    public void Return(ReplayLog.Entry[] segment, bool cleared)
    {
        if (segment.Length != ReplayLog.SegmentSize)
        {
            throw new ArgumentException($"A replay-log segment has {ReplayLog.SegmentSize} entries, not {segment.Length}.", nameof(segment));
        }

        if (!cleared)
        {
            Array.Clear(segment);
        }

        lock (_lock)
        {
            if (_segments.Count < Capacity)
            {
                _segments.Push(segment);
            }
        }
    }

    /// <summary>Drops half (rounded up) of the segments no log took since the last trim, and starts the next interval.
    /// Returns how many it dropped. Called by the pool's timer every <see cref="TrimInterval"/>.</summary>
    internal int Trim()
    {
        lock (_lock)
        {
            var drop = (_lowWater + 1) / 2;
            for (var i = 0; i < drop; i++)
            {
                _segments.Pop();
            }

            if (_segments.Count == 0)
            {
                _segments.TrimExcess(); // its array held a reference slot for every segment it ever kept
            }

            _lowWater = _segments.Count;
            return drop;
        }
    }

    public void Dispose() => _timer.Dispose();
}
