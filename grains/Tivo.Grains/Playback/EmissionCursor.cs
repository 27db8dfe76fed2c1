using System.Collections.Immutable;
using Tivo.GrainInterfaces;

namespace Tivo.Grains.Playback;

/// <summary>
/// Turns the clock and the read-ahead into the session's push stream: events with seq numbers and dues, and the
/// wrap, clock and end markers between them, in position order with one order number each. Owns the epoch
/// (bumped at every control, with the cut after which older pushes are void), the next seq and the next
/// order number.
/// </summary>
internal sealed class EmissionCursor(TimeSpan lookahead, TimeSpan clockInterval)
{
    /// <summary>How far ahead of due events are handed on (the session's cadence sets it).</summary>
    public TimeSpan Lookahead { get; set; } = lookahead;

    private int _nextWrapPass = 1;
    private WallTime _nextClockWall;
    private WallTime _endWall;

    // Reused by every emit (a batch takes a copy of exactly what it holds): new builders per emit grew their arrays
    // from 8 and then copied them, a tenth of the gateway's allocations at 1,000 sessions. Emptied after each emit, and
    // let go when one emit grew them past BuilderKeep (a day fitted into a second hands on everything at once): a session
    // keeps no events alive between ticks, nor a large array for the rest of its life.
    private readonly ImmutableArray<SessionEvent>.Builder _events = ImmutableArray.CreateBuilder<SessionEvent>();
    private readonly ImmutableArray<SessionSignal>.Builder _signals = ImmutableArray.CreateBuilder<SessionSignal>();

    public long Epoch { get; private set; }

    /// <summary>The cut of the current epoch: pushes of older epochs released after it are void.</summary>
    public WallTime Cutoff { get; private set; }

    public long NextSeq { get; private set; } = 1;

    /// <summary>The order number of the last push.</summary>
    public long Order { get; private set; }

    /// <summary>The end of a non-looping window was handed on, released at <see cref="EndWall"/>.</summary>
    public bool EndEmitted { get; private set; }

    public WallTime EndWall => _endWall;

    /// <summary>After a restore from a <see cref="ResumeMark"/>: seqs below this may have been handed on by the previous
    /// activation (receivers drop repeats); 0 otherwise. Cleared at the next control, which moves past them.</summary>
    public long ReplayedBelow { get; private set; }

    public long NextOrder() => ++Order;

    /// <summary>Continues a restored session's numbering above what its record reserved.</summary>
    public void Restore(long epoch, long nextSeq, long order)
    {
        Epoch = epoch;
        NextSeq = nextSeq;
        Order = order;
    }

    /// <summary>Starts a new epoch cut at <paramref name="cutoff"/>; the next clock tick is at the cut.</summary>
    public void StartEpoch(WallTime cutoff)
    {
        Epoch++;
        Cutoff = cutoff;
        _nextClockWall = cutoff;
        if (ReplayedBelow > 0)
        {
            NextSeq = Math.Max(NextSeq, ReplayedBelow); // a control's events are new: no seq of the previous activation is reused
            ReplayedBelow = 0;
        }
    }

    /// <summary>Continues a restored session right after <paramref name="mark"/>: the next event gets seq
    /// <c>LastSeq + 1</c> (the seq the previous activation gave it, if it got that far), in a new epoch that voids
    /// nothing queued (the receivers' queued events are the same events), the clock ticking from <paramref name="from"/>.</summary>
    public void ContinueAfter(ResumeMark mark, long replayedBelow, WallTime from)
    {
        Epoch++;
        Cutoff = new WallTime(long.MaxValue);
        _nextClockWall = from;
        NextSeq = mark.LastSeq + 1;
        ReplayedBelow = replayedBelow;
        Restart(mark.Pass);
    }

    /// <summary>The markers after a reset of the buffer: the next wrap ends <paramref name="pass"/>, no end handed on.</summary>
    public void Restart(int pass)
    {
        _nextWrapPass = pass + 1;
        EndEmitted = false;
    }

    /// <summary>The clock (re)starts at <paramref name="anchor"/>: no clock tick before it, so the first follows the
    /// state; the end is handed on anew.</summary>
    public void StartClock(WallTime anchor)
    {
        EndEmitted = false;
        _nextClockWall = WallTime.Max(_nextClockWall, anchor);
    }

