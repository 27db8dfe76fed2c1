using Tivo.Events;
namespace Tivo.Grains.Playback;

/// <summary>A wall-clock instant (UTC ticks): when something happens for the people watching. Distinct from
/// <see cref="StreamTime"/> so the clock's two axes cannot be mixed up; playback positions (seconds of the
/// pacing warp, passes of a loop added) are plain doubles.</summary>
public readonly record struct WallTime(long Ticks) : IComparable<WallTime>
{
    public static WallTime operator +(WallTime time, TimeSpan span) => new(time.Ticks + span.Ticks);

    public static WallTime operator -(WallTime time, TimeSpan span) => new(time.Ticks - span.Ticks);

    public static TimeSpan operator -(WallTime later, WallTime earlier) => TimeSpan.FromTicks(later.Ticks - earlier.Ticks);

    public static bool operator <(WallTime a, WallTime b) => a.Ticks < b.Ticks;

    public static bool operator >(WallTime a, WallTime b) => a.Ticks > b.Ticks;

    public static bool operator <=(WallTime a, WallTime b) => a.Ticks <= b.Ticks;

    public static bool operator >=(WallTime a, WallTime b) => a.Ticks >= b.Ticks;

    public static WallTime Max(WallTime a, WallTime b) => a.Ticks >= b.Ticks ? a : b;

    public static WallTime Min(WallTime a, WallTime b) => a.Ticks <= b.Ticks ? a : b;

    public int CompareTo(WallTime other) => Ticks.CompareTo(other.Ticks);

    public override string ToString() => TimeUtil.ToIso(Ticks);
}

/// <summary>An instant of the stream being played (UTC ticks): an event's own timestamp, a window's edge, the playhead.</summary>
public readonly record struct StreamTime(long Ticks) : IComparable<StreamTime>
{
    public int CompareTo(StreamTime other) => Ticks.CompareTo(other.Ticks);

    public override string ToString() => TimeUtil.ToIso(Ticks);
}
