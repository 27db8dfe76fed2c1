using System.Collections.Concurrent;
using Tivo.GrainInterfaces;

namespace Tivo.Gateway.Connections;

/// <summary>
/// The one observer a gateway registers per session: the session pushes each batch once per gateway,
/// and this fans it out to the gateway's connections of that session (a joiner's catch-up only to
/// that joiner). Kept strongly referenced by <see cref="SessionFanoutRegistry"/> while connections use it.
/// </summary>
internal sealed class SessionFanout : IPlaybackObserver
{
    private readonly ConcurrentDictionary<string, ConnectionOutbox> _connections = new(StringComparer.Ordinal);
    private long _batches;
    private long _events;

    public IPlaybackObserver Reference { get; set; } = null!;

    /// <summary>Batches received from the session (each once, however many connections share them).</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Events received from the session in batches for every participant.</summary>
    public long Events => Interlocked.Read(ref _events);

    public int Count => _connections.Count;

    public void Add(string participantId, ConnectionOutbox connection) => _connections[participantId] = connection;

    public bool Remove(string participantId) => _connections.TryRemove(participantId, out _);

    public Task OnBatch(PlaybackBatch batch)
    {
        Interlocked.Increment(ref _batches);
        if (batch.Target is { } target)
        {
            if (_connections.TryGetValue(target, out var connection))
            {
                connection.Deliver(batch);
            }

            return Task.CompletedTask;
        }

        Interlocked.Add(ref _events, batch.Events.Length);
        foreach (var connection in _connections.Values)
        {
            connection.Deliver(batch);
        }

        return Task.CompletedTask;
    }
}

/// <summary>The gateway's <see cref="SessionFanout"/> per session; creates and deletes observer references.</summary>
internal sealed class SessionFanoutRegistry(IClusterClient client)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, SessionFanout> _sessions = new(StringComparer.Ordinal);

    public SessionFanout Attach(string sessionId, string participantId, ConnectionOutbox connection)
    {
        lock (_lock)
        {
            if (!_sessions.TryGetValue(sessionId, out var fanout))
            {
                fanout = new SessionFanout();
                fanout.Reference = client.CreateObjectReference<IPlaybackObserver>(fanout);
                _sessions[sessionId] = fanout;
            }

            fanout.Add(participantId, connection);
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
}