    /// <summary>The clock moves again after buffering: the next clock tick is at <paramref name="now"/>.</summary>
    public void ResumeClock(WallTime now) => _nextClockWall = now;

    /// <summary>Re-issues the markers after a cut: the wrap of the pass at <paramref name="pass"/>, and the end if it fell after the cut.</summary>
    public void Rewind(WallTime cut, int pass)
    {
        _nextWrapPass = pass + 1;
        if (EndEmitted && _endWall > cut)
        {
            EndEmitted = false;
        }
    }

    /// <summary>
    /// Everything that falls due before <paramref name="now"/> + lookahead and is loaded, in position order, as one
    /// batch (null when nothing is). Ties: a wrap precedes the first event of the new pass; the end follows every
    /// event. Handed-on events go to <paramref name="log"/>; <paramref name="ended"/> gives the final state.
    /// </summary>
    public PlaybackBatch? Emit(WallTime now, SessionClock clock, SessionPlan plan, ReadAheadBuffer buffer, ReplayLog log, Func<SessionState> ended)
    {
        if (!clock.Running)
        {
            log.Trim(now); // a buffering session still ticks, and its log keeps to the silo's bound
            return null;
        }

        buffer.Released(now);
        var horizon = now + Lookahead;
        var limit = Math.Min(clock.PositionAt(horizon), buffer.LoadedThrough);
        if (!plan.Loop && buffer.AllLoaded)
        {
            limit = Math.Min(clock.PositionAt(horizon), plan.Length);
        }
        else if (plan.Live && buffer.AtLiveEdge)
        {
            // At the live edge the clock runs on with the present; events read later are handed on late.
            limit = Math.Min(clock.PositionAt(horizon), plan.Warp.ToPosition(horizon.Ticks));
        }

        var (events, signals) = (_events, _signals);
        try
        {
            while (true)
            {
                var eventPos = buffer.TryPeek(out var next, out var pass) ? pass * plan.Length + plan.Warp.ToPosition(next.Ticks) : double.PositiveInfinity;
                var wrapPos = plan.Loop ? _nextWrapPass * plan.Length : double.PositiveInfinity;
                var clockPos = EndEmitted ? double.PositiveInfinity : clock.PositionAt(_nextClockWall);
                var endPos = !plan.Loop && buffer.AllLoaded && !EndEmitted ? plan.Length : double.PositiveInfinity;

                if (wrapPos <= eventPos && wrapPos <= clockPos && wrapPos <= endPos)
                {
                    if (wrapPos > limit)
                    {
                        break;
                    }

                    signals.Add(new LoopSignal(clock.WallAt(wrapPos).Ticks, ++Order, _nextWrapPass));
                    _nextWrapPass++;
                }
                else if (eventPos <= clockPos && eventPos <= endPos)
                {
                    if (eventPos > limit)
                    {
                        break;
                    }

                    var due = clock.WallAt(eventPos);
                    var sessionEvent = new SessionEvent(next.Channel, next.Ticks, NextSeq++, due.Ticks, ++Order, next.Data, Pass: pass);
                    events.Add(sessionEvent);
                    log.Add(sessionEvent);
                    buffer.Advance(due);
                }
                else if (clockPos < endPos)
                {
                    if (clockPos > limit || _nextClockWall > horizon)
                    {
                        break;
                    }

                    signals.Add(new ClockSignal(_nextClockWall.Ticks, ++Order, plan.StreamAt(clockPos).Ticks, clock.Speed, clock.PassAt(clockPos)));
                    _nextClockWall += clockInterval;
                }
                else
                {
                    if (endPos > limit)
                    {
                        break;
                    }

                    EndEmitted = true;
                    _endWall = clock.WallAt(plan.Length);
                    var state = ended();
                    signals.Add(new StateSignal(_endWall.Ticks, ++Order, state));
                    break;
                }
            }

            buffer.Trim();
            log.Trim(now);
            return events.Count > 0 || signals.Count > 0
                ? new PlaybackBatch(Epoch, Cutoff.Ticks, events.ToImmutable(), signals.ToImmutable(), ReplayedBelow: ReplayedBelow)
                : null;
        }
        finally
        {
            Empty(events);
            Empty(signals);
        }
    }

    private const int BuilderKeep = 1024;

    private static void Empty<T>(ImmutableArray<T>.Builder builder)
    {
        builder.Clear();
        if (builder.Capacity > BuilderKeep)
        {
            builder.Capacity = 0;
        }
    }
}
