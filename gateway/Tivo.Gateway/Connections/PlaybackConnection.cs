using System.Buffers;
using System.Collections.Immutable;
using System.Net.WebSockets;
using Tivo.Gateway.Protocol;
using Tivo.GrainInterfaces;

namespace Tivo.Gateway.Connections;

/// <summary>
/// One WebSocket = one participant of one session. A single receive loop assembles frames and runs
/// controls in order; a single send loop owns every write and releases queued messages at their
/// due time (events arrive from the grain ahead of due). Pushes arrive through the gateway's
/// <see cref="SessionFanout"/> for the session: <see cref="Deliver"/> enqueues, applying the epoch rule.
/// </summary>
internal sealed partial class PlaybackConnection : IReleaseWaiter
{
    private readonly WebSocket _socket;
    private readonly IClusterClient _client;
    private readonly GatewayOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _sessionId;
    private readonly string _participantId = Guid.NewGuid().ToString("n");
    private readonly Lock _lock = new();
    private readonly DeliveryQueue<ReadOnlyMemory<byte>> _queue = new();
    private readonly AsyncSignal _wake = new();
    private readonly HashSet<string> _channels;
    private (WebSocketCloseStatus Status, string Reason)? _close;
    private bool _slowConsumer;
    private int _controlsInFlight;

    /// <summary>Timestamp (<see cref="TimeProvider.GetTimestamp"/>) of the send in progress, 0 when none: a send
    /// that does not complete means the client stopped reading.</summary>
    private long _sendingSince;
    private readonly CommandRateGuard _rateGuard;
    private readonly WireFormat _format;
    private readonly TaskCompletionSource _firstSent = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly string _role;
    private readonly long? _lastSeq;
    private readonly SessionFanoutRegistry _fanouts;
    private readonly ReleaseScheduler _scheduler;
    private readonly Diagnostics.GatewayMetrics _metrics;

    public PlaybackConnection(WebSocket socket, IClusterClient client, SessionFanoutRegistry fanouts, ReleaseScheduler scheduler, Diagnostics.GatewayMetrics metrics,
        GatewayOptions options, TimeProvider time, ILogger logger, string sessionId, IReadOnlyList<string> channels, string role, long? lastSeq, WireFormat format)
    {
        _format = format;
        _metrics = metrics;
        _fanouts = fanouts;
        _scheduler = scheduler;
        _role = role;
        _lastSeq = lastSeq;
        _socket = socket;
        _client = client;
        _options = options;
        _time = time;
        _logger = logger;
        _sessionId = sessionId;
        _channels = new HashSet<string>(channels, StringComparer.Ordinal);
        _rateGuard = new CommandRateGuard(options, time);
    }

    private IPlaybackGrain Session => _client.GetGrain<IPlaybackGrain>(_sessionId);

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
        lock (_lock)
        {
            _queue.BeginJoin(); // attached before joining: the shared stream waits for the join's catch-up (DeliveryQueue.BeginJoin)
        }

