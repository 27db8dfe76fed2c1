using Tivo.Events;
using Tivo.GrainInterfaces;
using Tivo.Stores;

namespace Tivo.Grains.Pacing;

/// <summary>
/// A monotone, invertible map from stream time inside a window to playback position (seconds of
/// playback at speed 1, from 0 at the window start to <see cref="Length"/> at its end). Every pacing
/// mode is one warp; the session's speed then divides playback position into wall time.
/// </summary>
internal abstract class Warp
{
    /// <summary>Playback seconds of the whole window at speed 1.</summary>
    public abstract double Length { get; }

    /// <summary>Playback position of stream time <paramref name="ticks"/> (clamped to the window).</summary>
    public abstract double ToPosition(long ticks);

    /// <summary>Stream time at playback position <paramref name="position"/> (clamped to [0, Length]).</summary>
    public abstract long ToTicks(double position);

    /// <summary>Most buckets a pacing warp is built from. Windows longer than this many seconds are
    /// paced from coarser buckets (<see cref="BucketSeconds"/>), so the warp's memory does not grow with
    /// the window (a 31-day window: 31-second buckets, ≈ 2 MB while building, a few KB kept).</summary>
    public const int MaxBuckets = 86_400;

    /// <summary>Whole seconds per pacing bucket for a window: 1 up to <see cref="MaxBuckets"/> seconds, then coarser.</summary>
    public static int BucketSeconds(long start, long end)
    {
        var seconds = TimeUtil.SecondOf(end - 1) - TimeUtil.SecondOf(start) + 1;
        return (int)Math.Max(1, (seconds + MaxBuckets - 1) / MaxBuckets);
    }

    /// <summary>
    /// Builds the warp of a window. <paramref name="counts"/> (event counts per bucket of
    /// <see cref="BucketSeconds"/> seconds, aligned to the window's first second, summed over channels)
    /// is needed only for <paramref name="rate"/> and <paramref name="maxGap"/>.
    /// </summary>
    /// <remarks>
    /// Order: the shape comes from <c>rate</c> (each second lasts count/rate seconds, an empty second
    /// <see cref="EmptySecondWeight"/>/rate) or is stream time itself; then <c>maxGap</c> shrinks every
    /// run of empty seconds longer than maxGap to maxGap; then <c>duration</c> scales the whole to that
    /// length. Speed is applied by the clock, not here.
    /// </remarks>
    /// <exception cref="ArgumentException">The pacing leaves no finite, strictly increasing map (numbers out of range).</exception>
    public static Warp Build(long start, long end, double? duration, double? rate, double? maxGap, IReadOnlyList<HistogramBin> counts)
    {
        var warp = BuildUnchecked(start, end, duration, rate, maxGap, counts);
        if (!double.IsFinite(warp.Length) || warp.Length <= 0)
        {
            throw new ArgumentException($"The pacing gives the window a playback length of {warp.Length} s, which cannot be played.");
        }

        return warp;
    }

