using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Tivo.GrainInterfaces;
using Tivo.Grains.Caching;

namespace Tivo.Grains.Playback;

/// <summary>
/// The playback mechanics of one session over its parts, without Orleans: adopting a plan, cutting the stream at a
/// control (take back what falls due after the cut, re-anchor, new epoch), following the read-ahead (hold the clock
/// while data is late, let it go when it is back), catching up with live, and turning it all into pushes and state
/// reports. The grain decides when (controls, ticks, saves); this decides what.
/// </summary>
internal sealed partial class SessionPlayer
{
    private readonly PlaybackOptions _options;
    private readonly IPlaybackSource _source;
    private readonly TimeProvider _time;
    private readonly ParticipantSet _participants;
    private readonly Action<int> _eventsPushed;
    private readonly ILogger _logger;
    private readonly string _sessionId;

    private readonly string? _host;

    /// <summary>The state an emission that reached the window's end reports (one delegate, not a closure per tick).</summary>
    private readonly Func<SessionState> _endedState;

    public SessionPlayer(string sessionId, PlaybackOptions options, ChunkGrid grid, IPlaybackSource source, TimeProvider time,
        ParticipantSet participants, ILogger logger, Action<int> eventsPushed, string? host = null, ReplayBudget? replayBudget = null)
    {
        _host = host;
        _eventsPushed = eventsPushed;
        _logger = logger;
        _sessionId = sessionId;
        _options = options;
        _source = source;
        _time = time;
        _participants = participants;
        Log = new ReplayLog(options.ReplayEvents, options.ReplayBytes, replayBudget);
        Cursor = new EmissionCursor(options.Lookahead, options.ClockInterval);
        Cadence = new SessionCadence(options);
        Buffer = new ReadAheadBuffer(grid, source);
        _endedState = () => Report(SessionStatus.Ended, Plan!.WindowEnd, 0); // called only from Emit, with a plan
        Loader = new ReadAheadLoader(sessionId, Buffer, Clock, source, options, time, logger, () => Emit(Now),
            message => Broadcast(new ErrorSignal(Now.Ticks, Cursor.NextOrder(), ErrorCodes.StoreUnavailable, message)));
    }

    public SessionPlan? Plan { get; private set; }

    /// <summary>How often the session ticks and how far ahead it hands events on (a lead play: less often, further).</summary>
    public SessionCadence Cadence { get; }

    public SessionClock Clock { get; } = new();

    public ReadAheadBuffer Buffer { get; }

    public ReadAheadLoader Loader { get; }

    public EmissionCursor Cursor { get; }

    public ReplayLog Log { get; }

    public AchievedSpeedMeter Meter { get; } = new();

    private WallTime Now => new(_time.GetUtcNow().UtcTicks);

    /// <summary>Takes <paramref name="plan"/> on from its start at <paramref name="speed"/>, frozen until the first chunk is read.</summary>
    public void Adopt(SessionPlan plan, double speed, WallTime now)
    {
        Plan = plan;
        Cadence.Adopt(plan);
        Clock.Configure(plan.Length, plan.Loop);
        Clock.Reanchor(now, 0, SessionStatus.Paused, speed);
        StartEpoch(now);
        ResetBuffer(0, plan.WindowStart);
        Meter.EndBuffering(now);
        Meter.Reset();
    }

    /// <summary>Takes a persisted plan and anchor back; the clock is re-anchored at <paramref name="now"/> where it has got
    /// to, held (buffering) when it was playing until the caller resumes it. Returns the status it had.</summary>
    public SessionStatus Restore(SessionPlan plan, ClockAnchor anchor, WallTime now)
    {
        Plan = plan;
        Cadence.Adopt(plan);
        Clock.Configure(plan.Length, plan.Loop);
        Clock.Restore(anchor with { Status = anchor.Status == SessionStatus.Buffering ? SessionStatus.Playing : anchor.Status });
        var (status, position) = (Clock.Status, Clock.PositionAt(now));
        if (status == SessionStatus.Playing && !plan.Loop && position >= plan.Length)
        {
            (status, position) = (SessionStatus.Ended, plan.Length);
        }

        Clock.Reanchor(now, position, status == SessionStatus.Playing ? SessionStatus.Buffering : status); // held until it resumes
        StartEpoch(now);
        var over = status is SessionStatus.Ended or SessionStatus.Stopped;
        ResetBuffer(over ? 0 : Clock.PassAt(position), over ? plan.WindowStart : plan.StreamAt(position));
        LogRestored(_logger, _sessionId, status, plan.StreamAt(position).ToString());
        return status;
    }

