using Tivo.Events;
using Tivo.Grains.Caching;
using Tivo.Stores;
using Xunit;

namespace Tivo.Tests.Grains;

/// <summary>The one chunk arithmetic: edges, times before 1970, the ends of the calendar.</summary>
public sealed class ChunkGridTests
{
    private static readonly ChunkGrid Grid = new(10);

    [Theory]
    [InlineData(0L, 0L)]                 // the epoch starts chunk 0
    [InlineData(99_999_999L, 0L)]        // 9.9999999 s
    [InlineData(100_000_000L, 1L)]       // 10 s starts chunk 1
    [InlineData(-1L, -1L)]               // one tick before the epoch is in chunk -1, not 0
    [InlineData(-100_000_000L, -1L)]
    [InlineData(-100_000_001L, -2L)]
    public void A_time_falls_in_the_chunk_that_holds_it(long offsetTicks, long expected)
    {
        var ticks = TimeUtil.UnixEpochTicks + offsetTicks;
        var index = Grid.IndexOf(ticks);
        Assert.Equal(expected, index);
        Assert.InRange(ticks, Grid.StartOf(index), Grid.EndOf(index) - 1);
    }

    [Fact]
    public void The_ends_of_the_calendar_have_chunks_too()
    {
        foreach (var ticks in new[] { DateTime.MinValue.Ticks, DateTime.MaxValue.Ticks })
        {
            var index = Grid.IndexOf(ticks);
            Assert.InRange(ticks, Grid.StartOf(index), Grid.EndOf(index) - 1);
        }

        Assert.Equal(8640, Grid.ChunksPerDay);
        Assert.Equal(100_000_000, Grid.TicksPerChunk);
    }
}
