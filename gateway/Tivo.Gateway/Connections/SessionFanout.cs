using Microsoft.Extensions.Options;
using Tivo.GrainInterfaces;

namespace Tivo.Gateway.Connections;

/// <summary>
/// The one observer a gateway registers per session: the session pushes each batch once per gateway, and this fans it
/// out to the gateway's connections of that session (a joiner's catch-up only to that joiner). It also remembers the
/// last shared event it received (as a <see cref="ResumeMark"/>) and whether the session is playing, so that when the
/// session moves (a <see cref="HandoverSignal"/>) or falls silent while playing (its silo died), the connections call
/// it back at once with that mark and it continues right after it. A push lost or overtaken on its way is a hole, asked
/// of the session's replay log; while one is open, the connections hold the shared stream back so nothing goes out ahead
/// of it. Kept strongly referenced by <see cref="SessionFanoutRegistry"/> while connections use it.
/// </summary>
internal sealed partial class SessionFanout : IPlaybackObserver
{
    // The connections by participant, changed and read under _lock; and as an array, replaced when one comes or goes, which
    // every push walks (a ConcurrentDictionary's Values took all its locks and copied itself into a new list at each push: a
    // plain session pushes every tick) and the watchdog reads without the lock.
    private readonly Dictionary<string, (ConnectionOutbox Outbox, SessionMembership Membership)> _connections = new(StringComparer.Ordinal);
    private (ConnectionOutbox Outbox, SessionMembership Membership)[] _all = [];
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly IPlaybackGrain _session;
    private readonly string _sessionId;
    private long _batches;
    private long _events;
    private readonly SharedStreamTracker _stream = new();
    private long _lastPush;
    private long _lastRejoin;

    private readonly ILogger _logger;

    private readonly GatewayOptions _options;
    private long _lateWorst;
    private long _lastLateReport;

    public SessionFanout(string sessionId, TimeProvider time, IPlaybackGrain session, ILogger logger, GatewayOptions options)
    {
        _sessionId = sessionId;
        _time = time;
        _session = session;
        _logger = logger;
        _options = options;
        _lastPush = time.GetTimestamp();
    }

    /// <summary>The session's events reached this gateway, or a connection's send loop ran, <paramref name="lagTicks"/> after
    /// they were due: past the threshold, the session is told the worst lag since the last report (at most one report per
    /// interval) and holds its clock.</summary>
    public void ReportLate(long lagTicks)
    {
        var threshold = _options.LateReportThreshold.Ticks;
        if (threshold <= 0 || lagTicks < threshold)
        {
            return;
        }

        long worst;
        lock (_lock)
        {
            _lateWorst = Math.Max(_lateWorst, lagTicks);
            var now = _time.GetTimestamp();
            if (_lastLateReport != 0 && _time.GetElapsedTime(_lastLateReport, now) < _options.LateReportInterval)
            {
                return;
            }

            (worst, _lateWorst, _lastLateReport) = (_lateWorst, 0, now);
        }

        _ = _session.SlowDown(worst);
    }

    public IPlaybackObserver Reference { get; set; } = null!;

    /// <summary>Batches received from the session (each once, however many connections share them).</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Events received from the session in batches for every participant.</summary>
    public long Events => Interlocked.Read(ref _events);

    public int Count => Volatile.Read(ref _all).Length;

    /// <summary>A join's answer: what the session had handed on when this gateway joined (see <see cref="SharedStreamTracker.Expect"/>);
    /// handled after the first push, it can show a hole, which is then filled.</summary>
    public void Expect(long nextSeq, long epoch) => Expect(nextSeq, epoch, null);

    /// <summary>Takes in where the shared stream starts (the join's answer, or the catch-up that says the same and may come
    /// first), then hands <paramref name="catchUp"/> to its connection; a hole this shows is held back and filled.</summary>
    private void Expect(long nextSeq, long epoch, PlaybackBatch? catchUp)
    {
        (long From, long To, long Epoch, long Cutoff)? hole;
        lock (_lock)
        {
            hole = _stream.Expect(nextSeq, epoch);
            if (hole is not null)
            {
                DeliverLocked(null);
            }

            if (catchUp is not null && _connections.TryGetValue(catchUp.Target!, out var connection))
            {
                connection.Outbox.Deliver(catchUp);
            }
        }

        if (hole is { } h)
        {
            _ = FillAsync(h.From, h.To, h.Epoch, h.Cutoff);
        }
    }

    /// <summary>The mark of shared event <paramref name="seq"/> if it is among the newest received.</summary>
    public ResumeMark? MarkOf(long seq)
    {
        lock (_lock)
        {
            return _stream.MarkOf(seq);
        }
    }