    /// <summary>Pauses at a cut just ahead (what falls due after it is taken back) and says so.</summary>
    public void Pause(WallTime now)
    {
        var cut = Cut(now);
        Clock.SetStatus(SessionStatus.Paused, now);
        Meter.EndBuffering(now);
        Broadcast(StateAt(cut));
    }

    /// <summary>Resumes a paused clock where it stopped, in a new epoch, and starts pushing.</summary>
    public void Resume(WallTime now)
    {
        var at = WallTime.Max(now, Clock.WallAnchor);
        Clock.Reanchor(at, Clock.PositionAnchor, SessionStatus.Playing);
        StartEpoch(at);
        Start(now);
    }

    /// <summary>Moves the playhead to <paramref name="to"/> (in the pass the clock is in), frozen until the caller starts it
    /// again: at a cut just ahead when <paramref name="playing"/>, else now. Each channel's last value before the target
    /// goes out first, marked as a snapshot and released at the cut, so a chart of last-known values is not empty
    /// until the next event. Returns the cut.</summary>
    public async Task<WallTime> SeekAsync(StreamTime to, WallTime now, bool playing)
    {
        var cut = playing ? now + _options.ControlLeadTime : now;
        var pass = Clock.PassAt(Clock.PositionAt(cut));
        Meter.EndBuffering(now);
        StartEpoch(cut);
        ResetBuffer(pass, to);
        Clock.Reanchor(cut, Plan!.PositionOf(to, pass), SessionStatus.Paused);
        if (await _source.LastValuesAsync(Plan.Channels, to, Plan.WindowStart, cut, Cursor.NextOrder) is { Count: > 0 } snapshot)
        {
            Send(new PlaybackBatch(Cursor.Epoch, Cursor.Cutoff.Ticks, [.. snapshot], []));
        }

        return cut;
    }

    /// <summary>A new speed from a cut just ahead (or from now, when not running), said to every participant.</summary>
    public void ChangeSpeed(WallTime now, double speed)
    {
        var active = Clock.Active;
        var at = active ? Cut(now) : now;
        Clock.Reanchor(active ? at : Clock.WallAnchor, Clock.PositionAnchor, speed: speed);
        Broadcast(StateAt(at));
        Emit(now);
    }

    /// <summary>The longest a single report holds the clock.</summary>
    public static readonly TimeSpan MaxHold = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Its gateways send late by <paramref name="late"/> (their CPU cannot keep up): holds the clock that long, like a
    /// short pause without a cut — what was handed on keeps its dues, everything after comes that much later, in order —
    /// and counts it against the achieved speed. Tells the participants (at most once a second) so they see it. Returns
    /// how long the clock is held (zero: not playing, or live).
    /// </summary>
    public TimeSpan SlowDown(WallTime now, TimeSpan late)
    {
        if (Clock.Status != SessionStatus.Playing || late <= TimeSpan.Zero || Plan is { Live: true })
        {
            return TimeSpan.Zero; // a live session follows the present: its events are due as they arrive
        }

        late = late > MaxHold ? MaxHold : late;
        var from = WallTime.Max(now, Clock.WallAnchor);
        Clock.Hold(from, late);
        Meter.Hold(from, late);
        Meter.Sample(now);
        if (_lastSlowDownState is not { } last || now - last >= TimeSpan.FromSeconds(1))
        {
            _lastSlowDownState = now;
            Broadcast(StateAt(now));
        }

        return late;
    }

    private WallTime? _lastSlowDownState;

    /// <summary>Stops: the playhead returns to the window's start and the read-ahead is dropped.</summary>
    public void Stop(WallTime now)
    {
        Meter.EndBuffering(now);
        StartEpoch(now);
        ResetBuffer(0, Plan!.WindowStart);
        Clock.Reanchor(now, 0, SessionStatus.Stopped);
        Broadcast(StateAt(now));
    }

