using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Tivo.GrainInterfaces;
using Tivo.Grains.Caching;
using Tivo.Grains.Diagnostics;
using Tivo.Grains.Playback;

namespace Tivo.Grains;

/// <summary>
/// One playback session as an Orleans grain: its activation and persisted record, its timers, its participants,
/// and the order of each control's steps (check, cut, await the store, save, push). What plays is the
/// <see cref="SessionPlan"/>; the <see cref="SessionPlayer"/> runs it over the <see cref="SessionClock"/>, the
/// <see cref="ReadAheadBuffer"/> and the <see cref="EmissionCursor"/>. A grain timer hands events on
/// <see cref="PlaybackOptions.Lookahead"/> ahead of due; the gateway releases them on time. Every re-anchor of the
/// clock is saved: at once by a control, on the next tick otherwise.
/// </summary>
public sealed class PlaybackGrain : Grain, IPlaybackGrain
{
    /// <summary>The grain storage sessions persist to (memory, or AdoNet on PostgreSQL in a cluster).</summary>
    public const string StorageName = "tivo-sessions";

    private readonly SessionRecordKeeper _record;
    private readonly TimeProvider _time;
    private readonly PlaybackOptions _options;
    private readonly TivoGrainMetrics _metrics;

    /// <summary>How often a session that is not ticking checks whether its replay log must trim to its share of the silo's
    /// bound: a log trims at every tick, but one whose session does not tick (paused, stopped, ended) would keep more than its
    /// share. The check has a timer only while the tick has none: a second timer per playing session, firing at its own
    /// instant off the ticks' grid, made the runtime's timer queue walk its near timers once more each time (1,000 of the
    /// gateway's 4,021 timers with lead at 1,000 sessions; docs/performance.md).</summary>
    internal static readonly TimeSpan ReplayTrimInterval = TimeSpan.FromSeconds(5);

    private readonly IPlaybackSource _source;
    private readonly ParticipantSet _participants = new();
    private readonly SessionPlayer _player;
    private IGrainTimer? _timer;
    private IGrainTimer? _trimTimer;
    private IGrainTimer? _graceTimer;
    private IGrainTimer? _resumeTimer;
    private readonly ResumeChoice _resume = new();
    private readonly LocalSessions _sessions;
    private bool _handedOver;

    public PlaybackGrain(
        [PersistentState("session", StorageName)] IPersistentState<PlaybackRecord> record, IGrainFactory grains, ILocalSiloDetails silo,
        TimeProvider time, IOptions<PlaybackOptions> options, IOptions<CacheOptions> cacheOptions, ILogger<PlaybackGrain> logger, TivoGrainMetrics metrics,
        LocalSessions sessions, ReplayBudget replayBudget)
    {
        _sessions = sessions;
        _record = new SessionRecordKeeper(record);
        _time = time;
        _options = options.Value;
        _metrics = metrics;
        _source = new GrainPlaybackSource(grains);
        _player = new SessionPlayer(this.GetPrimaryKeyString(), _options, new ChunkGrid(cacheOptions.Value.ChunkSeconds), _source, time, _participants, logger, metrics.EventsPushed, silo.Name, replayBudget);
    }

    private WallTime Now => new(_time.GetUtcNow().UtcTicks);

    private SessionClock Clock => _player.Clock;

    private SessionPlan? Plan => _player.Plan;

    // ───────────────────────── activation and persistence ─────────────────────────

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _metrics.SessionActivated();
        _sessions.Add(this.GetPrimaryKeyString());
        if (_record.Exists && _record.State is { Plan: { } plan, Clock: { Status: not SessionStatus.Idle } clock })
        {
            await RestoreAsync(plan, clock);
            if (_participants.ExpectAfterRestore(Now))
            {
                StartGracePeriod();
            }
        }

