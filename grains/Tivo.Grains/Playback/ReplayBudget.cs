using Microsoft.Extensions.Options;

namespace Tivo.Grains.Playback;

/// <summary>
/// The silo's bound on what the replay logs of all its sessions keep together (<see cref="PlaybackOptions.ReplayMemoryLimit"/>).
/// Each log has bounds of its own (<see cref="PlaybackOptions.ReplayEvents"/>, <see cref="PlaybackOptions.ReplayBytes"/>), but
/// a thousand long sessions at those bounds hold gigabytes. While the logs of the silo together fit the limit, nothing
/// changes; past it, each log trims to an equal share of the limit at its next push, oldest events first and never one
/// not yet due: a resume reaches less far back on a crowded silo instead of the silo running out of memory. Logs report
/// what they hold once per push, not per event; a session that does not push checks every few seconds while the silo is over its limit. One instance per
/// silo, shared by its session grains (thread-safe).
/// It also keeps the segments logs gave back (<see cref="Segments"/>): a session that ends leaves its log's emptied segments
/// for the next session to fill, at most <see cref="PoolShare"/> of the limit (<see cref="PoolBytesWithoutLimit"/> with none),
/// giving back over minutes what no session takes (<see cref="ReplaySegmentPool"/>).
/// </summary>
public sealed class ReplayBudget : IDisposable
{
    private readonly long _limit;
    private long _bytes;
    private int _logs;

    /// <summary>The share of the limit the pool of emptied segments may hold (1/8: 128 MiB at the default 1 GiB, about what 2,000
    /// sessions of 10 s leave; a sixteenth, 9,362 segments, left about half of them to be made again: 270–279 against 235–243 B
    /// allocated per event and p99 median 82 against 64 ms at 2,000 plain sessions, docs/performance.md).</summary>
    internal const int PoolShare = 8;

    /// <summary>What the pool may hold on a silo without a limit.</summary>
    internal const long PoolBytesWithoutLimit = 128L * 1024 * 1024;

    /// <summary>The most the pool of emptied segments may hold under a silo-wide <paramref name="limit"/> (0: none).</summary>
    internal static long PoolBytes(long limit) => limit > 0 ? limit / PoolShare : PoolBytesWithoutLimit;

    /// <summary>A budget of <paramref name="limit"/> estimated bytes (0: none); its pool trims on <paramref name="time"/>
    /// (default: the system clock).</summary>
    internal ReplayBudget(long limit, TimeProvider? time = null)
    {
        _limit = limit;
        var pooled = (int)Math.Clamp(PoolBytes(limit) / ReplayLog.SegmentBytes, 1, int.MaxValue);
        Segments = new ReplaySegmentPool(pooled, time ?? TimeProvider.System);
    }

    public ReplayBudget(IOptions<PlaybackOptions> options, TimeProvider time)
        : this(options.Value.ReplayMemoryLimit, time)
    {
    }

    /// <summary>Emptied replay-log segments, cleared, for the silo's logs to fill before they allocate new ones: at most
    /// <see cref="PooledSegments"/> (what the pool cannot keep is left to the collector); what none takes for minutes is
    /// given back.</summary>
    internal ReplaySegmentPool Segments { get; }

    /// <summary>How many segments <see cref="Segments"/> keeps at most.</summary>
    internal int PooledSegments => Segments.Capacity;

    /// <summary>The estimated bytes of the emptied segments the pool keeps now.</summary>
    public long PooledBytes => (long)Segments.Count * ReplayLog.SegmentBytes;

    /// <summary>The limit (estimated bytes; 0: none).</summary>
    public long Limit => _limit;

    /// <summary>What the silo's logs hold together, as last reported (estimated bytes).</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>Logs holding anything.</summary>
    public int Logs => Volatile.Read(ref _logs);

    /// <summary>The silo's logs together hold more than the limit.</summary>
    public bool Crowded => _limit > 0 && Bytes > _limit;

    /// <summary>The most one log may keep now: no bound while the logs fit the limit (or there is none), else an equal share.</summary>
    public long Share => !Crowded ? long.MaxValue : _limit / Math.Max(1, Logs);

    /// <summary>A log that held <paramref name="before"/> bytes holds <paramref name="after"/> now.</summary>
    internal void Moved(long before, long after)
    {
        if (before == after)
        {
            return;
        }

        Interlocked.Add(ref _bytes, after - before);
        if (before == 0)
        {
            Interlocked.Increment(ref _logs);
        }
        else if (after == 0)
        {
            Interlocked.Decrement(ref _logs);
        }
    }

    public void Dispose() => Segments.Dispose();
}
