using Tivo.GrainInterfaces;
using Tivo.Grains.Pacing;
using Tivo.Stores;
using Xunit;

namespace Tivo.Tests.Pacing;

/// <summary>The pacing warp on its own: monotone, invertible, and the exact lengths each mode promises.</summary>
public sealed class WarpTests
{
    private static readonly long Start = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;
    private static readonly long StartSecond = TimeUtil.SecondOf(Start);

    [Fact]
    public void Duration_fits_the_window_exactly()
    {
        var warp = Warp.Build(Start, Start + TimeSpan.TicksPerDay, 60, null, null, []);
        Assert.Equal(60, warp.Length, 9);
        Assert.Equal(30, warp.ToPosition(Start + TimeSpan.TicksPerDay / 2), 9);
        Assert.Equal(Start + TimeSpan.TicksPerHour, warp.ToTicks(2.5));
    }

    [Fact]
    public void Rate_and_max_gap_build_a_monotone_invertible_warp()
    {
        var counts = new List<HistogramBin> { new(StartSecond, 40), new(StartSecond + 5, 1), new(StartSecond + 500, 3) };
        var warp = Warp.Build(Start, Start + 600 * TimeSpan.TicksPerSecond, null, 4, 1.5, counts);
        var last = -1.0;
        for (var t = Start; t <= Start + 600 * TimeSpan.TicksPerSecond; t += TimeSpan.TicksPerSecond / 4)
        {
            var p = warp.ToPosition(t);
            Assert.True(p > last || (t == Start && p == 0));
            last = p;
            Assert.InRange(warp.ToTicks(p) - t, -2, 2);
        }

        // The busy first second lasts 40/4 = 10 s; the four empty seconds after it 4 × 0.05/4 = 0.05 s
        // (under maxGap, untouched); the 494 empty seconds from 6 to 500 would take 6.175 s and are capped at 1.5 s.
        Assert.Equal(10, warp.ToPosition(Start + TimeSpan.TicksPerSecond), 9);
        Assert.Equal(0.05, warp.ToPosition(Start + 5 * TimeSpan.TicksPerSecond) - warp.ToPosition(Start + TimeSpan.TicksPerSecond), 9);
        Assert.Equal(1.5, warp.ToPosition(Start + 500 * TimeSpan.TicksPerSecond) - warp.ToPosition(Start + 6 * TimeSpan.TicksPerSecond), 9);
    }

    [Fact]
    public void Uniform_stretches_collapse_into_few_segments()
    {
        var warp = (PiecewiseWarp)Warp.Build(Start, Start + TimeSpan.TicksPerDay, null, 10, null, [new HistogramBin(StartSecond + 3600, 7)]);
        Assert.True(warp.Segments <= 3, $"{warp.Segments} segments");
    }
}