        var reference = _fanouts.Attach(_sessionId, _participantId, this).Reference;
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
                EndJoin();
            }
            else
            {
                _ = EndJoinLaterAsync(stop.Token);
            }

            if (!EnqueueLocal(buffer => _format.WriteHello(buffer, _sessionId, [.. _channels], joined.Role, joined.State)))
            {
                _firstSent.TrySetResult(); // no hello in this wire format: nothing to wait for before reading
            }
            foreach (var name in unknown)
            {
                EnqueueError(null, ErrorCodes.UnknownChannel, $"Unknown channel '{ClientMessageParser.Shorten(name)}'. GET /channels lists the channels this server has.");
            }

            sender = SendLoopAsync(stop.Token);
            renewer = RenewLoopAsync(reference, stop.Token);
            // Read the client only once hello is on the wire: a frame the socket itself refuses (invalid UTF-8)
            // makes it send its close (1007) and abort, and a close raced by hello's send was lost (1006).
            await _firstSent.Task.WaitAsync(stop.Token);
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
            lock (_lock)
            {
                _close ??= (WebSocketCloseStatus.NormalClosure, "bye");
            }

            Wake();
            if (sender == Task.CompletedTask && !stop.IsCancellationRequested)
            {
                sender = SendLoopAsync(stop.Token); // joining failed: still send what is queued and a close frame
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
            if (peek.MessageType == WebSocketMessageType.Close || Closing)
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

    private bool Closing
    {
        get
        {
            lock (_lock)
            {
                return _close is not null;
            }
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

        Interlocked.Increment(ref _controlsInFlight);
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
            Interlocked.Decrement(ref _controlsInFlight);
            Wake();
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
                    lock (_lock)
                    {
                        _channels.UnionWith(m.Channels);
                    }
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

        _channels.ExceptWith(unknown);
        return unknown;
    }

    private async Task RenewLoopAsync(IPlaybackObserver reference, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.RenewInterval, _time);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            try
            {
                string[] channels;
                lock (_lock)
                {
                    channels = [.. _channels];
                }

                await Session.Join(_participantId, reference, new JoinRequest([.. channels], _role, Renewal: true));
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
            {
                LogRenewFailed(_logger, _sessionId, ex.Message);
            }
        }
    }

    // ───────────────────────── observer ─────────────────────────

    /// <summary>Queues a batch of the session's pushes for this connection.</summary>
    public void Deliver(PlaybackBatch batch)
    {
        lock (_lock)
        {
            if (_close is not null)
            {
                return;
            }

            _queue.Add(batch, e => _channels.Count == 0 || _channels.Contains(e.Channel));
            CheckSlowConsumerLocked();
        }

        Wake();
    }

    /// <summary>
    /// Every queue of this connection is bounded: more than <see cref="GatewayOptions.SendQueueLimit"/> messages
    /// waiting (events and replies alike), the oldest one more than <see cref="GatewayOptions.SlowConsumerLag"/>
    /// past its due, or a send stuck that long (the client stopped reading) make it a slow consumer: what waits
    /// is dropped, <c>slow_consumer</c> is the last message and the socket closes with 1008.
    /// </summary>
    private void CheckSlowConsumerLocked()
    {
        if (_slowConsumer || _close is not null)
        {
            return;
        }

        string? why = null;
        if (_queue.Count > _options.SendQueueLimit)
        {
            why = $"fell more than {_options.SendQueueLimit} messages behind (Tivo:Gateway:SendQueueLimit)";
        }
        else
        {
            var lag = _options.SlowConsumerLag;
            var sendingSince = Volatile.Read(ref _sendingSince);
            var oldest = _queue.NextRelease;
            if (sendingSince != 0 && _time.GetElapsedTime(sendingSince) > lag)
            {
                why = $"has not read for over {lag.TotalSeconds} s (Tivo:Gateway:SlowConsumerLag)";
            }
            else if (oldest is { } due && due != long.MinValue && _time.GetUtcNow().UtcTicks - due > lag.Ticks)
            {
                why = $"fell more than {lag.TotalSeconds} s behind (Tivo:Gateway:SlowConsumerLag)";
            }
        }

        if (why is null)
        {
            return;
        }

        _slowConsumer = true;
        _metrics.SlowConsumer();
        CloseWithErrorLocked(ErrorCodes.SlowConsumer, $"This connection {why} and is closed (1008); reconnect (with lastSeq to resume), or play at a lower speed or rate.",
            WebSocketCloseStatus.PolicyViolation, "slow consumer");
    }

    /// <summary>Closes the connection for a reason the client must hear: whatever waits is dropped, so the coded error
    /// is the last message before the close frame.</summary>
    private void CloseWithError(string code, string message, WebSocketCloseStatus status, string reason)
    {
        lock (_lock)
        {
            CloseWithErrorLocked(code, message, status, reason);
        }

        Wake();
    }

    private void CloseWithErrorLocked(string code, string message, WebSocketCloseStatus status, string reason)
    {
        if (_close is not null)
        {
            return;
        }

        _queue.Clear();
        var buffer = new ArrayBufferWriter<byte>(256);
        _format.WriteError(buffer, null, code, message);
        _queue.AddLocal(buffer.WrittenMemory);
        _close = (status, reason);
    }

    /// <summary>Releases what the shared stream queued while joining (the catch-up came, or none comes).</summary>
    private void EndJoin()
    {
        lock (_lock)
        {
            _queue.EndJoin();
        }

        Wake();
    }

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

        bool stillJoining;
        lock (_lock)
        {
            stillJoining = _queue.Joining;
        }

        if (stillJoining)
        {
            LogCatchUpMissing(_logger, _sessionId, JoinCatchUpTimeout.TotalSeconds);
            EndJoin();
        }
    }

    private static readonly TimeSpan JoinCatchUpTimeout = TimeSpan.FromSeconds(10);

    // ───────────────────────── sending ─────────────────────────

    private void EnqueueError(string? idJson, string code, string message) =>
        EnqueueLocal(buffer => _format.WriteError(buffer, idJson, code, message));

    /// <summary>Queues a reply; false when nothing was queued (closing, or the wire format has no such message).</summary>
    private bool EnqueueLocal(Action<IBufferWriter<byte>> write)
    {
        bool queued;
        lock (_lock)
        {
            if (_close is not null)
            {
                // Closing: what was queued before (e.g. the slow_consumer error) stays the last message.
                return false;
            }

            queued = EnqueueLocalLocked(write);
        }

        Wake();
        return queued;
    }

    private bool EnqueueLocalLocked(Action<IBufferWriter<byte>> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        write(buffer);
        if (buffer.WrittenCount == 0)
        {
            return false; // the connection's wire format has no such message (the prototype's has no hello or ack)
        }

        // Replies of this connection (hello, ack, error, status) go out at once, in the order they were made,
        // and count against the same bound as pushes: a client that asks without reading is a slow consumer too.
        _queue.AddLocal(buffer.WrittenMemory);
        CheckSlowConsumerLocked();
        return true;
    }

    private void RequestClose(WebSocketCloseStatus status, string reason)
    {
        lock (_lock)
        {
            _close ??= (status, reason);
        }

        Wake();
    }

    long IReleaseWaiter.ScheduledWake { get; set; } = long.MaxValue;

    public void Wake() => _wake.Set();

    private async Task SendLoopAsync(CancellationToken cancellationToken)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        var tolerance = _options.ReleaseTolerance.Ticks;
        using var cancelled = cancellationToken.Register(static s => ((PlaybackConnection)s!).Wake(), this);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                Delivery<ReadOnlyMemory<byte>> next = default;
                var hasNext = false;
                long? wakeAt = null;
                (WebSocketCloseStatus Status, string Reason)? close = null;
                lock (_lock)
                {
                    var now = _time.GetUtcNow().UtcTicks;
                    if (Volatile.Read(ref _controlsInFlight) > 0 && _queue.TryPeek(out var peeked) && !peeked.IsLocal)
                    {
                        // While this connection's control is in flight only replies go out: what the session pushed
                        // because of it (its state, the first clock, the first events) waits for its ack, so the
                        // order is always ack, state, then clock and events.
                        wakeAt = null;
                    }
                    else if (_queue.TryTake(now + tolerance, out next))
                    {
                        hasNext = true;
                    }
                    else if (_close is not null)
                    {
                        close = _close;
                    }
                    else if (_queue.NextRelease is { } release)
                    {
                        wakeAt = release - tolerance;
                    }
                }

                if (close is { } c)
                {
                    if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                    {
                        await _socket.CloseOutputAsync(c.Status, c.Reason, cancellationToken);
                    }

                    return;
                }

                if (hasNext)
                {
                    buffer.ResetWrittenCount();
                    var payload = Render(next, buffer);
                    if (payload.IsEmpty)
                    {
                        continue; // nothing to say in this connection's wire format (e.g. a clock tick to a prototype client)
                    }

                    if (next.Event is not null)
                    {
                        _metrics.EventSent();
                    }

                    // No token here: a cancellable send takes the WebSocket's slow path (an async lock and a registration
                    // per frame). A send stuck on a dead peer ends when the connection is aborted or the socket disposed.
                    Volatile.Write(ref _sendingSince, _time.GetTimestamp());
                    await _socket.SendAsync(payload, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
                    Volatile.Write(ref _sendingSince, 0);
                    _firstSent.TrySetResult();
                    continue;
                }

                if (wakeAt is { } at)
                {
                    // The gateway's one release timer wakes this loop then; a push or a reply wakes it sooner.
                    _scheduler.WakeAt(this, at);
                }

                await _wake.WaitAsync();
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
        }
        finally
        {
            _firstSent.TrySetResult(); // the receive loop waits for hello; it must not wait for a sender that ended
        }
    }

    private ReadOnlyMemory<byte> Render(Delivery<ReadOnlyMemory<byte>> item, ArrayBufferWriter<byte> buffer)
    {
        if (item.IsLocal)
        {
            return item.Local;
        }

        if (item.Event is { } e)
        {
            _format.WriteEvent(buffer, e);
            return buffer.WrittenMemory;
        }

        var s = item.Signal!;
        switch (s.Kind)
        {
            case SignalKind.Clock:
                _format.WriteClock(buffer, s.PlayheadTicks, s.Speed, s.Iteration);
                break;
            case SignalKind.Loop:
                _format.WriteLoop(buffer, s.Iteration);
                break;
            case SignalKind.Error:
                _format.WriteError(buffer, null, s.ErrorCode ?? ErrorCodes.Internal, s.Message ?? "");
                break;
            default:
                _format.WriteState(buffer, s.State!);
                break;
        }

        return buffer.WrittenMemory;
    }

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
