using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Tivo.GrainInterfaces;
using Tivo.Grains.Caching;
using Tivo.Grains.Diagnostics;
using Tivo.Grains.Pacing;
using Tivo.Stores;

namespace Tivo.Grains;

/// <summary>
/// One playback session. The playhead is computed from an anchor, never counted:
/// <c>position = posAnchor + (now − wallAnchor) × speed</c>, where position is playback time of the
/// pacing <see cref="Warp"/> and, when looping, pass × warp length is added. Each event's due wall time
/// comes from the same mapping. A grain timer hands events on <see cref="PlaybackOptions.Lookahead"/>
/// ahead of due; the gateway releases them on time. Every control re-anchors and starts a new epoch.
/// </summary>
public sealed partial class PlaybackGrain : Grain, IPlaybackGrain
{
    /// <summary>The grain storage sessions persist to (memory, or AdoNet on PostgreSQL in a cluster).</summary>
    public const string StorageName = "tivo-sessions";

    /// <summary>A live window's nominal end: a century after its start.</summary>
    private const long LiveHorizonTicks = 100 * 365 * TimeSpan.TicksPerDay;

    /// <summary>Seq numbers reserved per write: a restored session continues above the reservation.</summary>
    private const long SeqBlock = 100_000;

    private readonly IPersistentState<PlaybackRecord> _record;
    private long _seqReservedUntil = 1;
    private readonly TimeProvider _time;
    private readonly PlaybackOptions _options;
    private readonly ChunkGrid _grid;
    private readonly ILogger<PlaybackGrain> _logger;
    private readonly TivoGrainMetrics _metrics;

    private readonly Dictionary<string, Participant> _participants = new();

    /// <summary>The distinct observers of <see cref="_participants"/> (one per gateway), derived on the first
    /// push after the participants change instead of on every push.</summary>
    private IPlaybackObserver[]? _observers;

    // What is played.
    private string _status = SessionStatus.Idle;
    private ImmutableArray<string> _channels = [];
    private long _windowStart, _windowEnd;
    private bool _loop;
    private bool _live;
    private bool _atLiveEdge;
    private long _liveHighWater = long.MinValue;
    private Warp? _warp;
    private double _length;
    private double _speed = 1;
    private double? _duration, _rate, _maxGap;

    // The clock.
    private long _wallAnchor;
    private double _posAnchor;
    private long _epoch;
    private long _cutoff;

    // Emission.
    private long _nextSeq = 1;
    private long _order;
    private int _nextWrapPass = 1;
    private long _nextClockWall;
    private bool _endEmitted;
    private long _endWall;
    private readonly Queue<InFlight> _inFlight = new();
    private readonly List<SessionEvent> _log = new();
    private long _logBytes;

    // Loaded events: consecutive segments (one per chunk and pass) and a cursor into them.
    private readonly List<Segment> _segments = new();
    private long _firstSegmentNo;
    private long _cursorSegment;
    private int _cursorIndex;
    private double _loadedThrough;
    private bool _allLoaded;
    private (int Pass, long Chunk) _nextLoad;
    private long _skipBeforeTicks;
    private int _loadGeneration;
    private Task? _loader;
    private TaskCompletionSource? _liveAppended;
    private bool _saveDue;
    private long _liveWatchRenewedAt = long.MinValue / 2;
    private bool _storeFailing;

    // Achieved speed: buffering time over the last few seconds.
    private long _bufferingSince = -1;
    private readonly Queue<(long Wall, long Buffered)> _bufferSamples = new();
    private long _bufferedTotal;

    private IGrainTimer? _timer;
    private IGrainTimer? _graceTimer;
    private long _emptySince = -1;

    public PlaybackGrain(
        [PersistentState("session", StorageName)] IPersistentState<PlaybackRecord> record,
        TimeProvider time, IOptions<PlaybackOptions> options, IOptions<CacheOptions> cacheOptions, ILogger<PlaybackGrain> logger, TivoGrainMetrics metrics)
    {
        _metrics = metrics;
        _record = record;
        _time = time;
        _options = options.Value;
        _grid = new ChunkGrid(cacheOptions.Value.ChunkSeconds);
        _logger = logger;
    }

    private long Now => _time.GetUtcNow().UtcTicks;

    private string SessionId => this.GetPrimaryKeyString();