    /// <summary>Continues a restored session right after <paramref name="mark"/> (the last event handed on): frozen at that
    /// event's position until the caller starts it, anchored at its due or now, whichever is later, in an epoch that voids
    /// nothing queued. Seqs below <paramref name="replayedBelow"/> may be repeats for some receivers, who drop them.</summary>
    public void ResumeAfter(ResumeMark mark, long replayedBelow, WallTime now)
    {
        var plan = Plan!;
        LogResumed(_logger, _sessionId, mark.LastSeq, new StreamTime(mark.Ticks).ToString());
        var at = WallTime.Max(now, new WallTime(mark.DueTicks));
        Buffer.Reset(plan, mark.Pass, new StreamTime(mark.Ticks), skipAtFrom: mark.SameTicks);
        Log.DropAfterSeq(mark.LastSeq); // a handover's tail beyond the mark is handed on again
        Loader.Reset();
        Cursor.ContinueAfter(mark, replayedBelow, at);
        Clock.Reanchor(at, plan.PositionOf(new StreamTime(mark.Ticks), mark.Pass), SessionStatus.Paused);
    }

    /// <summary>The last event handed on, as a <see cref="ResumeMark"/> (null when the log holds none).</summary>
    public ResumeMark? LastHandedOn() => Log.LastMark();

    /// <summary>Starts a restored playing session: right after <paramref name="mark"/> when there is one (see
    /// <see cref="ResumeAfter"/>), else where its clock is; once the first chunk is read, or holding (buffering) at the
    /// playhead while the store is away too (the loader retries).</summary>
    public async Task StartRestoredAsync(ResumeMark? mark = null, long replayedBelow = 0)
    {
        if (mark is not null)
        {
            ResumeAfter(mark, replayedBelow, Now);
        }

        if (await Loader.LoadFirstAsync() is not null)
        {
            Clock.SetStatus(SessionStatus.Buffering, Now);
            Meter.StartBuffering(Now);
        }
        else
        {
            Clock.Reanchor(WallTime.Max(Clock.WallAnchor, Now), Clock.PositionAnchor, SessionStatus.Playing);
        }

        Start(Now);
    }

    /// <summary>A control takes effect at now + lead: takes back what falls due after that cut and anchors the clock at it
    /// (position continuous), in a new epoch. Returns the cut.</summary>
    public WallTime Cut(WallTime now)
    {
        var cut = now + _options.ControlLeadTime;
        var position = Clock.PositionAt(cut);
        Rewind(cut, position);
        Clock.Reanchor(cut, position);
        Meter.EndHold(cut); // a hold for late gateways ahead of the cut is void
        StartEpoch(cut);
        return cut;
    }

    /// <summary>What was handed on for after the cut is void: the log forgets it and pushes carry a new epoch.</summary>
    public void StartEpoch(WallTime cutoff)
    {
        Log.DropDueAfter(cutoff);
        Cursor.StartEpoch(cutoff);
    }

    public void ResetBuffer(int pass, StreamTime from)
    {
        Buffer.Reset(Plan!, pass, from);
        Loader.Reset();
        Cursor.Restart(pass);
    }

    /// <summary>Turns "playing" into "ended" once the wall clock passes the end of a non-looping window; true when it did.</summary>
    public bool RefreshStatus(WallTime now)
    {
        if (!Clock.Running || !Cursor.EndEmitted || now < Cursor.EndWall)
        {
            return false;
        }

        Clock.Reanchor(Cursor.EndWall, Plan!.Length, SessionStatus.Ended);
        return true;
    }

    /// <summary>The clock (re)starts at its anchor: the state first, then what is due, and the loader if needed.</summary>
    public void Start(WallTime now)
    {
        Cadence.Started(now);
        Cursor.StartClock(Clock.WallAnchor); // no clock tick before the clock starts: hello, ack, state, clock
        Broadcast(StateAt(Clock.WallAnchor));
        Emit(now);
        Loader.Ensure(now);
    }

    /// <summary>One tick of an active session: live catch-up, buffering in or out, the speed meter, pushes, loading.</summary>
    public void Advance(WallTime now)
    {
        CatchUpWithLive(now);
        if (Clock.Running && Buffer.MoreToLoad && !Buffer.AtLiveEdge && Clock.PositionAt(now) > Buffer.LoadedThrough)
        {
            // The store fell behind: hold the clock at the loaded edge (never skip, never reorder).
            Clock.Reanchor(now, Buffer.LoadedThrough, SessionStatus.Buffering);
            Meter.StartBuffering(now);
            Broadcast(StateAt(now));
        }
        else if (Clock.Status == SessionStatus.Buffering && Buffer.LoadedThrough > Clock.PositionAnchor && !Loader.StoreFailing)
        {
            Meter.EndBuffering(now);
            Clock.Reanchor(now, Clock.PositionAnchor, SessionStatus.Playing);
            Cursor.ResumeClock(now);
            Broadcast(StateAt(now));
        }

        Meter.Sample(now);
        TellAchievedSpeed(now);
        Emit(now);
        Loader.Ensure(now);
    }

