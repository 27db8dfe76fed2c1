using Tivo.Events;
using Tivo.Stores;

namespace Tivo.Grains.Caching;

/// <summary>
/// The chunk arithmetic in one place (sessions, channel grains and the cache once each wrote it their own way):
/// chunk <c>i</c> holds the stream time <c>[i × Seconds, (i + 1) × Seconds)</c> in whole Unix seconds. Integer
/// floor division throughout, so times before 1970 and the ends of the calendar land in the right chunk.
/// </summary>
public readonly record struct ChunkGrid(int Seconds)
{
    /// <summary>Ticks in one chunk.</summary>
    public long TicksPerChunk => Seconds * TimeUtil.TicksPerSecond;

    /// <summary>Chunks in a day (the reach of a last-value search).</summary>
    public long ChunksPerDay => TimeSpan.TicksPerDay / TicksPerChunk;

    /// <summary>The chunk holding <paramref name="ticks"/> (UTC).</summary>
    public long IndexOf(long ticks)
    {
        var offset = ticks - TimeUtil.UnixEpochTicks;
        var index = offset / TicksPerChunk;
        return offset % TicksPerChunk < 0 ? index - 1 : index;
    }

    /// <summary>The first tick of chunk <paramref name="index"/>.</summary>
    public long StartOf(long index) => TimeUtil.UnixEpochTicks + index * TicksPerChunk;

    /// <summary>The first tick after chunk <paramref name="index"/>.</summary>
    public long EndOf(long index) => StartOf(index + 1);
}
