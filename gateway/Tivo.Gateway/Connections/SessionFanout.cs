using System.Collections.Concurrent;
using Tivo.GrainInterfaces;

namespace Tivo.Gateway.Connections;

/// <summary>
/// The one observer a gateway registers per session: the session pushes each batch once per gateway, and this fans it
/// out to the gateway's connections of that session (a joiner's catch-up only to that joiner). It also remembers the
/// last shared event it received (as a <see cref="ResumeMark"/>) and whether the session is playing, so that when the
/// session moves (a <see cref="HandoverSignal"/>) or falls silent while playing (its silo died), the connections call
/// it back at once with that mark and it continues right after it. Kept strongly referenced by
/// <see cref="SessionFanoutRegistry"/> while connections use it.
/// </summary>
internal sealed class SessionFanout : IPlaybackObserver
{
    private readonly ConcurrentDictionary<string, (ConnectionOutbox Outbox, SessionMembership Membership)> _connections = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private long _batches;
    private long _events;
    private ResumeMark? _last;
    private bool _playing;
    private long _lastPush;
    private long _lastRejoin;

    public SessionFanout(TimeProvider time)
    {
        _time = time;
        _lastPush = time.GetTimestamp();
    }

    public IPlaybackObserver Reference { get; set; } = null!;

    /// <summary>Batches received from the session (each once, however many connections share them).</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Events received from the session in batches for every participant.</summary>
    public long Events => Interlocked.Read(ref _events);

    public int Count => _connections.Count;

    /// <summary>The last shared event received (null before any).</summary>
    public ResumeMark? LastReceived
    {
        get
        {
            lock (_lock)
            {
                return _last;
            }
        }
    }

    public void Add(string participantId, ConnectionOutbox outbox, SessionMembership membership) => _connections[participantId] = (outbox, membership);

    public bool Remove(string participantId) => _connections.TryRemove(participantId, out _);

    public Task OnBatch(PlaybackBatch batch)
    {
        Interlocked.Increment(ref _batches);
        if (batch.Target is { } target)
        {
            if (_connections.TryGetValue(target, out var connection))
            {
                connection.Outbox.Deliver(batch);
            }

            return Task.CompletedTask;
        }

        var handover = Observe(batch);
        Interlocked.Add(ref _events, batch.Events.Length);
        if (batch.Events.Length > 0 || batch.Signals.Any(s => s is not HandoverSignal))
        {
            foreach (var connection in _connections.Values)
            {
                connection.Outbox.Deliver(batch);
            }
        }

        if (handover)
        {
            _ = RejoinAsync(); // the session is moving: call it back now, so it continues on another silo at once
        }

        return Task.CompletedTask;
    }

    /// <summary>Whether the session has been silent for longer than <paramref name="silence"/> while playing (its silo is
    /// gone); then the caller rejoins, at most once per <paramref name="silence"/>.</summary>
    public bool SilentWhilePlaying(TimeSpan silence)
    {
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            if (!_playing || _time.GetElapsedTime(_lastPush, now) < silence || _time.GetElapsedTime(_lastRejoin, now) < silence)
            {
                return false;
            }

            _lastRejoin = now;
            return true;
        }
    }

    /// <summary>Every connection of this session on this gateway calls the session back, giving the last event received.</summary>
    public Task RejoinAsync()
    {
        var mark = LastReceived;
        return Task.WhenAll(_connections.Values.Select(c => c.Membership.RejoinAsync(mark)));
    }

    /// <summary>Notes the last shared event, the playing status and the time; true when the batch says the session moves.</summary>
    private bool Observe(PlaybackBatch batch)
    {
        lock (_lock)
        {
            _lastPush = _time.GetTimestamp();
            foreach (var e in batch.Events)
            {
                if (e.Seq <= 0 || e.Snapshot || (_last is { } l && e.Seq <= l.LastSeq))
                {
                    continue;
                }

                var same = _last is { } prev && prev.Ticks == e.Ticks && prev.Pass == e.Pass ? prev.SameTicks + 1 : 1;
                _last = new ResumeMark(e.Seq, e.Pass, e.Ticks, same, e.DueTicks);
            }

            var handover = false;
            foreach (var signal in batch.Signals)
            {
                switch (signal)
                {
                    case StateSignal state:
                        _playing = state.State.Status == SessionStatus.Playing;
                        break;
                    case HandoverSignal:
                        handover = true;
                        break;
                }
            }

            return handover;
        }
    }
}

/// <summary>The gateway's <see cref="SessionFanout"/> per session; creates and deletes observer references.</summary>
internal sealed class SessionFanoutRegistry(IClusterClient client, TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, SessionFanout> _sessions = new(StringComparer.Ordinal);

    public SessionFanout Attach(string sessionId, string participantId, ConnectionOutbox outbox, SessionMembership membership)
    {
        lock (_lock)
        {
            if (!_sessions.TryGetValue(sessionId, out var fanout))
            {
                fanout = new SessionFanout(time);
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
            }
        }
    }

    public SessionFanout? Find(string sessionId)
    {
        lock (_lock)
        {
            return _sessions.GetValueOrDefault(sessionId);
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