    private static Warp BuildUnchecked(long start, long end, double? duration, double? rate, double? maxGap, IReadOnlyList<HistogramBin> counts)
    {
        var windowSeconds = (end - start) / (double)TimeUtil.TicksPerSecond;
        if (rate is null && maxGap is null)
        {
            return new LinearWarp(start, end, duration is { } d ? d / windowSeconds : 1.0);
        }

        // Buckets are whole seconds (or whole multiples, for long windows) clipped to the window.
        var width = BucketSeconds(start, end);
        var firstSecond = TimeUtil.SecondOf(start);
        var lastSecond = TimeUtil.SecondOf(end - 1);
        var bucketCount = checked((int)((lastSecond - firstSecond) / width + 1));
        var bounds = new long[bucketCount + 1];
        var lengths = new double[bucketCount];
        var empty = new bool[bucketCount];
        var countByBucket = new Dictionary<long, long>(Math.Min(counts.Count, bucketCount));
        foreach (var bin in counts)
        {
            var bucket = (bin.Second - firstSecond) / width;
            countByBucket[bucket] = countByBucket.GetValueOrDefault(bucket) + bin.Count;
        }

        for (var i = 0; i < bucketCount; i++)
        {
            var second = firstSecond + (long)i * width;
            var from = Math.Max(start, TimeUtil.TicksOfSecond(second));
            var to = Math.Min(end, TimeUtil.TicksOfSecond(second + width));
            bounds[i] = from;
            bounds[i + 1] = to;
            var covered = (to - from) / (double)TimeUtil.TicksPerSecond;
            var count = countByBucket.GetValueOrDefault(i);
            empty[i] = count == 0;
            // A bucket's events keep their share of the rate: count/rate seconds, scaled to the part of
            // the bucket inside the window; an empty second weighs EmptySecondWeight.
            lengths[i] = rate is { } r ? Math.Max(count, EmptySecondWeight * width) * (covered / width) / r : covered;
        }

        if (maxGap is { } gap)
        {
            for (var i = 0; i < bucketCount;)
            {
                if (!empty[i])
                {
                    i++;
                    continue;
                }

                var j = i;
                var run = 0.0;
                while (j < bucketCount && empty[j])
                {
                    run += lengths[j++];
                }

                if (run > gap)
                {
                    var scale = gap / run;
                    for (var k = i; k < j; k++)
                    {
                        lengths[k] *= scale;
                    }
                }

                i = j;
            }
        }

        var total = lengths.Sum();
        var finalScale = duration is { } dur ? dur / total : 1.0;

        // Merge neighbouring buckets of equal slope so long uniform stretches cost one segment.
        var xs = new List<long> { bounds[0] };
        var ys = new List<double> { 0 };
        var position = 0.0;
        double? lastSlope = null;
        for (var i = 0; i < bucketCount; i++)
        {
            var len = lengths[i] * finalScale;
            if (!(len > 0) || !double.IsFinite(len) || !(position + len > position))
            {
                throw new ArgumentException($"The pacing gives a stretch of the window a playback length of {len} s; the warp would not be invertible.");
            }

            var slope = len / (bounds[i + 1] - bounds[i]);
            position += len;
            if (lastSlope is { } s && Math.Abs(s - slope) <= 1e-12 * Math.Max(Math.Abs(s), Math.Abs(slope)))
            {
                xs[^1] = bounds[i + 1];
                ys[^1] = position;
            }
            else
            {
                xs.Add(bounds[i + 1]);
                ys.Add(position);
                lastSlope = slope;
            }
        }

        return new PiecewiseWarp([.. xs], [.. ys]);
    }

    /// <summary>In <c>rate</c> mode an empty second weighs as 1/20 of an event, so quiet stretches shrink
    /// twenty-fold relative to a one-event second but never vanish (the warp stays invertible).</summary>
    public const double EmptySecondWeight = 0.05;
}

/// <summary>Stream time scaled by a constant (speed mode, duration mode).</summary>
internal sealed class LinearWarp(long start, long end, double scale) : Warp
{
    public override double Length { get; } = (end - start) / (double)TimeUtil.TicksPerSecond * scale;

    public override double ToPosition(long ticks) =>
        (Math.Clamp(ticks, start, end) - start) / (double)TimeUtil.TicksPerSecond * scale;

    public override long ToTicks(double position) =>
        start + (long)Math.Round(Math.Clamp(position, 0, Length) / scale * TimeUtil.TicksPerSecond);
}

/// <summary>A piecewise-linear warp through breakpoints (stream ticks → playback seconds).</summary>
internal sealed class PiecewiseWarp : Warp
{
    private readonly long[] _x;
    private readonly double[] _y;

    public PiecewiseWarp(long[] x, double[] y)
    {
        _x = x;
        _y = y;
    }

    public int Segments => _x.Length - 1;

    public override double Length => _y[^1];

    public override double ToPosition(long ticks)
    {
        if (ticks <= _x[0])
        {
            return 0;
        }

        if (ticks >= _x[^1])
        {
            return _y[^1];
        }

        var i = Array.BinarySearch(_x, ticks);
        if (i >= 0)
        {
            return _y[i];
        }

        i = ~i - 1;
        return _y[i] + (_y[i + 1] - _y[i]) * ((ticks - _x[i]) / (double)(_x[i + 1] - _x[i]));
    }

    public override long ToTicks(double position)
    {
        if (position <= 0)
        {
            return _x[0];
        }

        if (position >= _y[^1])
        {
            return _x[^1];
        }

        var i = Array.BinarySearch(_y, position);
        if (i >= 0)
        {
            return _x[i];
        }

        i = ~i - 1;
        return _x[i] + (long)Math.Round((_x[i + 1] - _x[i]) * ((position - _y[i]) / (_y[i + 1] - _y[i])));
    }
}
