using System.Buffers;
using System.Collections.Immutable;
using System.Net.WebSockets;
using Tivo.Gateway.Protocol;
using Tivo.GrainInterfaces;

namespace Tivo.Gateway.Connections;

/// <summary>
/// One WebSocket = one participant of one session: its membership (join, catch-up, renewal, leave, and the one
/// copy of its channel set), and a single receive loop that assembles frames, rate-limits them and runs controls in
/// order (the role check; replies before what they cause). Everything sent goes through its
/// <see cref="ConnectionOutbox"/>, whose single send loop owns every write; the session's pushes reach the outbox
/// through the gateway's <see cref="SessionFanout"/>.
/// </summary>
internal sealed partial class PlaybackConnection
{
    private readonly WebSocket _socket;
    private readonly IClusterClient _client;
    private readonly GatewayOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _sessionId;
    private readonly string _participantId = Guid.NewGuid().ToString("n");
    /// <summary>The channels this participant receives (empty: all its session plays); swapped whole, read lock-free
    /// by the outbox for every push.</summary>
    private ImmutableHashSet<string> _channels;
    private readonly CommandRateGuard _rateGuard;
    private readonly WireFormat _format;
    private readonly ConnectionOutbox _outbox;

    private readonly string _role;
    private readonly long? _lastSeq;
    private readonly SessionFanoutRegistry _fanouts;
    private readonly Diagnostics.GatewayMetrics _metrics;

    public PlaybackConnection(WebSocket socket, IClusterClient client, SessionFanoutRegistry fanouts, ReleaseScheduler scheduler, Diagnostics.GatewayMetrics metrics,
        GatewayOptions options, TimeProvider time, ILogger logger, string sessionId, IReadOnlyList<string> channels, string role, long? lastSeq, WireFormat format)
    {
        _format = format;
        _metrics = metrics;
        _fanouts = fanouts;
        _role = role;
        _lastSeq = lastSeq;
        _socket = socket;
        _client = client;
        _options = options;
        _time = time;
        _logger = logger;
        _sessionId = sessionId;
        _channels = ImmutableHashSet.CreateRange(StringComparer.Ordinal, channels);
        _rateGuard = new CommandRateGuard(options, time);
        _outbox = new ConnectionOutbox(socket, options, time, scheduler, metrics, format, Receives);
    }

    private IPlaybackGrain Session => _client.GetGrain<IPlaybackGrain>(_sessionId);

    private bool Receives(SessionEvent e)
    {
        var channels = Volatile.Read(ref _channels);
        return channels.Count == 0 || channels.Contains(e.Channel);
    }

    /// <summary>Runs the connection until the client leaves or <paramref name="aborted"/> fires. When
    /// <paramref name="stopping"/> fires (the gateway shuts down) the client is told with close 1001.</summary>
    public async Task RunAsync(CancellationToken aborted, CancellationToken stopping)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        using var onStopping = stopping.Register(() =>
        {
            RequestClose(WebSocketCloseStatus.EndpointUnavailable, "server shutting down; reconnect");
            // Give the client two seconds to answer the close before the receive loop is cut.
            stop.CancelAfter(TimeSpan.FromSeconds(2));
        });
        _metrics.ConnectionOpened();
        _outbox.BeginJoin(); // attached before joining: the shared stream waits for the join's catch-up (DeliveryQueue.BeginJoin)