    /// <summary>The last shared event received (null before any).</summary>
    public ResumeMark? LastReceived
    {
        get
        {
            lock (_lock)
            {
                return _stream.Last;
            }
        }
    }

    public void Add(string participantId, ConnectionOutbox outbox, SessionMembership membership)
    {
        lock (_lock)
        {
            _connections[participantId] = (outbox, membership);
            Volatile.Write(ref _all, [.. _connections.Values]);
            if (_stream.Missing > 0)
            {
                outbox.Deliver(null, holdShared: true); // a hole is open: this connection waits for it too
            }
        }
    }

    public bool Remove(string participantId)
    {
        lock (_lock)
        {
            if (!_connections.Remove(participantId))
            {
                return false;
            }

            Volatile.Write(ref _all, [.. _connections.Values]);
            return true;
        }
    }

    /// <summary>Checks every connection's slow-consumer bounds (see <see cref="ConnectionOutbox.CheckSlowConsumer"/>).</summary>
    public void CheckSlowConsumers()
    {
        foreach (var connection in Volatile.Read(ref _all))
        {
            connection.Outbox.CheckSlowConsumer();
        }
    }

    public Task OnBatch(PlaybackBatch batch)
    {
        Interlocked.Increment(ref _batches);
        if (batch.Target is not null)
        {
            // A joiner's catch-up. Its connection holds the shared stream until it comes, and it says where that stream
            // starts: taken in first, a push overtaken before the join's answer is handled is a hole before anything goes.
            Expect(batch.JoinedAtSeq, batch.Epoch, batch);
            return Task.CompletedTask;
        }

        HandoverSignal? handover;
        (long From, long To)? hole;
        PlaybackBatch? fresh;
        lock (_lock)
        {
            _lastPush = _time.GetTimestamp();
            (handover, hole, fresh) = _stream.Observe(batch);
            DeliverLocked(fresh);
        }

        Interlocked.Add(ref _events, batch.Events.Length);
        if (fresh is { Events: [var first, ..] })
        {
            ReportLate(_time.GetUtcNow().UtcTicks - first.DueTicks); // handed on after its due: the silo cannot keep up
        }

        if (handover is not null)
        {
            _ = FollowAsync(handover.Successor);
        }

        if (hole is { } h)
        {
            _ = FillAsync(h.From, h.To, batch.Epoch, batch.CutoffTicks);
        }

        return Task.CompletedTask;
    }

    /// <summary>Hands <paramref name="batch"/> (null: only the hold) to every connection, holding their shared stream while
    /// a hole is open: what came after a push lost or overtaken on its way waits for it (or for its copies, or its gap), so
    /// nothing goes out of order. Called under the lock after every change to the tracker's holes, so the hold each
    /// connection has is always the tracker's, and a fill ending on another thread cannot release later events ahead of
    /// its copies.</summary>
    private void DeliverLocked(PlaybackBatch? batch)
    {
        var hold = _stream.Missing > 0;
        foreach (var connection in _all)
        {
            connection.Outbox.Deliver(batch, hold);
        }
    }

    /// <summary>A push was lost on its way (one-way messages to a gateway can be dropped while a silo fails or a new one
    /// learns where this gateway is): the shared stream skipped seqs <paramref name="from"/>..<paramref name="to"/>. Asks the
    /// session's replay log for them and hands them to the connections (they are due already, so they go at once); what
    /// the log no longer holds is announced as a gap, never skipped silently.</summary>
    private async Task FillAsync(long from, long to, long epoch, long cutoffTicks)
    {
        var held = System.Collections.Immutable.ImmutableArray<SessionEvent>.Empty;
        try
        {
            held = await _session.Replay(from, to).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Nothing held can be had: the whole hole is a gap.
        }

        List<long> missing;
        lock (_lock)
        {
            (held, missing) = _stream.Fill(held, from, to);
            System.Collections.Immutable.ImmutableArray<SessionSignal> gap = missing.Count == 0 ? [] :
                [new GapSignal(_time.GetUtcNow().UtcTicks, 0, missing[0], missing[^1],
                    $"Events seq {missing[0]} to {missing[^1]} were lost on their way from the session (its silo failed or moved) and are no longer held; the stream goes on.")];
            DeliverLocked(new PlaybackBatch(epoch, cutoffTicks, held, gap)); // the copies, then the hold lifts
        }

        LogFilled(_logger, _sessionId, from, to, held.Length, missing.Count);
    }