    /// <summary>The <c>achievedSpeed</c> the last state told while below the speed, and when (null: at speed, or not playing).</summary>
    private (double Achieved, WallTime At)? _toldSlowed;

    /// <summary>After a state told a playing session's achieved speed below its speed (it buffered or was held), tells it
    /// again as it moves — at most once a second, by at least 5% of the speed — until it is back at its speed, so what a
    /// participant shows does not stay at the slowed figure once the pressure is gone.</summary>
    private void TellAchievedSpeed(WallTime now)
    {
        if (_toldSlowed is { } told && Clock.Status == SessionStatus.Playing && now - told.At >= TimeSpan.FromSeconds(1)
            && Meter.Value(Clock.Status, Clock.Speed) is var achieved
            && (achieved >= Clock.Speed || Math.Abs(achieved - told.Achieved) >= 0.05 * Clock.Speed))
        {
            Broadcast(StateAt(now));
        }
    }

    /// <summary>A live session faster than real time that reaches the present switches to speed 1 and follows it; like any
    /// control, at a cut slightly ahead, so nothing handed on is lost or repeated.</summary>
    private void CatchUpWithLive(WallTime now)
    {
        var cut = now + _options.ControlLeadTime;
        var edge = Plan is { Live: true } plan ? plan.PositionOf(new StreamTime(cut.Ticks)) : double.PositiveInfinity;
        if (!Clock.Running || Clock.Speed <= 1 || Clock.PositionAt(cut) < edge)
        {
            return;
        }

        Rewind(cut, edge);
        Clock.Reanchor(cut, edge, speed: 1);
        StartEpoch(cut);
        Broadcast(StateAt(cut));
    }

    private void Rewind(WallTime cut, double position)
    {
        Buffer.Rewind(cut);
        Cursor.Rewind(cut, Clock.PassAt(position));
    }

    /// <summary>Pushes whatever falls due within the lookahead.</summary>
    public void Emit(WallTime now)
    {
        Cursor.Lookahead = Cadence.LookaheadAt(now);
        if (Plan is { } plan && Cursor.Emit(now, Clock, plan, Buffer, Log, _endedState) is { } batch)
        {
            Send(batch);
        }
    }

    public void Broadcast(SessionSignal signal)
    {
        if (signal is StateSignal { State: var state })
        {
            _toldSlowed = state.Status == SessionStatus.Playing && state.AchievedSpeed < state.Speed
                ? (state.AchievedSpeed, new WallTime(signal.ReleaseTicks)) : null;
        }

        Send(SignalBatch(signal));
    }

    /// <summary>A batch carrying only <paramref name="signal"/>, in the current epoch.</summary>
    public PlaybackBatch SignalBatch(SessionSignal signal) => new(Cursor.Epoch, Cursor.Cutoff.Ticks, [], [signal]);

    /// <summary>A state signal released at <paramref name="release"/>, with the state as of then.</summary>
    public StateSignal StateAt(WallTime release)
    {
        var order = Cursor.NextOrder();
        return new StateSignal(release.Ticks, order, Snapshot(release));
    }