        StartTrimTimer(); // a restored log that does not tick
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _metrics.SessionDeactivated();
        _sessions.Remove(this.GetPrimaryKeyString());
        await HandOver();
        _player.Log.Close(); // what it kept no longer counts against the silo's budget
    }

    /// <summary>A playing session leaving its silo (a rolling update, a rebalance) writes the last event it handed on,
    /// deactivates, and once gone tells its gateways which silo to call it back on: the next activation continues there
    /// right after the lowest of their marks.</summary>
    public async Task HandOver()
    {
        if (_handedOver || !Clock.Active || !_record.Exists || _player.LastHandedOn() is not { } mark)
        {
            return;
        }

        _handedOver = true; // first: a session leaving starts no trim timer
        StopTimer();
        await _record.SaveAsync(_player, mark, _participants.Observers.Length);
        var successor = _sessions.Successor();
        LocalSessions.MoveOrDeactivate(this, successor);
        var moving = _player.SignalBatch(new HandoverSignal(Now.Ticks, _player.Cursor.NextOrder(), successor));
        LocalSessions.AnnounceWhenGone(GrainContext.Deactivated, _participants.Observers, moving);
    }

    private Task SaveAsync() => _record.SaveAsync(_player);

    /// <summary>Brings a session back on a new activation. A playing one continues right after the last event handed on:
    /// from a handover's mark in the record, else from the lowest mark its gateways give within
    /// <see cref="PlaybackOptions.ResumeWindow"/> (its silo died); when none does (nobody watched), where its clock is.</summary>
    private async Task RestoreAsync(PlanSpec spec, ClockAnchor anchor)
    {
        var plan = await SessionPlan.BuildAsync(spec, _source);
        _record.RestoreCounters(_player);
        var status = _player.Restore(plan, anchor, Now);
        if (status == SessionStatus.Playing)
        {
            _resumeTimer = Timer(static self => self.ResumeAsync(), _resume.Expect(_record.State, _options.ResumeWindow));
        }
    }

    private async Task ResumeAsync()
    {
        _resumeTimer?.Dispose();
        if (_resume.Take(out var mark))
        {
            await _player.StartRestoredAsync(mark, _record.ReservedUntil);
            StartTimer();
            await SaveAsync();
        }
    }

    // ───────────────────────── participants ─────────────────────────

    public async Task<JoinResult> Join(string participantId, IPlaybackObserver observer, JoinRequest request)
    {
        var isNew = _participants.Join(participantId, observer, Now, request.Channels, request.Role);
        var everyGatewayBack = _resume.Offer(request.Resume, observer);
        _graceTimer?.Dispose();
        _graceTimer = null;
        var catchUp = !request.Renewal && Plan is not null && (isNew || request.LastSeq is not null);
        if (catchUp)
        {
            // Sent even when empty: the joiner's gateway holds the shared stream until its catch-up arrives.
            var continuesAfter = _resume.Pending ? _resume.Lowest?.LastSeq ?? 0 : (long?)null;
            _ = observer.OnBatch(await _player.CatchUpAsync(participantId, request.Channels, request.LastSeq, continuesAfter));
        }

        if (everyGatewayBack)
        {
            await ResumeAsync();
        }

        return new JoinResult(_player.Snapshot(Now), request.Role, catchUp, _player.Cursor.NextSeq, _player.Cursor.Epoch);
    }

    public Task Leave(string participantId)
    {
        if (_participants.Leave(participantId, Now))
        {
            StartGracePeriod();
        }

        return Task.CompletedTask;
    }

    /// <summary>The last participant left: the session carries on for the grace period, then ends.</summary>
    private void StartGracePeriod() => StartGraceTimer(_options.SessionGracePeriod);

    private void StartGraceTimer(TimeSpan due)
    {
        _graceTimer?.Dispose();
        _graceTimer = Timer(static self => self.EndIfAbandonedAsync(), due);
    }

    private async Task EndIfAbandonedAsync()
    {
        if (_participants.Count > 0 || _participants.EmptySince is not { } since)
        {
            return;
        }

        if (_options.SessionGracePeriod - (Now - since) is var left && left > TimeSpan.Zero)
        {
            // The runtime's timers count whole milliseconds of a monotonic clock, and may fire a hair before the wall clock
            // says the grace is over: look again then (returning here left the session playing to nobody for good).
            StartGraceTimer(left);
            return;
        }

        StopTimer();
        _graceTimer?.Dispose();
        _graceTimer = null;
        _player.Abandon(Now);
        await _record.ClearAsync();
        DeactivateOnIdle();
    }

    // ───────────────────────── controls ─────────────────────────

    public async Task<ControlResult> Play(PlayRequest request)
    {
        // No channels named: every channel the participants connected with, on one clock.
        request = request.Channels.IsDefaultOrEmpty ? request with { Channels = _participants.Channels() } : request;
        var (plan, error) = await SessionPlan.CreateAsync(request, _source, _options, Now);
        if (plan is null)
        {
            return error!; // everything is checked and built before anything is adopted: a refused play changes nothing
        }

        StopTimer();
        _resume.Cancel();
        _player.Adopt(plan, request.Speed, Now);
        if (await _player.Loader.LoadFirstAsync() is { } failure)
        {
            Clock.SetStatus(SessionStatus.Stopped, Now);
            return failure;
        }

        // The clock starts once the first chunk is in hand and the session is saved, plus the control lead: the first push
        // has that long to cross a cold path (on a fresh server it came 15 ms after its due). The next tick saves it.
        Clock.Reanchor(WallTime.Max(Clock.WallAnchor, Now), 0, SessionStatus.Playing);
        await SaveAsync();
        Clock.Reanchor(WallTime.Max(Clock.WallAnchor, Now + _options.ControlLeadTime), 0);

        return StartPlaying();
    }

    public async Task<ControlResult> Pause()
    {
        if (Refresh() is { } error)
        {
            return error;
        }

        if (Clock.Active)
        {
            StopTimer();
            _player.Pause(Now);
            await SaveAsync();
        }

        return ControlResult.Success(_player.Snapshot(Now));
    }

    public async Task<ControlResult> Resume()
    {
        if (Refresh() is { } error)
        {
            return error;
        }

        if (Clock.Status is SessionStatus.Stopped or SessionStatus.Ended)
        {
            return ControlResult.Fail(ErrorCodes.BadRequest,
                $"Nothing to resume: playback is {Clock.Status.ToString().ToLowerInvariant()}. Send play (or seek, then resume) to start again.");
        }

        if (Clock.Status == SessionStatus.Paused)
        {
            if (_player.Buffer.IsEmpty && !_player.Buffer.AllLoaded && await _player.Loader.LoadFirstAsync() is { } failure)
            {
                return failure;
            }

            _player.Resume(Now);
            StartTimer();
            await SaveAsync();
        }

        return ControlResult.Success(_player.Snapshot(Now));
    }

    public async Task<ControlResult> Seek(long toTicks)
    {
        var to = new StreamTime(toTicks);
        if ((Refresh() ?? BadRequest(Plan!.SeekError(to))) is { } error)
        {
            return error;
        }

        var playing = Clock.Active;
        StopTimer();
        var cut = await _player.SeekAsync(to, Now, playing);
        if (!playing)
        {
            _player.Broadcast(_player.StateAt(cut));
        }
        else if (await _player.Loader.LoadFirstAsync() is { } failure)
        {
            return failure;
        }
        else
        {
            Clock.Reanchor(WallTime.Max(cut, Now), Clock.PositionAnchor, SessionStatus.Playing);
            StartPlaying();
        }

        await SaveAsync();
        return ControlResult.Success(_player.Snapshot(Now));
    }

    public async Task<ControlResult> SetSpeed(double speed)
    {
        if ((Refresh() ?? BadRequest(Plan!.SpeedChangeError(_options, speed))) is { } error)
        {
            return error;
        }

        _player.ChangeSpeed(Now, speed);
        await SaveAsync();
        return ControlResult.Success(_player.Snapshot(Now));
    }

    public async Task<ControlResult> Stop()
    {
        if (Refresh() is { } error)
        {
            return error;
        }

        StopTimer();
        _player.Stop(Now);
        await SaveAsync();
        return ControlResult.Success(_player.Snapshot(Now));
    }

    public Task<SessionState> GetState()
    {
        RefreshStatus(Now);
        return Task.FromResult(_player.Snapshot(Now));
    }

    public Task<ImmutableArray<SessionEvent>> Replay(long fromSeq, long toSeq) => Task.FromResult(_player.Log.Between(fromSeq, toSeq).ToImmutableArray());

    public Task SlowDown(long lateTicks)
    {
        if (_player.SlowDown(Now, TimeSpan.FromTicks(lateTicks)) is var held && held > TimeSpan.Zero)
        {
            _metrics.SessionHeld(held);
        }

        return Task.CompletedTask;
    }

    public Task OnChannelAppended(string channel)
    {
        _player.Loader.Appended();
        return Task.CompletedTask;
    }

    /// <summary>Refuses a control before any play; else brings an ended window's status up to date.</summary>
    private ControlResult? Refresh()
    {
        if (Plan is null)
        {
            return ControlResult.Fail(ErrorCodes.BadRequest, "Nothing is playing in this session yet: send play with a window first.");
        }

        _resume.Cancel(); // a control after a restore supersedes resuming
        RefreshStatus(Now);
        return null;
    }

    private static ControlResult? BadRequest(string? refusal) => refusal is null ? null : ControlResult.Fail(ErrorCodes.BadRequest, refusal);

    private void RefreshStatus(WallTime now)
    {
        if (_player.RefreshStatus(now))
        {
            StopTimer();
        }
    }

    // ───────────────────────── ticks and pushes ─────────────────────────

    private ControlResult StartPlaying()
    {
        _player.Start(Now);
        StartTimer();
        return ControlResult.Success(_player.Snapshot(Now));
    }

    private void StartTimer()
    {
        _timer ??= Timer(static self => self.OnTickAsync(), _player.Cadence.FirstTick(Environment.TickCount64), _player.Cadence.TickInterval);
        _trimTimer?.Dispose(); // the ticks trim the log now
        _trimTimer = null;
    }

    /// <summary>While the session does not tick and its replay log holds something, checks the log against the silo's bound
    /// every <see cref="ReplayTrimInterval"/>. A session that never played (a viewer connected, nothing asked yet) has an empty
    /// log and no timer: 1,000 idle sessions had made the runtime's timer queue fire 200 times a second for nothing.</summary>
    private void StartTrimTimer()
    {
        if (_player.Log.SiloBounded && _player.Log.Count > 0 && _timer is null && !_handedOver)
        {
            _trimTimer ??= this.RegisterGrainTimer(static (self, _) => self.CheckReplayLog(), this,
                new GrainTimerCreationOptions(ReplayTrimInterval, ReplayTrimInterval) { KeepAlive = false });
        }
    }

    private Task CheckReplayLog()
    {
        _player.Log.TrimIfCrowded(Now);
        if (_player.Log.Count == 0)
        {
            _trimTimer?.Dispose(); // a cut emptied it: nothing left to trim until the session plays again
            _trimTimer = null;
        }

        return Task.CompletedTask;
    }

    /// <summary>A grain timer (not interleaved, keeping the session active) calling <paramref name="callback"/>.</summary>
    private IGrainTimer Timer(Func<PlaybackGrain, Task> callback, TimeSpan due, TimeSpan? period = null) =>
        this.RegisterGrainTimer(static (state, _) => state.Callback(state.Self), (Self: this, Callback: callback),
            new GrainTimerCreationOptions(due, period ?? Timeout.InfiniteTimeSpan) { KeepAlive = true });

    private async Task OnTickAsync()
    {
        if (_record.RunningOut(_player.Cursor.NextSeq) || Clock.Changed)
        {
            await SaveAsync(); // reserve the next block before handing more seq numbers out, or record a re-anchor
        }

        var now = Now;
        RefreshStatus(now);
        if (_participants.Expire(now, _options.ParticipantExpiry))
        {
            StartGracePeriod();
        }

        if (!Clock.Active)
        {
            StopTimer();
            return;
        }

        _player.Advance(now);
        _timer?.Change(_player.Cadence.NextTickIn(Environment.TickCount64), _player.Cadence.TickInterval); // on the grid
    }

    private void StopTimer()
    {
        _timer?.Dispose();
        _timer = null;
        StartTrimTimer();
    }
}
