using Tivo.Events;
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

    [Fact]
    public void Long_windows_are_paced_from_coarser_buckets_so_the_warp_stays_small()
    {
        // 31 days at one bucket a second would be 2,678,400 buckets; the warp uses 31-second buckets instead.
        var end = Start + 31 * TimeSpan.TicksPerDay;
        Assert.Equal(31, Warp.BucketSeconds(Start, end));
        Assert.Equal(1, Warp.BucketSeconds(Start, Start + TimeSpan.TicksPerDay));
        var counts = new List<HistogramBin> { new(StartSecond, 62), new(StartSecond + 31 * 1000, 31) };
        var warp = (PiecewiseWarp)Warp.Build(Start, end, null, 1, null, counts);
        Assert.True(warp.Segments <= 5, $"{warp.Segments} segments");

        // The first bucket's 62 events last 62 s at rate 1, as they would in one-second buckets.
        Assert.Equal(62, warp.ToPosition(Start + 31 * TimeSpan.TicksPerSecond), 6);
        var last = -1.0;
        for (var t = Start; t <= end; t += TimeSpan.TicksPerDay / 7)
        {
            var p = warp.ToPosition(t);
            Assert.True(p > last || t == Start);
            last = p;
        }
    }

    [Theory]
    [InlineData(5e-324, null, null)]
    [InlineData(null, null, 5e-324)]
    [InlineData(null, 1e-310, null)]
    public void Numbers_that_leave_no_playable_length_are_refused(double? rate, double? maxGap, double? duration)
    {
        var error = Assert.Throws<ArgumentException>(() => Warp.Build(Start, Start + 60 * TimeSpan.TicksPerSecond, duration, rate, maxGap, [new HistogramBin(StartSecond, 3)]));
        Assert.Contains("playback length", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Loops_that_would_wrap_faster_than_the_minimum_pass_are_refused_naming_the_setting()
    {
        var options = new Tivo.Grains.PlaybackOptions();
        Assert.Null(PlaybackLimits.LoopPassError(options, length: 60, speed: 240)); // 0.25 s a pass: allowed
        var error = PlaybackLimits.LoopPassError(options, length: 60, speed: 241);
        Assert.Contains("Tivo:Playback:MinLoopPass", error, StringComparison.Ordinal);
        Assert.Contains("0.249 s", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Paced_windows_are_capped_and_plain_speed_is_not()
    {
        var options = new Tivo.Grains.PlaybackOptions();
        var tenYears = Start + 3650 * TimeSpan.TicksPerDay;
        Assert.Null(PlaybackLimits.PacedWindowError(options, Start, tenYears, rate: null, maxGap: null));
        Assert.Null(PlaybackLimits.PacedWindowError(options, Start, Start + 31 * TimeSpan.TicksPerDay, rate: 5, maxGap: null));
        Assert.Contains("Tivo:Playback:MaxPacedWindow", PlaybackLimits.PacedWindowError(options, Start, tenYears, rate: 1, maxGap: null), StringComparison.Ordinal);
        Assert.Contains("3650 days", PlaybackLimits.PacedWindowError(options, Start, tenYears, rate: null, maxGap: 2), StringComparison.Ordinal);
    }
}
