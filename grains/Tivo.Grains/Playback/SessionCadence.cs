namespace Tivo.Grains.Playback;

/// <summary>
/// How often a session ticks and how far ahead of due it hands events on. A play from a connection with a lead (its
/// client holds events until their due) needs them only that far ahead, so the session ticks every half lead (at most
/// <see cref="MaxLeadTick"/>, never more often than <see cref="PlaybackOptions.TickInterval"/>) and hands on up to a tick
/// plus the lead ahead, plus the configured margin (<see cref="PlaybackOptions.Lookahead"/> − <see cref="PlaybackOptions.TickInterval"/>)
/// for the push's way to the gateway: fewer, larger pushes and frames for the same events. (Without the margin the gateway
/// held less than the lead just before each push and sent the rest as the push came — the frames of sessions started
/// together went out together, every tick.) Plain connections in the session are
/// unaffected (their gateway releases each event at its due); live sessions keep the configured cadence (their events
/// come as they land). After a start the lookahead grows from the least that keeps every push ahead of its due to the
/// full one, so a start does not hand on the whole lead at once (1,000 sessions starting together each pushed 1.5 s of
/// events in their first push, and the first second came late).
/// </summary>
internal sealed class SessionCadence(PlaybackOptions options)
{
    /// <summary>The longest tick a lead play gets.</summary>
    public static readonly TimeSpan MaxLeadTick = TimeSpan.FromMilliseconds(500);

    private TimeSpan _least = options.Lookahead;
    private TimeSpan _full = options.Lookahead;
    private WallTime _startedAt;

    /// <summary>The period of the session's tick.</summary>
    public TimeSpan TickInterval { get; private set; } = options.TickInterval;

    /// <summary>When the first tick comes: at a random point of the period (never later than a whole period, which the
    /// first push's lookahead covers), so sessions started together push — and their viewers' frames go — spread over
    /// the period, not all at once every tick.</summary>
    public TimeSpan FirstTick() => TimeSpan.FromTicks(1 + Random.Shared.NextInt64(TickInterval.Ticks));

    /// <summary>Every session's ticks after its first fall on this grid of the runtime's millisecond clock: the runtime's
    /// timer queue walks all its near timers whenever one fires, and 1,000 sessions' ticks spread over the period fired on
    /// nearly every millisecond; on a grid they fire together, still spread over the period (with lead at 1,000 sessions the
    /// walks went from 7.6–9.6% of the gateway's samples to 4.0–5.9%).</summary>
    public static readonly TimeSpan TickGrid = TimeSpan.FromMilliseconds(5);

    /// <summary>When the next tick comes, from <paramref name="nowMs"/> (<see cref="Environment.TickCount64"/>, the clock of
    /// the runtime's timers): a period on, rounded up to <see cref="TickGrid"/>.</summary>
    public TimeSpan NextTickIn(long nowMs)
    {
        var grid = (long)TickGrid.TotalMilliseconds;
        var at = nowMs + (long)Math.Ceiling(TickInterval.TotalMilliseconds);
        return TimeSpan.FromMilliseconds((at + grid - 1) / grid * grid - nowMs);
    }

    /// <summary>Takes the cadence of <paramref name="plan"/> (its play's lead).</summary>
    public void Adopt(SessionPlan plan)
    {
        var lead = plan.Live ? TimeSpan.Zero : TimeSpan.FromMilliseconds(plan.Spec.LeadMs);
        var margin = options.Lookahead - options.TickInterval;
        TickInterval = TimeSpan.FromTicks(Math.Max(options.TickInterval.Ticks, Math.Min(lead.Ticks / 2, MaxLeadTick.Ticks)));
        _least = TickInterval + margin;
        _full = TickInterval + margin + lead;
    }

    /// <summary>The clock (re)started at <paramref name="now"/>.</summary>
    public void Started(WallTime now) => _startedAt = now;

    /// <summary>How far ahead of due to hand events on at <paramref name="now"/>.</summary>
    public TimeSpan LookaheadAt(WallTime now) => TimeSpan.FromTicks(Math.Min(_full.Ticks, (_least + (now - _startedAt)).Ticks));
}