    // ───────────────────────── persistence ─────────────────────────

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _metrics.SessionActivated();
        if (_record.RecordExists && _record.State.Status != SessionStatus.Idle && _record.State.Channels.Length > 0)
        {
            await RestoreAsync();
            ExpectParticipants();
        }
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _metrics.SessionDeactivated();
        return base.OnDeactivateAsync(reason, cancellationToken);
    }

    /// <summary>Writes the session's record, reserving the next block of seq numbers.</summary>
    private async Task SaveAsync()
    {
        _seqReservedUntil = Math.Max(_seqReservedUntil, _nextSeq + SeqBlock);
        var r = _record.State;
        r.Status = _status;
        r.Channels = [.. _channels];
        r.WindowStart = _windowStart;
        r.WindowEnd = _windowEnd;
        r.Loop = _loop;
        r.Speed = _speed;
        r.Duration = _duration;
        r.Rate = _rate;
        r.MaxGap = _maxGap;
        r.WallAnchor = _wallAnchor;
        r.PosAnchor = _posAnchor;
        r.Epoch = _epoch;
        r.SeqReservedUntil = _seqReservedUntil;
        r.Order = _order;
        r.Live = _live;
        await _record.WriteStateAsync();
    }

    /// <summary>Brings a session back on a new activation (another silo after a failure, or after
    /// deactivation). The clock's anchor is absolute, so a playing session resumes where its clock is now.</summary>
    private async Task RestoreAsync()
    {
        var r = _record.State;
        _channels = [.. r.Channels];
        _windowStart = r.WindowStart;
        _windowEnd = r.WindowEnd;
        _loop = r.Loop;
        _live = r.Live;
        _speed = r.Speed;
        _duration = r.Duration;
        _rate = r.Rate;
        _maxGap = r.MaxGap;
        _wallAnchor = r.WallAnchor;
        _posAnchor = r.PosAnchor;
        _nextSeq = _seqReservedUntil = r.SeqReservedUntil;
        _order = r.Order + SeqBlock;
        _epoch = r.Epoch;
        _warp = await BuildWarpAsync(_channels, _windowStart, _windowEnd, _duration, _rate, _maxGap);
        _length = _warp.Length;
        var now = Now;
        var saved = r.Status == SessionStatus.Buffering ? SessionStatus.Playing : r.Status;
        _status = saved;
        var position = PositionAt(now); // a playing clock ran on while no silo held the session
        if (saved == SessionStatus.Playing && !_loop && position >= _length)
        {
            saved = SessionStatus.Ended;
            position = _length;
        }

        _status = saved;
        _posAnchor = position;
        _wallAnchor = now;
        NewEpoch(now);
        if (saved is SessionStatus.Ended or SessionStatus.Stopped)
        {
            ResetBuffer(0, _windowStart);
            LogRestored(_logger, SessionId, saved, TimeUtil.ToIso(StreamAt(_posAnchor)));
            return;
        }

        var pass = PassAt(position);
        ResetBuffer(pass, StreamAt(position));
        _nextWrapPass = pass + 1;
        LogRestored(_logger, SessionId, saved, TimeUtil.ToIso(StreamAt(position)));
        if (saved != SessionStatus.Playing)
        {
            return;
        }

        _status = SessionStatus.Paused; // frozen while the first chunk loads
        if (await LoadFirstSegmentAsync() is not null)
        {
            // The store is away too: wait at the playhead and let the loader retry.
            _status = SessionStatus.Buffering;
            _bufferingSince = Now;
        }
        else
        {
            _wallAnchor = Math.Max(_wallAnchor, Now);
            _status = SessionStatus.Playing;
        }

        StartPlaying();
        await SaveAsync();
    }

    /// <summary>A restored session starts with no participants; it waits the grace period for them.</summary>
    private void ExpectParticipants()
    {
        if (_participants.Count == 0)
        {
            BecameEmpty(Now);
        }
    }

    // ───────────────────────── participants ─────────────────────────

    public async Task<JoinResult> Join(string participantId, IPlaybackObserver observer, JoinRequest request)
    {
        var isNew = !_participants.ContainsKey(participantId);
        var channels = request.Channels.IsDefault ? [] : request.Channels;
        _participants[participantId] = new Participant(observer, Now, channels, request.Role);
        _observers = null;
        _emptySince = -1;
        _graceTimer?.Dispose();
        _graceTimer = null;
        var catchUp = !request.Renewal && _warp is not null && (isNew || request.LastSeq is not null);
        if (catchUp)
        {
            await CatchUpAsync(participantId, observer, channels, request.LastSeq);
        }

        return new JoinResult(Snapshot(Now), request.Role, catchUp);
    }

    /// <summary>
    /// Brings a new participant into the shared stream: with a last seq, every held event after it;
    /// otherwise the last event per channel before the playhead (marked snapshot), then whatever was
    /// already handed on for later. Sent to that participant only, with the seq the join happened at.
    /// </summary>
    private async Task CatchUpAsync(string participantId, IPlaybackObserver observer, ImmutableArray<string> channels, long? lastSeq)
    {
        var events = ImmutableArray.CreateBuilder<SessionEvent>();
        var signals = ImmutableArray.CreateBuilder<SessionSignal>();
        if (lastSeq is { } last)
        {
            var oldest = _log.Count > 0 ? _log[0].Seq : _nextSeq;
            if (last + 1 < oldest)
            {
                signals.Add(new SessionSignal(SignalKind.Error, Now, 1, null, 0, _speed, 0, ErrorCodes.BadRequest,
                    $"Events after seq {last} up to seq {oldest - 1} are no longer held (a session keeps its last {_options.ReplayEvents} events, at most {_options.ReplayBytes / 1024} KiB of them); the stream resumes at seq {oldest}."));
            }

            events.AddRange(_log.Where(e => e.Seq > last));
        }
        else if (_status is SessionStatus.Playing or SessionStatus.Buffering or SessionStatus.Paused)
        {
            var playhead = StreamAt(PositionAt(Now));
            var wanted = channels.IsEmpty ? _channels : [.. _channels.Where(channels.Contains)];
            var order = 0L;
            events.AddRange(await LastValuesAsync(wanted, playhead, Now, () => ++order));
            var now = Now;
            events.AddRange(_log.Where(e => e.DueTicks > now));
        }

        // Sent even when empty: the joiner's gateway holds the shared stream until its catch-up arrives.
        _ = observer.OnBatch(new PlaybackBatch(_epoch, _cutoff, events.ToImmutable(), signals.ToImmutable(), participantId, _nextSeq));
    }

    /// <summary>Each channel's last event before <paramref name="beforeTicks"/> (within the window), as snapshot
    /// events released at <paramref name="releaseTicks"/>: what a chart of last-known values needs to draw the
    /// present after a join or a seek, before the next event arrives.</summary>
    private async Task<List<SessionEvent>> LastValuesAsync(IEnumerable<string> channels, long beforeTicks, long releaseTicks, Func<long> nextOrder)
    {
        var snapshot = new List<SessionEvent>();
        foreach (var channel in channels)
        {
            try
            {
                if (await GrainFactory.GetGrain<IChannelGrain>(channel).GetLatestBefore(beforeTicks, _windowStart) is { } latest)
                {
                    snapshot.Add(new SessionEvent(channel, latest.Ticks, 0, releaseTicks, nextOrder(), latest.Data, Snapshot: true));
                }
            }
            catch (StoreUnavailableGrainException)
            {
                // The picture stays incomplete; the stream itself is unaffected.
            }
        }

        return snapshot;
    }

    public Task Leave(string participantId)
    {
        _observers = null;
        if (_participants.Remove(participantId) && _participants.Count == 0)
        {
            BecameEmpty(Now);
        }

        return Task.CompletedTask;
    }

    /// <summary>The last participant left: the session carries on for the grace period, then ends.</summary>
    private void BecameEmpty(long now)
    {
        _emptySince = now;
        _graceTimer?.Dispose();
        _graceTimer = this.RegisterGrainTimer(static (self, _) => self.EndIfAbandonedAsync(), this, new GrainTimerCreationOptions
        {
            DueTime = _options.SessionGracePeriod,
            Period = Timeout.InfiniteTimeSpan,
            Interleave = false,
            KeepAlive = true,
        });
    }

    private async Task EndIfAbandonedAsync()
    {
        if (_participants.Count > 0 || _emptySince < 0 || Now - _emptySince < _options.SessionGracePeriod.Ticks)
        {
            return;
        }

        StopTimer();
        _graceTimer?.Dispose();
        _graceTimer = null;
        _loadGeneration++;
        _status = SessionStatus.Stopped;
        LogAbandoned(_logger, SessionId);
        if (_record.RecordExists)
        {
            await _record.ClearStateAsync();
        }

        DeactivateOnIdle();
    }

    // ───────────────────────── controls ─────────────────────────

    public async Task<ControlResult> Play(PlayRequest request)
    {
        if (request.Channels.IsDefaultOrEmpty)
        {
            // No channels named: every channel the participants connected with, on one clock.
            request = request with { Channels = [.. _participants.Values.SelectMany(p => p.Channels).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)] };
        }

        if (request.Channels.IsDefaultOrEmpty)
        {
            return ControlResult.Fail(ErrorCodes.BadRequest, "No channel to play: connect with ?channel=NAME (or /channels/NAME) or send \"channels\": [\"NAME\"] with play.");
        }

        if (SpeedError(request.Speed) is { } speedError)
        {
            return ControlResult.Fail(ErrorCodes.BadRequest, speedError);
        }

        var extents = new List<ChannelSummary>();
        try
        {
            var catalog = GrainFactory.GetGrain<ICatalogGrain>(0);
            foreach (var name in request.Channels.Distinct(StringComparer.Ordinal))
            {
                if (await catalog.FindChannel(name) is not { } extent)
                {
                    var known = await catalog.ListChannels();
                    return ControlResult.Fail(ErrorCodes.UnknownChannel,
                        $"Unknown channel '{name}'. Known channels: {string.Join(", ", known.Select(c => c.Name))}. GET /channels lists them.");
                }

                extents.Add(extent);
            }
        }
        catch (StoreUnavailableGrainException ex)
        {
            return ControlResult.Fail(ErrorCodes.StoreUnavailable, $"The event store is unavailable ({ex.Message}); try again shortly.");
        }

        var live = request.EndTicks is null;
        if (live && (request.Loop || request.DurationSeconds is not null || request.Rate is not null || request.MaxGapSeconds is not null))
        {
            return ControlResult.Fail(ErrorCodes.BadRequest,
                "Without an end, play follows live data, which has no length yet: loop, duration, rate and maxGap need an end.");
        }

        var start = request.StartTicks ?? (live ? Now : extents.Min(e => e.FirstTicks));
        var end = request.EndTicks ?? Math.Min(start + LiveHorizonTicks, TimeUtil.MaxTicks);
        if (end <= start)
        {
            return ControlResult.Fail(ErrorCodes.BadRequest,
                $"The window is empty: end ({TimeUtil.ToIso(end)}) must be after start ({TimeUtil.ToIso(start)}).");
        }

        // Everything is checked and built before anything is adopted: a refused play leaves the session as it was.
        if (PlaybackLimits.PacedWindowError(_options, start, end, request.Rate, request.MaxGapSeconds) is { } windowError)
        {
            return ControlResult.Fail(ErrorCodes.BadRequest, windowError);
        }

        Warp warp;
        try
        {
            warp = await BuildWarpAsync(request.Channels, start, end, request.DurationSeconds, request.Rate, request.MaxGapSeconds);
        }
        catch (StoreUnavailableGrainException ex)
        {
            return ControlResult.Fail(ErrorCodes.StoreUnavailable, $"The event store is unavailable ({ex.Message}); try again shortly.");
        }
        catch (ArgumentException ex)
        {
            return ControlResult.Fail(ErrorCodes.BadRequest, $"{ex.Message} Use duration, rate and maxGap values that give the window a playable length.");
        }

        if (request.Loop && PlaybackLimits.LoopPassError(_options, warp.Length, request.Speed) is { } loopError)
        {
            return ControlResult.Fail(ErrorCodes.BadRequest, loopError);
        }

        StopTimer();
        _channels = [.. request.Channels.Distinct(StringComparer.Ordinal)];
        _live = live;
        _windowStart = start;
        _windowEnd = end;
        _loop = request.Loop;
        _speed = request.Speed;
        _duration = request.DurationSeconds;
        _rate = request.Rate;
        _maxGap = request.MaxGapSeconds;
        _warp = warp;
        _length = _warp.Length;

        var now = Now;
        NewEpoch(now);
        ResetBuffer(pass: 0, fromTicks: start);
        _posAnchor = 0;
        _wallAnchor = now;
        _nextWrapPass = 1;
        _bufferedTotal = 0;
        _bufferSamples.Clear();
        var failure = await LoadFirstSegmentAsync();
        if (failure is not null)
        {
            _status = SessionStatus.Stopped;
            return failure;
        }

        // The clock starts once the first chunk is in hand and the session is saved, so the first event is not
        // born late: nothing is awaited between anchoring and the first push (on a fresh silo the first save
        // activates the storage and took tens of ms, by which the first event was overdue). The anchor moves by
        // the save's duration at most; the next tick saves it again.
        _wallAnchor = Math.Max(_wallAnchor, Now);
        _status = SessionStatus.Playing;
        await SaveAsync();
        var anchored = Math.Max(_wallAnchor, Now);
        _saveDue = anchored != _wallAnchor;
        _wallAnchor = anchored;
        return StartPlaying();
    }

    public async Task<ControlResult> Pause()
    {
        if (NoPlayback() is { } error)
        {
            return error;
        }

        var now = Now;
        RefreshStatus(now);
        if (_status is SessionStatus.Playing or SessionStatus.Buffering)
        {
            var cut = CutAndReanchor(now);
            _status = SessionStatus.Paused;
            EndBuffering(now);
            StopTimer();
            Broadcast(StateSignal(cut));
            await SaveAsync();
        }

        return ControlResult.Success(Snapshot(now));
    }

    public async Task<ControlResult> Resume()
    {
        if (NoPlayback() is { } error)
        {
            return error;
        }

        var now = Now;
        RefreshStatus(now);
        if (_status == SessionStatus.Paused)
        {
            if (_segments.Count == 0 && !_allLoaded && await LoadFirstSegmentAsync() is { } failure)
            {
                return failure;
            }

            _wallAnchor = Math.Max(Now, _wallAnchor);
            NewEpoch(_wallAnchor);
            _status = SessionStatus.Playing;
            var resumed = StartPlaying();
            await SaveAsync();
            return resumed;
        }

        if (_status is SessionStatus.Stopped or SessionStatus.Ended)
        {
            return ControlResult.Fail(ErrorCodes.BadRequest,
                $"Nothing to resume: playback is {_status}. Send play (or seek, then resume) to start again.");
        }

        return ControlResult.Success(Snapshot(now));
    }

    public async Task<ControlResult> Seek(long toTicks)
    {
        if (NoPlayback() is { } error)
        {
            return error;
        }

        if (toTicks < _windowStart || toTicks >= _windowEnd)
        {
            return ControlResult.Fail(ErrorCodes.BadRequest,
                $"Cannot seek to {TimeUtil.ToIso(toTicks)}: it is outside the window [{TimeUtil.ToIso(_windowStart)}, {TimeUtil.ToIso(_windowEnd)}).");
        }

        var now = Now;
        RefreshStatus(now);
        var wasPlaying = _status is SessionStatus.Playing or SessionStatus.Buffering;
        var cut = wasPlaying ? now + _options.ControlLeadTime.Ticks : now;
        var pass = PassAt(PositionAt(cut));

        StopTimer();
        EndBuffering(now);
        NewEpoch(cut);
        ResetBuffer(pass, toTicks);
        _posAnchor = pass * _length + _warp!.ToPosition(toTicks);
        _wallAnchor = cut;
        _nextWrapPass = pass + 1;

        // State-correct seek: each channel's last value before the target first, marked as a snapshot like a
        // join's, released at the cut, so a chart of last-known values is not empty until the next event.
        var snapshot = await LastValuesAsync(_channels, toTicks, cut, () => ++_order);
        if (snapshot.Count > 0)
        {
            Send(new PlaybackBatch(_epoch, _cutoff, [.. snapshot], []));
        }

        if (!wasPlaying)
        {
            _status = SessionStatus.Paused;
            Broadcast(StateSignal(cut));
            await SaveAsync();
            return ControlResult.Success(Snapshot(now));
        }

        var failure = await LoadFirstSegmentAsync();
        if (failure is not null)
        {
            return failure;
        }

        _wallAnchor = Math.Max(cut, Now);
        _status = SessionStatus.Playing;
        var playing = StartPlaying();
        await SaveAsync();
        return playing;
    }

    public async Task<ControlResult> SetSpeed(double speed)
    {
        if (NoPlayback() is { } error)
        {
            return error;
        }

        if (SpeedError(speed) is { } speedError)
        {
            return ControlResult.Fail(ErrorCodes.BadRequest, speedError);
        }

        if (_loop && PlaybackLimits.LoopPassError(_options, _length, speed) is { } loopError)
        {
            return ControlResult.Fail(ErrorCodes.BadRequest, loopError);
        }

        var now = Now;
        RefreshStatus(now);
        if (_status is SessionStatus.Playing or SessionStatus.Buffering)
        {
            var cut = CutAndReanchor(now);
            _speed = speed;
            Broadcast(StateSignal(cut));
            Emit(now);
        }
        else
        {
            _speed = speed;
            Broadcast(StateSignal(now));
        }

        await SaveAsync();
        return ControlResult.Success(Snapshot(now));
    }

    public async Task<ControlResult> Stop()
    {
        if (NoPlayback() is { } error)
        {
            return error;
        }

        var now = Now;
        StopTimer();
        EndBuffering(now);
        NewEpoch(now);
        ResetBuffer(0, _windowStart);
        _posAnchor = 0;
        _wallAnchor = now;
        _status = SessionStatus.Stopped;
        Broadcast(StateSignal(now));
        await SaveAsync();
        return ControlResult.Success(Snapshot(now));
    }

    public Task<SessionState> GetState()
    {
        var now = Now;
        RefreshStatus(now);
        return Task.FromResult(Snapshot(now));
    }

    // ───────────────────────── clock ─────────────────────────

    /// <summary>Playback position at wall time <paramref name="wall"/> (frozen unless playing).</summary>
    private double PositionAt(long wall)
    {
        if (_status != SessionStatus.Playing || wall <= _wallAnchor)
        {
            return _posAnchor;
        }

        var position = _posAnchor + (wall - _wallAnchor) / (double)TimeUtil.TicksPerSecond * _speed;
        return _loop ? position : Math.Min(position, _length);
    }

    /// <summary>Wall time (ticks) at which playback reaches <paramref name="position"/>.</summary>
    private long WallAt(double position) =>
        _wallAnchor + (long)Math.Round((position - _posAnchor) / _speed * TimeUtil.TicksPerSecond);

    /// <summary>Stream time of a playback position (folding loop passes into the window).</summary>
    private long StreamAt(double position)
    {
        if (_warp is null)
        {
            return _windowStart;
        }

        var within = _loop && _length > 0 ? position - Math.Floor(position / _length) * _length : position;
        return _warp.ToTicks(within);
    }

    private int PassAt(double position) => _loop && _length > 0 ? Math.Max(0, (int)Math.Floor(position / _length)) : 0;

    /// <summary>A control takes effect at now + lead: takes back what falls due after that cut and
    /// anchors the clock at it (position continuous), in a new epoch. Returns the cut.</summary>
    private long CutAndReanchor(long now)
    {
        var cut = now + _options.ControlLeadTime.Ticks;
        var position = PositionAt(cut);
        Rewind(cut, position);
        _posAnchor = position;
        _wallAnchor = cut;
        NewEpoch(cut);
        return cut;
    }

    private void NewEpoch(long cutoff)
    {
        // What was handed on for after the cut is void: a reconnecting participant must not get it.
        while (_log.Count > 0 && _log[^1].DueTicks > cutoff)
        {
            _logBytes -= LogSize(_log[^1]);
            _log.RemoveAt(_log.Count - 1);
        }

        _epoch++;
        _cutoff = cutoff;
        _nextClockWall = cutoff;
    }

    /// <summary>Turns "playing" into "ended" once the wall clock passes the end of a non-looping window.</summary>
    private void RefreshStatus(long now)
    {
        if (_status == SessionStatus.Playing && _endEmitted && now >= _endWall)
        {
            _status = SessionStatus.Ended;
            _posAnchor = _length;
            _wallAnchor = _endWall;
            StopTimer();
        }
    }

    // ───────────────────────── emission ─────────────────────────

    private ControlResult StartPlaying()
    {
        var now = Now;
        _endEmitted = false;
        // No clock tick before the clock starts: the first one follows the state (hello, ack, state, clock).
        _nextClockWall = Math.Max(_nextClockWall, _wallAnchor);
        Broadcast(StateSignal(_wallAnchor));
        Emit(now);
        EnsureLoader(now);
        _timer ??= this.RegisterGrainTimer(static (self, ct) => self.OnTickAsync(ct), this, new GrainTimerCreationOptions
        {
            DueTime = _options.TickInterval,
            Period = _options.TickInterval,
            Interleave = false,
            KeepAlive = true,
        });
        return ControlResult.Success(Snapshot(now));
    }

    private async Task OnTickAsync(CancellationToken cancellationToken)
    {
        if (_nextSeq + SeqBlock / 2 > _seqReservedUntil || _saveDue)
        {
            _saveDue = false;
            await SaveAsync(); // reserve the next block before handing more seq numbers out, or record a moved anchor
        }

        var now = Now;
        RefreshStatus(now);
        ExpireParticipants(now);
        if (_status is not (SessionStatus.Playing or SessionStatus.Buffering))
        {
            StopTimer();
            return;
        }

        CatchUpWithLive(now);
        var moreToLoad = _loop || !_allLoaded;
        if (_status == SessionStatus.Playing && moreToLoad && !_atLiveEdge && PositionAt(now) > _loadedThrough)
        {
            // The store fell behind: hold the clock at the loaded edge (never skip, never reorder).
            _posAnchor = _loadedThrough;
            _wallAnchor = now;
            _status = SessionStatus.Buffering;
            _bufferingSince = now;
            Broadcast(StateSignal(now));
        }
        else if (_status == SessionStatus.Buffering && _loadedThrough > _posAnchor && !_storeFailing)
        {
            EndBuffering(now);
            _wallAnchor = now;
            _status = SessionStatus.Playing;
            _nextClockWall = now;
            Broadcast(StateSignal(now));
        }

        SampleAchievedSpeed(now);
        Emit(now);
        EnsureLoader(now);
    }

    /// <summary>A live session faster than real time that reaches the present switches to speed 1 and follows it.</summary>
    private void CatchUpWithLive(long now)
    {
        if (!_live || _status != SessionStatus.Playing || _speed <= 1 || _warp is null)
        {
            return;
        }

        // Like any control, the switch takes effect at a cut slightly ahead, so nothing handed on is lost or repeated.
        var cut = now + _options.ControlLeadTime.Ticks;
        var edge = _warp.ToPosition(cut);
        if (PositionAt(cut) < edge)
        {
            return;
        }

        Rewind(cut, edge);
        _posAnchor = edge;
        _wallAnchor = cut;
        _speed = 1;
        NewEpoch(cut);
        Broadcast(StateSignal(cut));
    }

    /// <summary>Hands on everything that falls due before now + lookahead and is loaded, in position order.</summary>
    private void Emit(long now)
    {
        if (_status != SessionStatus.Playing || _warp is null)
        {
            return;
        }

        while (_inFlight.TryPeek(out var done) && done.DueTicks <= now)
        {
            _inFlight.Dequeue();
        }

        var limit = Math.Min(PositionAt(now + _options.Lookahead.Ticks), _loadedThrough);
        if (!_loop && _allLoaded)
        {
            limit = Math.Min(PositionAt(now + _options.Lookahead.Ticks), _length);
        }
        else if (_live && _atLiveEdge)
        {
            // At the live edge the clock runs on with the present; events read later are handed on late.
            limit = Math.Min(PositionAt(now + _options.Lookahead.Ticks), _warp.ToPosition(now + _options.Lookahead.Ticks));
        }

        var events = ImmutableArray.CreateBuilder<SessionEvent>();
        var signals = ImmutableArray.CreateBuilder<SessionSignal>();
        while (true)
        {
            var eventPos = PeekEvent(out var segment, out var index) ? segment!.Pass * _length + _warp.ToPosition(segment.Events[index].Ticks) : double.PositiveInfinity;
            var wrapPos = _loop ? _nextWrapPass * _length : double.PositiveInfinity;
            var clockPos = _endEmitted ? double.PositiveInfinity : PositionAt(_nextClockWall);
            var endPos = !_loop && _allLoaded && !_endEmitted ? _length : double.PositiveInfinity;

            // Ties: a wrap precedes the first event of the new pass; the end follows every event.
            if (wrapPos <= eventPos && wrapPos <= clockPos && wrapPos <= endPos)
            {
                if (wrapPos > limit)
                {
                    break;
                }

                signals.Add(new SessionSignal(SignalKind.Loop, WallAt(wrapPos), ++_order, null, _windowStart, _speed, _nextWrapPass, null, null));
                _nextWrapPass++;
            }
            else if (eventPos <= clockPos && eventPos <= endPos)
            {
                if (eventPos > limit)
                {
                    break;
                }

                var e = segment!.Events[index];
                var due = WallAt(eventPos);
                var seq = _nextSeq++;
                var sessionEvent = new SessionEvent(e.Channel, e.Ticks, seq, due, ++_order, e.Data);
                events.Add(sessionEvent);
                _log.Add(sessionEvent);
                _logBytes += LogSize(sessionEvent);
                _inFlight.Enqueue(new InFlight(due, _cursorSegment, _cursorIndex));
                _cursorIndex++;
            }
            else if (clockPos < endPos)
            {
                if (clockPos > limit || _nextClockWall > now + _options.Lookahead.Ticks)
                {
                    break;
                }

                signals.Add(new SessionSignal(SignalKind.Clock, _nextClockWall, ++_order, null, StreamAt(clockPos), _speed, PassAt(clockPos), null, null));
                _nextClockWall += _options.ClockInterval.Ticks;
            }
            else
            {
                if (endPos > limit)
                {
                    break;
                }

                _endEmitted = true;
                _endWall = WallAt(_length);
                var ended = BuildState(SessionStatus.Ended, _windowEnd, 0);
                signals.Add(new SessionSignal(SignalKind.State, _endWall, ++_order, ended, _windowEnd, _speed, 0, null, null));
                break;
            }
        }

        TrimSegments();
        TrimLog();

        if (events.Count > 0 || signals.Count > 0)
        {
            Send(new PlaybackBatch(_epoch, _cutoff, events.ToImmutable(), signals.ToImmutable()));
        }
    }

    /// <summary>Keeps the replay log within <see cref="PlaybackOptions.ReplayEvents"/> events and
    /// <see cref="PlaybackOptions.ReplayBytes"/> bytes, trimming in batches (down to the count, and to three
    /// quarters of the bytes) so trimming costs nothing per event.</summary>
    private void TrimLog()
    {
        if (_log.Count <= 2 * _options.ReplayEvents && _logBytes <= _options.ReplayBytes)
        {
            return;
        }

        var remove = Math.Max(0, _log.Count - _options.ReplayEvents);
        var bytes = _logBytes;
        for (var i = 0; i < remove; i++)
        {
            bytes -= LogSize(_log[i]);
        }

        while (remove < _log.Count && bytes > _options.ReplayBytes * 3 / 4)
        {
            bytes -= LogSize(_log[remove]);
            remove++;
        }

        _log.RemoveRange(0, remove);
        _logBytes = bytes;
    }

    private static long LogSize(SessionEvent e) => 96 + 2L * e.Data.Length;

    /// <summary>The next loaded event at the cursor, stepping over exhausted segments.</summary>
    private bool PeekEvent(out Segment? segment, out int index)
    {
        while (true)
        {
            var i = (int)(_cursorSegment - _firstSegmentNo);
            if (i >= _segments.Count)
            {
                segment = null;
                index = 0;
                return false;
            }

            segment = _segments[i];
            if (_cursorIndex < segment.Events.Length)
            {
                index = _cursorIndex;
                return true;
            }

            _cursorSegment++;
            _cursorIndex = 0;
        }
    }

    /// <summary>Takes back what was handed on but falls due after <paramref name="cut"/>: the cursor
    /// returns to the first such event and the wrap, clock and end markers after the cut are re-issued.</summary>
    private void Rewind(long cut, double position)
    {
        while (_inFlight.TryDequeue(out var item))
        {
            if (item.DueTicks > cut)
            {
                _cursorSegment = item.Segment;
                _cursorIndex = item.Index;
                _inFlight.Clear();
                break;
            }
        }

        _nextWrapPass = PassAt(position) + 1;
        if (_endEmitted && _endWall > cut)
        {
            _endEmitted = false;
        }
    }

    private void TrimSegments()
    {
        var keepFrom = _cursorSegment;
        if (_inFlight.TryPeek(out var oldest))
        {
            keepFrom = Math.Min(keepFrom, oldest.Segment);
        }

        var drop = (int)Math.Min(_segments.Count, keepFrom - _firstSegmentNo);
        if (drop > 0)
        {
            _segments.RemoveRange(0, drop);
            _firstSegmentNo += drop;
        }
    }

    // ───────────────────────── loading ─────────────────────────

    private void ResetBuffer(int pass, long fromTicks)
    {
        _loadGeneration++;
        _loader = null;
        _segments.Clear();
        _inFlight.Clear();
        _firstSegmentNo = 0;
        _cursorSegment = 0;
        _cursorIndex = 0;
        _allLoaded = false;
        _endEmitted = false;
        _storeFailing = false;
        _skipBeforeTicks = fromTicks;
        _liveHighWater = long.MinValue;
        _atLiveEdge = false;
        _nextLoad = (pass, ChunkOf(fromTicks));
        _loadedThrough = pass * _length + (_warp?.ToPosition(fromTicks) ?? 0);
    }

    private long ChunkOf(long ticks) => _grid.IndexOf(ticks);

    private async Task<ControlResult?> LoadFirstSegmentAsync()
    {
        var generation = _loadGeneration;
        try
        {
            var segments = await FetchSegmentsAsync(_nextLoad.Pass, _nextLoad.Chunk, BatchSize(Now));
            if (generation == _loadGeneration)
            {
                segments.ForEach(Append);
            }

            return null;
        }
        catch (StoreUnavailableGrainException ex)
        {
            return ControlResult.Fail(ErrorCodes.StoreUnavailable, $"The event store is unavailable ({ex.Message}); try again shortly.");
        }
    }

    /// <summary>Starts the background loader when the loaded edge is closer than the read-ahead.</summary>
    private void EnsureLoader(long now)
    {
        if (_loader is { IsCompleted: false } || !(_loop || !_allLoaded) || _status is not (SessionStatus.Playing or SessionStatus.Buffering))
        {
            return;
        }

        if (NeedMore(now))
        {
            _loader = LoadAheadAsync(_loadGeneration);
        }
    }

    private bool NeedMore(long now)
    {
        if (!_loop && _allLoaded)
        {
            return false;
        }

        var ahead = _segments.Count - (int)(_cursorSegment - _firstSegmentNo);
        return ahead < 2 || _status == SessionStatus.Buffering || WallAt(_loadedThrough) < now + _options.ReadAhead.Ticks;
    }

    private async Task LoadAheadAsync(int generation)
    {
        var delay = TimeSpan.FromMilliseconds(250);
        while (generation == _loadGeneration && NeedMore(Now) && _status is SessionStatus.Playing or SessionStatus.Buffering)
        {
            try
            {
                var segments = await FetchSegmentsAsync(_nextLoad.Pass, _nextLoad.Chunk, BatchSize(Now));
                if (generation != _loadGeneration)
                {
                    return;
                }

                if (_storeFailing)
                {
                    _storeFailing = false;
                    LogStoreRecovered(_logger, SessionId);
                }

                segments.ForEach(Append);
                delay = TimeSpan.FromMilliseconds(250);
                if (_atLiveEdge)
                {
                    // What the read found is handed on now, not at the next tick: at the live edge it is due already.
                    Emit(Now);
                    await WaitForLiveDataAsync();
                }
            }
            catch (StoreUnavailableGrainException ex)
            {
                if (generation != _loadGeneration)
                {
                    return;
                }

                if (!_storeFailing)
                {
                    _storeFailing = true;
                    LogStoreFailing(_logger, SessionId, ex.Message);
                    Broadcast(new SessionSignal(SignalKind.Error, Now, ++_order, null, 0, _speed, 0, ErrorCodes.StoreUnavailable,
                        $"The event store is unavailable ({ex.Message}); playback waits and carries on once it is back."));
                }

                await Task.Delay(delay, _time);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    /// <summary>
    /// At the live edge, waits until the newest chunk should be read again: at once when a channel's grain says
    /// events were ingested through Tivo (<see cref="OnChannelAppended"/>), else after
    /// <see cref="PlaybackOptions.LivePollInterval"/> (for rows written straight into the store).
    /// </summary>
    private async Task WaitForLiveDataAsync()
    {
        var now = Now;
        if (now - _liveWatchRenewedAt >= ChannelGrain.LiveWatchRenewal.Ticks)
        {
            _liveWatchRenewedAt = now;
            await Task.WhenAll(_channels.Select(c => GrainFactory.GetGrain<IChannelGrain>(c).WatchLive(SessionId)));
        }

        var appended = _liveAppended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var poll = new CancellationTokenSource();
        await Task.WhenAny(appended.Task, Task.Delay(_options.LivePollInterval, _time, poll.Token));
        await poll.CancelAsync(); // a notice came first: drop the poll's timer rather than leave one per ingest
    }

    public Task OnChannelAppended(string channel)
    {
        _liveAppended?.TrySetResult();
        return Task.CompletedTask;
    }

    /// <summary>Chunks to ask for at once: enough to cover the read-ahead at the current pace, within one pass.</summary>
    private int BatchSize(long now)
    {
        var target = Math.Max(PositionAt(now), _loadedThrough)
            + _options.ReadAhead.TotalSeconds * _speed;
        var pass = _nextLoad.Pass;
        var within = Math.Clamp(target - pass * _length, 0, _length);
        var targetTicks = _warp!.ToTicks(within);
        var lastChunk = ChunkOf(Math.Max(_windowStart, _windowEnd - 1));
        var wanted = Math.Min(ChunkOf(targetTicks), lastChunk) - _nextLoad.Chunk + 1;
        return (int)Math.Clamp(wanted, 1, Math.Min(256, lastChunk - _nextLoad.Chunk + 1));
    }

    private async Task<List<Segment>> FetchSegmentsAsync(int pass, long firstChunk, int count)
    {
        var tasks = new Task<ImmutableArray<ChannelChunk>>[_channels.Length];
        for (var i = 0; i < tasks.Length; i++)
        {
            tasks[i] = GrainFactory.GetGrain<IChannelGrain>(_channels[i]).GetChunks(firstChunk, count);
        }

        var fetchedAt = Now;
        var perChannel = await Task.WhenAll(tasks);
        var segments = new List<Segment>(count);
        for (var k = 0; k < count; k++)
        {
            var chunk = perChannel[0][k];
            var open = _live && chunk.EndTicks > fetchedAt;
            var from = Math.Max(_windowStart, chunk.StartTicks);
            var to = Math.Min(_windowEnd, chunk.EndTicks);
            var merged = new List<LoadedEvent>();
            for (var c = 0; c < perChannel.Length; c++)
            {
                foreach (var e in perChannel[c][k].Events)
                {
                    if (e.Ticks >= from && e.Ticks < to)
                    {
                        merged.Add(new LoadedEvent(_channels[c], e.Ticks, e.Data, c, merged.Count));
                    }
                }
            }

            if (perChannel.Length > 1)
            {
                // Stable merge order: time, then the channel's place in the play request, then store order.
                merged.Sort(static (a, b) => a.Ticks != b.Ticks ? a.Ticks.CompareTo(b.Ticks)
                    : a.ChannelIndex != b.ChannelIndex ? a.ChannelIndex.CompareTo(b.ChannelIndex)
                    : a.Arrival.CompareTo(b.Arrival));
            }

            segments.Add(new Segment(pass, chunk.ChunkIndex, [.. merged], to >= _windowEnd, open ? fetchedAt : null));
            if (to >= _windowEnd || open)
            {
                break; // nothing exists beyond the present yet
            }
        }

        return segments;
    }

    private void Append(Segment segment)
    {
        var events = segment.Events;
        if (_segments.Count == 0 && _firstSegmentNo == _cursorSegment && _skipBeforeTicks > long.MinValue)
        {
            // The first chunk after a play or seek starts at the requested instant, not at the chunk edge.
            var skip = _skipBeforeTicks;
            events = [.. events.Where(e => e.Ticks >= skip)];
            _skipBeforeTicks = long.MinValue;
            segment = segment with { Events = events };
        }

        if (_live)
        {
            // Chunks near the present are read more than once: keep only what is newer than what was loaded.
            var highWater = _liveHighWater;
            events = [.. segment.Events.Where(e => e.Ticks > highWater)];
            segment = segment with { Events = events };
            if (events.Length > 0)
            {
                _liveHighWater = events.Max(e => e.Ticks);
            }
        }

        _segments.Add(segment);
        _atLiveEdge = segment.OpenUntil is not null;
        if (segment.OpenUntil is { } until)
        {
            _loadedThrough = _warp!.ToPosition(until);
            return; // the same chunk is read again on the next poll
        }

        _loadedThrough = segment.Pass * _length + (segment.LastOfPass ? _length : _warp!.ToPosition(ChunkEndTicks(segment.Chunk)));
        if (segment.LastOfPass)
        {
            if (_loop)
            {
                _nextLoad = (segment.Pass + 1, ChunkOf(_windowStart));
            }
            else
            {
                _allLoaded = true;
            }
        }
        else
        {
            _nextLoad = (segment.Pass, segment.Chunk + 1);
        }
    }

    private long ChunkEndTicks(long chunk) => _grid.EndOf(chunk);

    /// <summary>The pacing warp of a window; for rate and maxGap from the channels' counts, read one channel
    /// at a time in bins of <see cref="Warp.BucketSeconds"/> so a play's memory does not grow with its window.</summary>
    private async Task<Warp> BuildWarpAsync(ImmutableArray<string> channels, long start, long end, double? duration, double? rate, double? maxGap)
    {
        var counts = new List<HistogramBin>();
        if (rate is not null || maxGap is not null)
        {
            var from = TimeUtil.SecondOf(start);
            var to = TimeUtil.SecondOf(end - 1) + 1;
            var step = Warp.BucketSeconds(start, end);
            foreach (var channel in channels.Distinct(StringComparer.Ordinal))
            {
                counts.AddRange(await GrainFactory.GetGrain<IChannelGrain>(channel).GetHistogram(from, to, step));
            }
        }

        return Warp.Build(start, end, duration, rate, maxGap, counts);
    }

    // ───────────────────────── state and pushes ─────────────────────────

    private ControlResult? NoPlayback() => _warp is null
        ? ControlResult.Fail(ErrorCodes.BadRequest, "Nothing is playing in this session yet: send play with a window first.")
        : null;

    private string? SpeedError(double speed)
    {
        if (double.IsNaN(speed) || double.IsInfinity(speed))
        {
            return "speed must be a finite number.";
        }

        if (speed < _options.MinSpeed || speed > _options.MaxSpeed)
        {
            return $"speed {speed.ToString(System.Globalization.CultureInfo.InvariantCulture)} is out of range: use a value from {_options.MinSpeed.ToString(System.Globalization.CultureInfo.InvariantCulture)} to {_options.MaxSpeed.ToString(System.Globalization.CultureInfo.InvariantCulture)} (1 = real time).";
        }

        return null;
    }

    private SessionSignal StateSignal(long release) =>
        new(SignalKind.State, release, ++_order, Snapshot(release), 0, _speed, 0, null, null);

    private SessionState Snapshot(long now)
    {
        if (_warp is null)
        {
            return BuildState(_status, null, 0);
        }

        var position = PositionAt(now);
        return BuildState(_status, StreamAt(position), PassAt(position));
    }

    private SessionState BuildState(string status, long? playhead, int iteration) => new(
        status,
        playhead,
        _speed,
        AchievedSpeed(),
        _loop,
        _warp is null ? null : _windowStart,
        _warp is null || _live ? null : _windowEnd,
        iteration,
        _channels,
        _duration,
        _rate,
        _maxGap,
        BufferAhead(status),
        _order,
        _live && playhead is { } head ? Math.Max(0, (Now - head) / (double)TimeUtil.TicksPerSecond) : null,
        _participants.Count,
        _participants.Values.Count(p => p.Role == ParticipantRoles.Controller));

    private double? BufferAhead(string status)
    {
        if (_warp is null || (!_loop && _allLoaded))
        {
            return null;
        }

        var now = Now;
        var ahead = status == SessionStatus.Playing
            ? (WallAt(_loadedThrough) - Math.Max(now, _wallAnchor)) / (double)TimeUtil.TicksPerSecond
            : (_loadedThrough - _posAnchor) / _speed;
        return Math.Max(0, Math.Round(ahead, 3));
    }

    private double AchievedSpeed()
    {
        if (_status == SessionStatus.Buffering)
        {
            return 0;
        }

        if (_status != SessionStatus.Playing || _bufferSamples.Count < 2)
        {
            return _status == SessionStatus.Playing ? _speed : 0;
        }

        var first = _bufferSamples.Peek();
        var last = _bufferSamples.Last();
        var wall = last.Wall - first.Wall;
        return wall <= 0 ? _speed : _speed * (1 - (last.Buffered - first.Buffered) / (double)wall);
    }

    private void SampleAchievedSpeed(long now)
    {
        var buffered = _bufferedTotal + (_bufferingSince >= 0 ? now - _bufferingSince : 0);
        _bufferSamples.Enqueue((now, buffered));
        while (_bufferSamples.Count > 2 && now - _bufferSamples.Peek().Wall > 5 * TimeUtil.TicksPerSecond)
        {
            _bufferSamples.Dequeue();
        }
    }

    private void EndBuffering(long now)
    {
        if (_bufferingSince >= 0)
        {
            _bufferedTotal += now - _bufferingSince;
            _bufferingSince = -1;
        }
    }

    private void Broadcast(SessionSignal signal) => Send(new PlaybackBatch(_epoch, _cutoff, [], [signal]));

    private void Send(PlaybackBatch batch)
    {
        // One push per observer: a gateway registers one observer for all its participants of a session
        // and fans out locally. One-way, so a slow or vanished gateway never holds up the clock.
        if (batch.Target is null)
        {
            _metrics.EventsPushed(batch.Events.Length);
        }

        foreach (var observer in _observers ??= [.. _participants.Values.Select(p => p.Observer).Distinct()])
        {
            _ = observer.OnBatch(batch);
        }
    }

    private void ExpireParticipants(long now)
    {
        List<string>? expired = null;
        foreach (var (id, participant) in _participants)
        {
            if (now - participant.LastSeenTicks > _options.ParticipantExpiry.Ticks)
            {
                (expired ??= []).Add(id);
            }
        }

        foreach (var id in expired ?? [])
        {
            _participants.Remove(id);
            _observers = null;
        }

        if (expired is not null && _participants.Count == 0 && _emptySince < 0)
        {
            BecameEmpty(now);
        }
    }

    private void StopTimer()
    {
        _timer?.Dispose();
        _timer = null;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {Session} had no participants for the grace period; it is stopped and released")]
    private static partial void LogAbandoned(ILogger logger, string session);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {Session} restored ({Status}) at playhead {Playhead}")]
    private static partial void LogRestored(ILogger logger, string session, string status, string playhead);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {Session}: store unavailable ({Reason}); holding the clock and retrying")]
    private static partial void LogStoreFailing(ILogger logger, string session, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {Session}: store is back; playback carries on")]
    private static partial void LogStoreRecovered(ILogger logger, string session);

    private sealed record Participant(IPlaybackObserver Observer, long LastSeenTicks, ImmutableArray<string> Channels, string Role);

    private readonly record struct InFlight(long DueTicks, long Segment, int Index);

    private readonly record struct LoadedEvent(string Channel, long Ticks, string Data, int ChannelIndex, int Arrival);

    /// <summary>Events of one chunk and pass. An open segment (live) is a chunk that reaches past the present:
    /// complete only up to <see cref="OpenUntil"/>, read again until it closes.</summary>
    private sealed record Segment(int Pass, long Chunk, LoadedEvent[] Events, bool LastOfPass, long? OpenUntil = null);
}