        var reference = _fanouts.Attach(_sessionId, _participantId, _outbox).Reference;
        // The send loop starts once hello is queued: a joiner's catch-up may arrive before Join returns,
        // and hello must still be the first message on the socket.
        var sender = Task.CompletedTask;
        Task? renewer = null;
        try
        {
            var unknown = await RemoveUnknownChannelsAsync();
            var joined = await Session.Join(_participantId, reference, new JoinRequest([.. _channels], _role, _lastSeq));
            if (!joined.CatchUpSent)
            {
                _outbox.EndJoin();
            }
            else
            {
                _ = EndJoinLaterAsync(stop.Token);
            }

            if (!EnqueueLocal(buffer => _format.WriteHello(buffer, _sessionId, [.. _channels], joined.Role, joined.State)))
            {
                _outbox.NothingToSendFirst(); // no hello in this wire format: nothing to wait for before reading
            }
            foreach (var name in unknown)
            {
                EnqueueError(null, ErrorCodes.UnknownChannel, $"Unknown channel '{ClientMessageParser.Shorten(name)}'. GET /channels lists the channels this server has.");
            }

            sender = _outbox.SendLoopAsync(stop.Token);
            renewer = RenewLoopAsync(reference, stop.Token);
            // Read the client only once hello is on the wire: a frame the socket itself refuses (invalid UTF-8)
            // makes it send its close (1007) and abort, and a close raced by hello's send was lost (1006).
            await _outbox.FirstSent.WaitAsync(stop.Token);
            await ReceiveLoopAsync(stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (WebSocketException ex)
        {
            LogSocketFailed(_logger, _sessionId, ex.Message);
            if (_socket.State == WebSocketState.Aborted && _socket.CloseStatus is null)
            {
                // The socket refused a frame (a text frame that is not UTF-8: it sent close 1007 itself, RFC 6455
                // §8.1) and aborted. Keep the TCP connection a moment: closing it while the client's answer to that
                // close is arriving makes the kernel reset it, and the client would see 1006 instead of 1007.
                await Task.Delay(AbortLinger, _time, CancellationToken.None);
            }
        }
        catch (StoreUnavailableGrainException ex)
        {
            // Joining needs the catalog: without it there is no hello to send. Say why and ask the client to come back.
            CloseWithError(ErrorCodes.StoreUnavailable, $"The event store is unavailable ({ex.Message}), so session {_sessionId} cannot be joined now; reconnect in a few seconds (close 1013).",
                TryAgainLater, "store unavailable; try again later");
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogConnectionFailed(_logger, _sessionId, ex);
            CloseWithError(ErrorCodes.Internal, $"The server failed while serving this connection to session {_sessionId} (the failure is logged); reconnect, and if it persists report it with the session id.",
                WebSocketCloseStatus.InternalServerError, "server error");
        }
        finally
        {
            _outbox.RequestClose(WebSocketCloseStatus.NormalClosure, "bye");
            if (sender == Task.CompletedTask && !stop.IsCancellationRequested)
            {
                sender = _outbox.SendLoopAsync(stop.Token); // joining failed: still send what is queued and a close frame
            }

            try
            {
                await sender.WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
            }
            catch (Exception ex) when (ex is TimeoutException or OperationCanceledException or WebSocketException)
            {
            }

            await stop.CancelAsync();
            if (renewer is not null)
            {
                await renewer.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            }

            try
            {
                await Session.Leave(_participantId);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LogLeaveFailed(_logger, _sessionId, ex.Message);
            }

            _fanouts.Detach(_sessionId, _participantId);
            _rateGuard.Dispose();
            _metrics.ConnectionClosed();
        }
    }

    private static readonly TimeSpan AbortLinger = TimeSpan.FromMilliseconds(500);

    /// <summary>RFC 6455 close code 1013 (Try Again Later), which <see cref="WebSocketCloseStatus"/> does not name.</summary>
    private const WebSocketCloseStatus TryAgainLater = (WebSocketCloseStatus)1013;

    // ───────────────────────── receiving ─────────────────────────

    private async Task ReceiveLoopAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            // Wait for the next message without holding a buffer (a zero-byte read): an idle connection
            // then costs no receive memory. Controls are rare; their buffers are rented per message.
            var peek = await _socket.ReceiveAsync(Memory<byte>.Empty, cancellationToken);
            if (peek.MessageType == WebSocketMessageType.Close || _outbox.Closing)
            {
                return; // once a close is decided (slow consumer, abuse, too large) nothing more is read
            }

            if (peek.EndOfMessage)
            {
                // An empty frame: the zero-byte read took all of it.
                await HandleFrameAsync(peek.MessageType, ReadOnlyMemory<byte>.Empty);
                continue;
            }

            var buffer = ArrayPool<byte>.Shared.Rent(4096);
            var message = new ArrayBufferWriter<byte>(256);
            try
            {
                ValueWebSocketReceiveResult result;
                var tooLarge = false;
                do
                {
                    result = await _socket.ReceiveAsync(buffer.AsMemory(), cancellationToken);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        return;
                    }

                    if (message.WrittenCount + result.Count > _options.MaxMessageBytes)
                    {
                        tooLarge = true;
                        break;
                    }

                    message.Write(buffer.AsSpan(0, result.Count));
                }
                while (!result.EndOfMessage);

                if (tooLarge)
                {
                    // RFC 6455 §7.4.1: 1009 is the close code for a message too big to process.
                    CloseWithError(ErrorCodes.TooLarge, $"A message was larger than {_options.MaxMessageBytes} bytes (Tivo:Gateway:MaxMessageBytes); the connection is closed (1009). Send smaller control messages.",
                        WebSocketCloseStatus.MessageTooBig, $"message exceeds {_options.MaxMessageBytes} bytes");
                    return;
                }

            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            await HandleFrameAsync(peek.MessageType, message.WrittenMemory);
        }
    }

    /// <summary>One whole client message: rate-limited, then refused (binary, empty) or handled.</summary>
    private async Task HandleFrameAsync(WebSocketMessageType type, ReadOnlyMemory<byte> utf8)
    {
        switch (_rateGuard.Check())
        {
            case CommandVerdict.Refused:
                EnqueueError(null, ErrorCodes.RateLimited,
                    $"Too many messages: at most {_options.CommandsPerSecond} per second (bursts of {_options.CommandBurst}; Tivo:Gateway:CommandsPerSecond, CommandBurst). This one was not handled; slow down.");
                return;
            case CommandVerdict.Abusive:
                CloseWithError(ErrorCodes.RateLimited,
                    $"More than {_options.RateLimitedCloseAfter} messages were refused within {CommandRateGuard.AbuseWindow.TotalSeconds} s (Tivo:Gateway:RateLimitedCloseAfter); the connection is closed (1008).",
                    WebSocketCloseStatus.PolicyViolation, "rate limit exceeded");
                return;
        }

        if (type == WebSocketMessageType.Binary)
        {
            EnqueueError(null, ErrorCodes.BadRequest, "Binary frames are not part of protocol v1: send JSON text frames.");
            return;
        }

        if (utf8.IsEmpty)
        {
            EnqueueError(null, ErrorCodes.BadRequest, "The message is empty: send one JSON object per text frame, e.g. {\"action\":\"status\"}.");
            return;
        }

        await HandleAsync(utf8);
    }

    private async Task HandleAsync(ReadOnlyMemory<byte> utf8)
    {
        if (!ClientMessageParser.TryParse(utf8, out var message, out var error))
        {
            EnqueueError(error!.IdJson, error.Code, error.Message);
            return;
        }

        _outbox.ControlStarted();
        try
        {
            var result = await DispatchAsync(message!);
            if (result is null)
            {
                return;
            }

            if (result.Ok)
            {
                EnqueueLocal(buffer => _format.WriteAck(buffer, message!.IdJson, message.ActionName));
            }
            else
            {
                EnqueueError(message!.IdJson, result.ErrorCode!, result.ErrorMessage!);
            }
        }
        catch (StoreUnavailableGrainException ex)
        {
            EnqueueError(message!.IdJson, ErrorCodes.StoreUnavailable, $"The event store is unavailable ({ex.Message}); try again shortly.");
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            LogControlFailed(_logger, message!.ActionName, _sessionId, ex);
            EnqueueError(message.IdJson, ErrorCodes.Internal, $"The server failed to {message.ActionName}; the session is unchanged. Try again; if it persists, report it with session {_sessionId}.");
        }
        finally
        {
            _outbox.ControlEnded();
        }
    }

    private async Task<ControlResult?> DispatchAsync(ClientMessage m)
    {
        if (_role == ParticipantRoles.Viewer && m.Action != ClientAction.Status)
        {
            return ControlResult.Fail(ErrorCodes.Forbidden,
                $"This connection joined session {_sessionId} as a viewer and cannot {m.ActionName}; connect with role=controller to control playback.");
        }

        switch (m.Action)
        {
            case ClientAction.Play:
                // Without channels, the session plays every channel its participants connected with.
                var channels = m.Channels.IsDefaultOrEmpty ? [] : m.Channels;
                if (!m.Channels.IsDefaultOrEmpty)
                {
                    ImmutableInterlocked.Update(ref _channels, (current, added) => current.Union(added), m.Channels);
                }

                return await Session.Play(new PlayRequest(channels, m.Start, m.End, m.Speed, m.Loop, m.Duration, m.Rate, m.MaxGap));
            case ClientAction.Pause:
                return await Session.Pause();
            case ClientAction.Resume:
                return await Session.Resume();
            case ClientAction.Stop:
                return await Session.Stop();
            case ClientAction.Seek:
                return await Session.Seek(m.To!.Value);
            case ClientAction.Speed:
                return await Session.SetSpeed(m.Speed);
            case ClientAction.Status:
                var state = await Session.GetState();
                EnqueueLocal(buffer => _format.WriteState(buffer, state));
                return ControlResult.Success(state);
            default:
                return ControlResult.Fail(ErrorCodes.BadRequest, $"Unsupported action {m.ActionName}.");
        }
    }

    private async Task<List<string>> RemoveUnknownChannelsAsync()
    {
        if (_channels.Count == 0)
        {
            return [];
        }

        var unknown = new List<string>();
        foreach (var channel in _channels)
        {
            if (await _client.GetGrain<ICatalogGrain>(0).FindChannel(channel) is null)
            {
                unknown.Add(channel);
            }
        }

        ImmutableInterlocked.Update(ref _channels, (current, removed) => current.Except(removed), unknown);
        return unknown;
    }

    private async Task RenewLoopAsync(IPlaybackObserver reference, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.RenewInterval, _time);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            try
            {
                string[] channels = [.. Volatile.Read(ref _channels)];

                await Session.Join(_participantId, reference, new JoinRequest([.. channels], _role, Renewal: true));
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
            {
                LogRenewFailed(_logger, _sessionId, ex.Message);
            }
        }
    }

    // ───────────────────────── joining ─────────────────────────

    /// <summary>A catch-up is one message sent before the join's reply; should it be lost with its silo,
    /// the shared stream is not held back for longer than <see cref="JoinCatchUpTimeout"/>.</summary>
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
            LogCatchUpMissing(_logger, _sessionId, JoinCatchUpTimeout.TotalSeconds);
            _outbox.EndJoin();
        }
    }

    private static readonly TimeSpan JoinCatchUpTimeout = TimeSpan.FromSeconds(10);

    // ───────────────────────── replies (through the outbox) ─────────────────────────

    private void EnqueueError(string? idJson, string code, string message) => _outbox.EnqueueError(idJson, code, message);

    private bool EnqueueLocal(Action<IBufferWriter<byte>> write) => _outbox.EnqueueLocal(write);

    private void RequestClose(WebSocketCloseStatus status, string reason) => _outbox.RequestClose(status, reason);

    private void CloseWithError(string code, string message, WebSocketCloseStatus status, string reason) => _outbox.CloseWithError(code, message, status, reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Session {Session}: socket failed: {Reason}")]
    private static partial void LogSocketFailed(ILogger logger, string session, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {Session}: the join's catch-up did not arrive within {Seconds} s; the shared stream goes on without it")]
    private static partial void LogCatchUpMissing(ILogger logger, string session, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {Session}: leaving failed: {Reason}")]
    private static partial void LogLeaveFailed(ILogger logger, string session, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {Session}: renewing the participant failed: {Reason}")]
    private static partial void LogRenewFailed(ILogger logger, string session, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "A connection to session {Session} failed")]
    private static partial void LogConnectionFailed(ILogger logger, string session, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Control {Action} failed in session {Session}")]
    private static partial void LogControlFailed(ILogger logger, string action, string session, Exception exception);
}
