using Tivo.GrainInterfaces;

namespace Tivo.Grains.Playback;

/// <summary>
/// The speed a session really achieves: its speed less the share of the last few seconds it spent buffering
/// (the clock held because data was late) or held because its gateways ran late. Sampled once per tick.
/// A hold for late gateways is decided ahead: the clock stands still from then for that long, so it counts as it
/// passes, and the speed reported meanwhile is the one achieved by the hold's end (never below zero, however short the
/// history: a second's hold in the first 40 ms of a play once read as −24×).
/// </summary>
internal sealed class AchievedSpeedMeter
{
    /// <summary>How far back the meter looks.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(5);

    private readonly Queue<(WallTime Wall, long Buffered)> _samples = new();
    private (WallTime Wall, long Buffered) _last; // the newest sample (a Queue shows only its oldest: LINQ's Last() walked it all)
    private WallTime? _bufferingSince;
    private long _bufferedTotal;

    /// <summary>The latest hold for late gateways: the clock stands still over [from, until).</summary>
    private WallTime _holdFrom, _holdUntil;

    public bool Buffering => _bufferingSince is not null;

    public void StartBuffering(WallTime now) => _bufferingSince ??= now;

    /// <summary>Buffering ends, and a control re-anchors the clock: a hold still ahead of <paramref name="now"/> is void.</summary>
    public void EndBuffering(WallTime now)
    {
        if (_bufferingSince is { } since)
        {
            _bufferedTotal += (now - since).Ticks;
            _bufferingSince = null;
        }

        EndHold(now);
    }

    /// <summary>The clock stands still from <paramref name="from"/> for <paramref name="held"/> (its gateways ran late):
    /// counted like buffering as that time passes. A hold starting where the last one ends extends it.</summary>
    public void Hold(WallTime from, TimeSpan held)
    {
        if (from > _holdUntil || _holdUntil == _holdFrom)
        {
            _bufferedTotal += (_holdUntil - _holdFrom).Ticks; // the last hold is over: all of it counts
            (_holdFrom, _holdUntil) = (from, from + held);
        }
        else
        {
            _holdUntil += held;
        }
    }

    /// <summary>The clock is re-anchored at <paramref name="at"/> by a control: what was held ahead of it is not.</summary>
    public void EndHold(WallTime at)
    {
        if (_holdUntil > at)
        {
            _holdUntil = WallTime.Max(at, _holdFrom);
        }
    }

    /// <summary>Forgets the history (a new play).</summary>
    public void Reset()
    {
        _bufferedTotal = 0;
        (_holdFrom, _holdUntil) = (default, default);
        _samples.Clear();
    }

    public void Sample(WallTime now)
    {
        var buffered = _bufferedTotal + HeldBy(now) + (_bufferingSince is { } since ? (now - since).Ticks : 0);
        _last = (now, buffered);
        _samples.Enqueue(_last);
        while (_samples.Count > 2 && now - _samples.Peek().Wall > Window)
        {
            _samples.Dequeue();
        }
    }

    /// <summary>The achieved speed of a session in <paramref name="status"/> at <paramref name="speed"/>.</summary>
    public double Value(SessionStatus status, double speed)
    {
        if (status != SessionStatus.Playing)
        {
            return 0;
        }

        if (_samples.Count < 2)
        {
            return speed;
        }

        var first = _samples.Peek();
        var (lastWall, lastBuffered) = _last;
        if (_holdUntil > lastWall)
        {
            // A hold still to come: the speed achieved by its end.
            lastBuffered += (_holdUntil - WallTime.Max(lastWall, _holdFrom)).Ticks;
            lastWall = _holdUntil;
        }

        var wall = (lastWall - first.Wall).Ticks;
        return wall <= 0 ? speed : speed * Math.Clamp(1 - (lastBuffered - first.Buffered) / (double)wall, 0, 1);
    }

    /// <summary>How much of the latest hold has passed by <paramref name="now"/> (ticks).</summary>
    private long HeldBy(WallTime now) =>
        now <= _holdFrom ? 0 : (WallTime.Min(now, _holdUntil) - _holdFrom).Ticks;
}
