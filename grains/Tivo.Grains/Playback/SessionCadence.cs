namespace Tivo.Grains.Playback;

/// <summary>
/// How often a session ticks and how far ahead of due it hands events on. A play from a connection with a lead (its
/// client holds events until their due) needs them only that far ahead, so the session ticks every lead less the margin
/// for the push's way to the gateway (<see cref="PlaybackOptions.Lookahead"/> − <see cref="PlaybackOptions.TickInterval"/>,
/// 100 ms by default; at most <see cref="MaxLeadTick"/>, never more often than <see cref="PlaybackOptions.TickInterval"/>)
/// and hands on up to the lead ahead (never less than a tick plus the margin). Each push then reaches the gateway the
/// margin before its first event's due, as a plain play's does, carrying a tick's worth of events all within the lead: for
/// a lead of over four margins (the default 500 ms) its earliest is then within a quarter of the lead of its due, and the
/// gateway sends it at once as one frame with no release timer in between (with a shorter lead the frame
/// may wait for the timer) — one tick, one push, one wake-up and one frame per 400 ms at the default lead, where a tick every
/// half lead handing on a margin beyond it cost two pushes, and frames each with a wake-up of its own, in the same time
/// (docs/performance.md). Plain connections in the session are unaffected (their gateway releases each event at its
/// due); live sessions keep the configured cadence (their events come as they land). Where the full lookahead exceeds
/// the least that keeps every push ahead of its due (a lead longer than <see cref="MaxLeadTick"/> plus the margin), it
/// grows to it over the time since a start, so a start does not hand on the whole lead at once (1,000 sessions
/// starting together each pushing 1.5 s of events in their first push made the first second late).
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

    /// <summary>When the first tick comes, from <paramref name="nowMs"/> (<see cref="Environment.TickCount64"/>): at a random
    /// point of the period on <see cref="TickGrid"/> (never later than a whole period, which the first push's lookahead covers),
    /// so sessions started together push — and their viewers' frames go — spread over the period, not all at once every
    /// tick. The session's later ticks keep to that point of the period (<see cref="NextTickIn"/>).</summary>
    public TimeSpan FirstTick(long nowMs)
    {
        _firstTickMs = RoundUp(nowMs + 1 + Random.Shared.NextInt64((long)TickInterval.TotalMilliseconds), GridMs);
        return TimeSpan.FromMilliseconds(_firstTickMs - nowMs);
    }

    /// <summary>When the first tick was (<see cref="Environment.TickCount64"/> ms): the session's ticks are this plus whole periods.</summary>
    private long _firstTickMs;

    /// <summary>Every session's ticks fall on this grid of the grain timers' millisecond clock, so the ticks due at one point
    /// of it fire together, still spread over the period: one wake-up of the grain timers' thread (<see cref="Timing.GrainTimerClock"/>)
    /// for many sessions, where 1,000 sessions' ticks spread over the period fired on nearly every millisecond. The grid
    /// came first for the runtime's timer queue, which grain timers used then and which walks all its near timers whenever
    /// one fires (with lead at 1,000 sessions the walks went from 7.6–9.6% of the gateway's samples to 4.0–5.9%).</summary>
    public static readonly TimeSpan TickGrid = TimeSpan.FromMilliseconds(5);

    private static readonly long GridMs = (long)TickGrid.TotalMilliseconds;

    /// <summary>When the next tick comes, from <paramref name="nowMs"/> (<see cref="Environment.TickCount64"/>, the clock of
    /// the grain timers, as of the runtime's): the session's next point of the period (its first tick plus whole periods, rounded up to
    /// <see cref="TickGrid"/>) at least half a period on. A tick that ran late does not move the ones after it: scheduled a
    /// period after the late tick, as they were, the ticks of sessions held up by the same busy moment stayed together from
    /// then on, and at 1,000 lead sessions the gateway came to write 246 frames in 10 ms at p99 against 28 on average —
    /// bursts the JS clients then took in stalls of their whole process (docs/performance.md).</summary>
    public TimeSpan NextTickIn(long nowMs)
    {
        var period = Math.Max(1, (long)Math.Ceiling(TickInterval.TotalMilliseconds));
        var earliest = nowMs + ((period + 1) / 2);
        var at = _firstTickMs + (earliest <= _firstTickMs ? 0 : RoundUp(earliest - _firstTickMs, period));
        return TimeSpan.FromMilliseconds(RoundUp(at, GridMs) - nowMs);
    }

    /// <summary><paramref name="ms"/> rounded up to a whole number of <paramref name="step"/>s (both positive).</summary>
    private static long RoundUp(long ms, long step) => (ms + step - 1) / step * step;

    /// <summary>Takes the cadence of <paramref name="plan"/> (its play's lead).</summary>
    public void Adopt(SessionPlan plan)
    {
        var lead = plan.Live ? TimeSpan.Zero : TimeSpan.FromMilliseconds(plan.Spec.LeadMs);
        var margin = options.Lookahead - options.TickInterval;
        TickInterval = TimeSpan.FromTicks(Math.Max(options.TickInterval.Ticks, Math.Min((lead - margin).Ticks, MaxLeadTick.Ticks)));
        _least = TickInterval + margin;
        _full = TimeSpan.FromTicks(Math.Max(lead.Ticks, _least.Ticks));
    }

    /// <summary>The clock (re)started at <paramref name="now"/>.</summary>
    public void Started(WallTime now) => _startedAt = now;

    /// <summary>How far ahead of due to hand events on at <paramref name="now"/>.</summary>
    public TimeSpan LookaheadAt(WallTime now) => TimeSpan.FromTicks(Math.Min(_full.Ticks, (_least + (now - _startedAt)).Ticks));
}
