using Tivo.GrainInterfaces;

namespace Tivo.Grains.Playback;

/// <summary>
/// What a session persists of its clock: status, anchor and speed. The anchor is absolute wall time, so a
/// playing clock runs on while no silo holds the session and a restored session resumes where it is now.
/// </summary>
[GenerateSerializer, Immutable, Alias("tivo.ClockAnchor")]
public sealed record ClockAnchor(
    [property: Id(0)] SessionStatus Status,
    [property: Id(1)] long WallTicks,
    [property: Id(2)] double Position,
    [property: Id(3)] double Speed);

/// <summary>
/// A session's dilated clock: <c>position = anchor position + (wall − anchor wall) × speed</c> while playing,
/// frozen at the anchor otherwise. Position is playback seconds of the pacing warp (a loop adds one length
/// per pass). Every change goes through <see cref="Reanchor"/> or <see cref="SetStatus"/>, which mark the
/// clock <see cref="Changed"/> so the session saves it on its next tick at the latest.
/// </summary>
internal sealed class SessionClock
{
    public ClockAnchor Anchor { get; private set; } = new(SessionStatus.Idle, 0, 0, 1);

    /// <summary>Playback length of one pass (the warp's length); positions clamp to it unless looping.</summary>
    public double Length { get; private set; }

    public bool Loop { get; private set; }

    /// <summary>Changed since the last <see cref="MarkSaved"/>.</summary>
    public bool Changed { get; private set; }

    public SessionStatus Status => Anchor.Status;

    public double Speed => Anchor.Speed;

    public WallTime WallAnchor => new(Anchor.WallTicks);

    public double PositionAnchor => Anchor.Position;

    /// <summary>The clock runs (time passes for the stream).</summary>
    public bool Running => Anchor.Status == SessionStatus.Playing;

    /// <summary>Playing or holding for data: the session has somewhere to go.</summary>
    public bool Active => Anchor.Status is SessionStatus.Playing or SessionStatus.Buffering;

    /// <summary>Sets what one pass is: from a new plan, or a restored one.</summary>
    public void Configure(double length, bool loop)
    {
        Length = length;
        Loop = loop;
    }

    /// <summary>Playback position at <paramref name="wall"/> (frozen unless running).</summary>
    public double PositionAt(WallTime wall)
    {
        if (!Running || wall.Ticks <= Anchor.WallTicks)
        {
            return Anchor.Position;
        }

        var position = Anchor.Position + (wall.Ticks - Anchor.WallTicks) / (double)TimeSpan.TicksPerSecond * Anchor.Speed;
        return Loop ? position : Math.Min(position, Length);
    }

    /// <summary>The wall time at which playback reaches <paramref name="position"/> at the current speed.</summary>
    public WallTime WallAt(double position) =>
        new(Anchor.WallTicks + (long)Math.Round((position - Anchor.Position) / Anchor.Speed * TimeSpan.TicksPerSecond));

    /// <summary>The loop pass a position is in (0 without a loop).</summary>
    public int PassAt(double position) => Loop && Length > 0 ? Math.Max(0, (int)Math.Floor(position / Length)) : 0;

    /// <summary>The one way the clock moves: from <paramref name="wall"/> on, it reads <paramref name="position"/>,
    /// optionally in a new status and at a new speed.</summary>
    public void Reanchor(WallTime wall, double position, SessionStatus? status = null, double? speed = null)
    {
        Anchor = new ClockAnchor(status ?? Anchor.Status, wall.Ticks, position, speed ?? Anchor.Speed);
        Changed = true;
    }

    /// <summary>
    /// Stands the clock still from <paramref name="from"/> for <paramref name="held"/> (its gateways ran late), without
    /// marking it <see cref="Changed"/>: under load every session is held a few times a second, and saving each hold
    /// would add a grain-storage write per hold to a cluster already short of CPU. Nothing needs it saved: a session
    /// restored after its silo died resumes at the mark its gateways give (the last event they had, at its due), and
    /// without one nobody was watching what the older anchor skips; the next save for any other reason carries it.
    /// </summary>
    public void Hold(WallTime from, TimeSpan held)
    {
        var changed = Changed;
        Reanchor(from + held, PositionAt(from));
        Changed = changed;
    }

    /// <summary>Changes the status keeping the position: a clock running past its anchor is first re-anchored at
    /// <paramref name="now"/>; one anchored ahead of now (a control's cut) keeps its anchor.</summary>
    public void SetStatus(SessionStatus status, WallTime now)
    {
        if (status != Anchor.Status)
        {
            Reanchor(Running && now > WallAnchor ? now : WallAnchor, PositionAt(now), status);
        }
    }

    /// <summary>Brings back a persisted anchor as it was written.</summary>
    public void Restore(ClockAnchor anchor)
    {
        Anchor = anchor;
        Changed = false;
    }

    public void MarkSaved() => Changed = false;
}