    /// <summary>Whether the session has been silent for longer than <paramref name="silence"/> while playing (its silo is
    /// gone); then the caller rejoins, at most once per <paramref name="silence"/>.</summary>
    public bool SilentWhilePlaying(TimeSpan silence)
    {
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            if (!_stream.Playing || _time.GetElapsedTime(_lastPush, now) < silence || _time.GetElapsedTime(_lastRejoin, now) < silence)
            {
                return false;
            }

            _lastRejoin = now;
            return true;
        }
    }

    /// <summary>Every connection of this session on this gateway calls the session back, giving the last event received;
    /// after a handover, on the silo the session named. True when every call was answered.</summary>
    public async Task<bool> RejoinAsync(SiloAddress? on = null)
    {
        var mark = LastReceived;
        var answered = await Task.WhenAll(Volatile.Read(ref _all).Select(c => c.Membership.RejoinAsync(mark, on)));
        return answered.All(a => a);
    }

    /// <summary>The session is moving to <paramref name="successor"/>: calls it back there at once, and again at growing
    /// intervals while that fails (this gateway's call can still go through the stopping silo, which refuses it, until Orleans
    /// has told the client to stop using it) rather than only after <see cref="GatewayOptions.SessionSilence"/>.</summary>
    private async Task FollowAsync(SiloAddress? successor)
    {
        foreach (var wait in HandoverRetries)
        {
            var ok = await RejoinAsync(successor);
            if (ok)
            {
                return;
            }

            await Task.Delay(wait, _time);
        }
    }

    /// <summary>The waits between calls back after a handover, while they fail (then the watchdog takes over).</summary>
    private static readonly TimeSpan[] HandoverRetries = [.. new[] { 50, 100, 200, 400, 800 }.Select(ms => TimeSpan.FromMilliseconds(ms))];

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {Session}: seqs {From}..{To} never arrived (a push lost on the way); {Held} refilled from the replay log, {Missing} announced as a gap")]
    private static partial void LogFilled(ILogger logger, string session, long from, long to, int held, int missing);
}

/// <summary>The gateway's <see cref="SessionFanout"/> per session; creates and deletes observer references.</summary>
internal sealed class SessionFanoutRegistry(IClusterClient client, TimeProvider time, ILogger<SessionFanout> logger, IOptions<GatewayOptions> options)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, SessionFanout> _sessions = new(StringComparer.Ordinal);

    public SessionFanout Attach(string sessionId, string participantId, ConnectionOutbox outbox, SessionMembership membership)
    {
        lock (_lock)
        {
            if (!_sessions.TryGetValue(sessionId, out var fanout))
            {
                fanout = new SessionFanout(sessionId, time, client.GetGrain<IPlaybackGrain>(sessionId), logger, options.Value);
                fanout.Reference = client.CreateObjectReference<IPlaybackObserver>(fanout);
                _sessions[sessionId] = fanout;
            }

            fanout.Add(participantId, outbox, membership);
            return fanout;
        }
    }

    public void Detach(string sessionId, string participantId)
    {
        lock (_lock)
        {
            if (_sessions.TryGetValue(sessionId, out var fanout) && fanout.Remove(participantId) && fanout.Count == 0)
            {
                _sessions.Remove(sessionId);
                client.DeleteObjectReference<IPlaybackObserver>(fanout.Reference);
                PruneDeparted();
                _departed[sessionId] = (fanout, time.GetTimestamp()); // what it had, for a participant reconnecting soon
            }
        }
    }

    /// <summary>How long a session's last received events are remembered after its last connection here left.</summary>
    public static readonly TimeSpan ReconnectMemory = TimeSpan.FromSeconds(30);

    private readonly Dictionary<string, (SessionFanout Fanout, long LeftAt)> _departed = new(StringComparer.Ordinal);

    /// <summary>The mark of shared event <paramref name="seq"/> of a session, as this gateway received it (from its live
    /// connections, or from ones that left within <see cref="ReconnectMemory"/>); null when not among the newest.</summary>
    public ResumeMark? MarkOf(string sessionId, long seq)
    {
        lock (_lock)
        {
            PruneDeparted();
            return _sessions.GetValueOrDefault(sessionId)?.MarkOf(seq) ?? _departed.GetValueOrDefault(sessionId).Fanout?.MarkOf(seq);
        }
    }

    public SessionFanout? Find(string sessionId)
    {
        lock (_lock)
        {
            return _sessions.GetValueOrDefault(sessionId);
        }
    }

    /// <summary>Forgets departed sessions older than <see cref="ReconnectMemory"/> (on every departure, so the memory stays
    /// bounded by the departures of the last 30 s even when nobody reconnects). Under the lock.</summary>
    private void PruneDeparted()
    {
        foreach (var (id, departed) in _departed)
        {
            if (time.GetElapsedTime(departed.LeftAt) > ReconnectMemory)
            {
                _departed.Remove(id);
            }
        }
    }

    /// <summary>Every session with connections on this gateway.</summary>
    public SessionFanout[] All()
    {
        lock (_lock)
        {
            return [.. _sessions.Values];
        }
    }
}