    /// <summary>
    /// What a joining participant gets before the shared stream: with a last seq, every held event after it (and a
    /// gap naming what is no longer held — for a restored session waiting to resume, what is neither held nor after
    /// <paramref name="continuesAfter"/>, the lowest mark offered); otherwise the last event per channel before the playhead (marked snapshot),
    /// then whatever was already handed on for later. Addressed to that participant, with the seq the join happened at.
    /// </summary>
    public async Task<PlaybackBatch> CatchUpAsync(string participantId, ImmutableArray<string> channels, long? lastSeq, long? continuesAfter = null)
    {
        var events = ImmutableArray.CreateBuilder<SessionEvent>();
        var signals = ImmutableArray.CreateBuilder<SessionSignal>();
        // Where the shared stream goes on: the next seq, or — a restored session waiting to resume — right after the
        // lowest mark offered so far (its next seq is only a reservation until then).
        var next = continuesAfter is { } after ? after + 1 : Cursor.NextSeq;
        if (lastSeq is { } last)
        {
            var (missed, gap) = Log.After(last, next, Now);
            events.AddRange(missed);
            if (gap is not null)
            {
                signals.Add(gap);
            }
        }
        else if (Plan is { } plan && Clock.Status is SessionStatus.Playing or SessionStatus.Buffering or SessionStatus.Paused)
        {
            var order = 0L;
            var wanted = channels.IsDefaultOrEmpty ? plan.Channels : [.. plan.Channels.Where(channels.Contains)];
            events.AddRange(await _source.LastValuesAsync(wanted, plan.StreamAt(Clock.PositionAt(Now)), plan.WindowStart, Now, () => ++order));
            events.AddRange(Log.DueAfter(Now));
        }

        // The catch-up covers the shared stream below this seq (the gateway drops those copies).
        var covered = continuesAfter is null ? Cursor.NextSeq : Math.Max(next, events.Count > 0 ? events.Max(e => e.Seq) + 1 : 0);
        return new PlaybackBatch(Cursor.Epoch, Cursor.Cutoff.Ticks, events.ToImmutable(), signals.ToImmutable(), participantId, covered);
    }

    /// <summary>The session's state at <paramref name="now"/>.</summary>
    public SessionState Snapshot(WallTime now)
    {
        if (Plan is null)
        {
            return Report(Clock.Status, null, 0);
        }

        var position = Clock.PositionAt(now);
        return Report(Clock.Status, Plan.StreamAt(position), Clock.PassAt(position));
    }

    private SessionState Report(SessionStatus status, StreamTime? playhead, int iteration)
    {
        var plan = Plan?.Spec;
        var behind = plan is { Live: true } && playhead is { } head ? Math.Max(0, (Now.Ticks - head.Ticks) / (double)TimeSpan.TicksPerSecond) : (double?)null;
        return new SessionState(status, playhead?.Ticks, Clock.Speed, Meter.Value(Clock.Status, Clock.Speed), plan?.Loop ?? false,
            plan?.WindowStart, plan is null || plan.Live ? null : plan.WindowEnd, iteration, plan?.Channels ?? [], plan?.Duration,
            plan?.Rate, plan?.MaxGap, BufferAhead(status), Cursor.Order, behind, _participants.Count, _participants.Controllers, _host);
    }

    /// <summary>Wall seconds of playback loaded beyond the playhead; null when everything to the end is loaded.</summary>
    private double? BufferAhead(SessionStatus status)
    {
        if (Plan is null || (!Plan.Loop && Buffer.AllLoaded))
        {
            return null;
        }

        var ahead = status == SessionStatus.Playing
            ? (Clock.WallAt(Buffer.LoadedThrough) - WallTime.Max(Now, Clock.WallAnchor)).TotalSeconds
            : (Buffer.LoadedThrough - Clock.PositionAnchor) / Clock.Speed;
        return Math.Max(0, Math.Round(ahead, 3));
    }

    /// <summary>Nobody came back within the grace period: stopped, loads voided (the caller releases the session).</summary>
    public void Abandon(WallTime now)
    {
        Buffer.Abandon();
        Clock.SetStatus(SessionStatus.Stopped, now);
        LogAbandoned(_logger, _sessionId);
    }

    /// <summary>One push per observer: a gateway registers one observer for all its participants of a session and fans
    /// out locally. One-way, so a slow or vanished gateway never holds up the clock.</summary>
    public void Send(PlaybackBatch batch)
    {
        if (batch.Target is null)
        {
            _eventsPushed(batch.Events.Length);
        }

        foreach (var observer in _participants.Observers)
        {
            _ = observer.OnBatch(batch);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {Session} had no participants for the grace period; it is stopped and released")]
    private static partial void LogAbandoned(ILogger logger, string session);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {Session} restored ({Status}) at playhead {Playhead}")]
    private static partial void LogRestored(ILogger logger, string session, SessionStatus status, string playhead);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {Session} continues right after seq {LastSeq} ({Ticks}), the last event handed on")]
    private static partial void LogResumed(ILogger logger, string session, long lastSeq, string ticks);
}
