using System.Collections.Immutable;
using Tivo.Gateway.Protocol;
using Tivo.GrainInterfaces;

namespace Tivo.Gateway.Connections;

/// <summary>
/// A connection's place in its session: joining (unknown channels dropped and reported, the catch-up awaited before
/// the shared stream flows), renewing, leaving — and the one copy of the participant's channel set. A change to the
/// set (a play naming channels) is told to the session at once, so a later play without names on any connection
/// takes it; the periodic renewal only keeps the participant from expiring.
/// </summary>
internal sealed partial class SessionMembership
{
    /// <summary>A catch-up is one message sent before the join's reply; should it be lost with its silo, the shared
    /// stream is not held back for longer than this.</summary>
    public static readonly TimeSpan JoinCatchUpTimeout = TimeSpan.FromSeconds(10);

    private readonly IClusterClient _client;
    private readonly SessionFanoutRegistry _fanouts;
    private readonly ConnectionOutbox _outbox;
    private readonly TimeProvider _time;
    private readonly TimeSpan _renewInterval;
    private readonly ILogger _logger;
    private readonly string _participantId = Guid.NewGuid().ToString("n");
    private readonly ParticipantRole _role;
    private readonly long? _lastSeq;
    private ImmutableHashSet<string> _channels;
    private IPlaybackObserver? _reference;

    public SessionMembership(IClusterClient client, SessionFanoutRegistry fanouts, ConnectionOutbox outbox, TimeProvider time, TimeSpan renewInterval,
        ILogger logger, string sessionId, IEnumerable<string> channels, ParticipantRole role, long? lastSeq)
    {
        _client = client;
        _fanouts = fanouts;
        _outbox = outbox;
        _time = time;
        _renewInterval = renewInterval;
        _logger = logger;
        SessionId = sessionId;
        _role = role;
        _lastSeq = lastSeq;
        _channels = ImmutableHashSet.CreateRange(StringComparer.Ordinal, channels);
    }

    public string SessionId { get; }

    public ParticipantRole Role => _role;

    public IPlaybackGrain Session => _client.GetGrain<IPlaybackGrain>(SessionId);

    /// <summary>The channels this participant receives (empty: all its session plays).</summary>
    public IReadOnlyCollection<string> Channels => Volatile.Read(ref _channels);

    /// <summary>Whether this participant receives <paramref name="e"/>; read lock-free by the outbox for every push.</summary>
    public bool Receives(SessionEvent e)
    {
        var channels = Volatile.Read(ref _channels);
        return channels.Count == 0 || channels.Contains(e.Channel);
    }

    /// <summary>Joins the session: returns the join's answer and the channels asked for that do not exist (dropped).
    /// The outbox holds the shared stream until the catch-up arrives (or <see cref="JoinCatchUpTimeout"/> passes).</summary>
    public async Task<(JoinResult Joined, List<string> Unknown)> JoinAsync(CancellationToken cancellationToken)
    {
        _outbox.BeginJoin(); // attached before joining: the shared stream waits for the join's catch-up (DeliveryQueue.BeginJoin)
        var fanout = _fanouts.Attach(SessionId, _participantId, _outbox, this);
        _reference = fanout.Reference;
        _outbox.Late = fanout.ReportLate;
        var unknown = await RemoveUnknownChannelsAsync();
        // Reconnecting: the mark of the last event this participant had, if this gateway received it too, so that a session
        // restoring meanwhile (its silo died) continues right after it, not after what the other participants had.
        var resume = _lastSeq is { } last ? _fanouts.MarkOf(SessionId, last) : null;
        var joined = await Session.Join(_participantId, _reference, new JoinRequest([.. Channels], _role, _lastSeq, Resume: resume));
        fanout.Expect(joined.NextSeq, joined.Epoch); // a first push overtaken by the next one is then a hole, not repeats
        if (joined.CatchUpSent)
        {
            _ = EndJoinLaterAsync(cancellationToken);
        }
        else
        {
            _outbox.EndJoin();
        }

        return (joined, unknown);
    }

    /// <summary>Adds channels a play named to this participant's set and tells the session at once.</summary>
    public async Task AddChannelsAsync(ImmutableArray<string> channels)
    {
        if (ImmutableInterlocked.Update(ref _channels, (current, added) => current.Union(added), channels) && _reference is not null)
        {
            await Session.Join(_participantId, _reference, new JoinRequest([.. Channels], _role, Renewal: true));
        }
    }

    /// <summary>Renews the participant every renewal interval until <paramref name="cancellationToken"/> fires.</summary>
    public async Task RenewLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_renewInterval, _time);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            try
            {
                await Session.Join(_participantId, _reference!, new JoinRequest([.. Channels], _role, Renewal: true));
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
            {
                LogRenewFailed(_logger, SessionId, ex.Message);
            }
        }
    }

    /// <summary>Calls the session back at once (it moved, or its silo died), saying the last event this gateway received so a
    /// restored session continues right after it; after a handover, on the silo the session named (<paramref name="on"/>,
    /// a placement hint). Gives up after 5 s; false when it failed (the caller tries again).</summary>
    public async Task<bool> RejoinAsync(ResumeMark? mark, SiloAddress? on = null)
    {
        if (on is not null)
        {
            // Orleans' placement takes the hint when that silo is active; the context reverts when this method returns.
            RequestContext.Set(Orleans.Runtime.Placement.IPlacementDirector.PlacementHintKey, on);
        }

        try
        {
            await Session.Join(_participantId, _reference!, new JoinRequest([.. Channels], _role, Renewal: true, Resume: mark)).WaitAsync(TimeSpan.FromSeconds(5));
            LogRejoined(_logger, SessionId, mark?.LastSeq);
            return true;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogRenewFailed(_logger, SessionId, ex.Message);
            return false;
        }
    }

    /// <summary>Leaves the session and detaches from the gateway's fan-out; failures are logged (the participant then expires).</summary>
    public async Task LeaveAsync()
    {
        try
        {
            await Session.Leave(_participantId);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogLeaveFailed(_logger, SessionId, ex.Message);
        }

        _fanouts.Detach(SessionId, _participantId);
    }

    private async Task<List<string>> RemoveUnknownChannelsAsync()
    {
        var unknown = new List<string>();
        foreach (var channel in Channels)
        {
            if (await _client.GetGrain<ICatalogGrain>(0).FindChannel(channel) is null)
            {
                unknown.Add(channel);
            }
        }

        ImmutableInterlocked.Update(ref _channels, (current, removed) => current.Except(removed), unknown);
        return unknown;
    }

    private async Task EndJoinLaterAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(JoinCatchUpTimeout, _time, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        if (_outbox.Joining)
        {
            LogCatchUpMissing(_logger, SessionId, JoinCatchUpTimeout.TotalSeconds);
            _outbox.EndJoin();
        }
    }

    /// <summary>The error sentence for a channel asked for at connect that does not exist.</summary>
    public static string UnknownChannelMessage(string name) =>
        $"Unknown channel '{ClientMessageParser.Shorten(name)}'. GET /channels lists the channels this server has.";

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {Session}: the join's catch-up did not arrive within {Seconds} s; the shared stream goes on without it")]
    private static partial void LogCatchUpMissing(ILogger logger, string session, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {Session}: called back after it moved or fell silent (last event received: seq {LastSeq})")]
    private static partial void LogRejoined(ILogger logger, string session, long? lastSeq);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {Session}: leaving failed: {Reason}")]
    private static partial void LogLeaveFailed(ILogger logger, string session, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {Session}: renewing the participant failed: {Reason}")]
    private static partial void LogRenewFailed(ILogger logger, string session, string reason);
}
