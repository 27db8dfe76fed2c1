using Tivo.GrainInterfaces;

namespace Tivo.Grains.Playback;

/// <summary>
/// The speed a session really achieves: its speed less the share of the last few seconds it spent buffering
/// (the clock held because data was late) or held because its gateways ran late. Sampled once per tick.
/// </summary>
internal sealed class AchievedSpeedMeter
{
    /// <summary>How far back the meter looks.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(5);

    private readonly Queue<(WallTime Wall, long Buffered)> _samples = new();
    private WallTime? _bufferingSince;
    private long _bufferedTotal;

    public bool Buffering => _bufferingSince is not null;

    public void StartBuffering(WallTime now) => _bufferingSince ??= now;

    public void EndBuffering(WallTime now)
    {
        if (_bufferingSince is { } since)
        {
            _bufferedTotal += (now - since).Ticks;
            _bufferingSince = null;
        }
    }

    /// <summary>The clock was held for <paramref name="held"/> (its gateways ran late): counted like buffering.</summary>
    public void Hold(TimeSpan held) => _bufferedTotal += held.Ticks;

    /// <summary>Forgets the history (a new play).</summary>
    public void Reset()
    {
        _bufferedTotal = 0;
        _samples.Clear();
    }

    public void Sample(WallTime now)
    {
        var buffered = _bufferedTotal + (_bufferingSince is { } since ? (now - since).Ticks : 0);
        _samples.Enqueue((now, buffered));
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
        var last = _samples.Last();
        var wall = (last.Wall - first.Wall).Ticks;
        return wall <= 0 ? speed : speed * (1 - (last.Buffered - first.Buffered) / (double)wall);
    }
}
