using System.Net.WebSockets;
using Tivo.Gateway.Protocol;
using Tivo.GrainInterfaces;

namespace Tivo.Gateway.Connections;

/// <summary>
/// One WebSocket = one participant of one session, run from accept to close. Composes the connection's parts: the
/// <see cref="SessionMembership"/> (join, renew, leave, the channel set), the <see cref="FrameReader"/> and the
/// <see cref="CommandRateGuard"/> in front of the <see cref="ControlDispatcher"/>, and the <see cref="ConnectionOutbox"/>,
/// whose single send loop owns every write. The session's pushes reach the outbox through the gateway's
/// <see cref="SessionFanout"/>. Made by <see cref="PlaybackConnectionFactory"/>.
/// </summary>
internal sealed partial class PlaybackConnection
{
    /// <summary>RFC 6455 close code 1013 (Try Again Later), which <see cref="WebSocketCloseStatus"/> does not name.</summary>
    private const WebSocketCloseStatus TryAgainLater = (WebSocketCloseStatus)1013;

    /// <summary>How long an aborted socket's TCP connection is kept so the client's answer to its close is not reset.</summary>
    private static readonly TimeSpan AbortLinger = TimeSpan.FromMilliseconds(500);

    private readonly WebSocket _socket;
    private readonly GatewayOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Diagnostics.GatewayMetrics _metrics;
    private readonly WireFormat _format;
    private readonly ConnectionOutbox _outbox;
    private readonly SessionMembership _membership;
    private readonly FrameReader _reader;
    private readonly CommandRateGuard _rateGuard;
    private readonly ControlDispatcher _dispatcher;

    public PlaybackConnection(WebSocket socket, IClusterClient client, SessionFanoutRegistry fanouts, ReleaseScheduler scheduler, Diagnostics.GatewayMetrics metrics,
        GatewayOptions options, TimeProvider time, ILogger logger, string sessionId, IReadOnlyList<string> channels, ParticipantRole role, long? lastSeq, WireFormat format)
    {
        _socket = socket;
        _options = options;
        _time = time;
        _logger = logger;
        _metrics = metrics;
        _format = format;
        _outbox = new ConnectionOutbox(socket, options, time, scheduler, metrics, format, e => _membership!.Receives(e));
        _membership = new SessionMembership(client, fanouts, _outbox, time, options.RenewInterval, logger, sessionId, channels, role, lastSeq);
        _reader = new FrameReader(socket, options.MaxMessageBytes);
        _rateGuard = new CommandRateGuard(options, time);
        _dispatcher = new ControlDispatcher(_membership, _outbox, format, logger, options.ControlTimeout);
    }

    private string SessionId => _membership.SessionId;

    /// <summary>Lead mode for this connection (the connect query's <c>lead</c>); a <c>play</c> with <c>lead</c> changes it.</summary>
    public void UseLead(TimeSpan lead) => _outbox.UseLead(lead);

    /// <summary>Runs the connection until the client leaves or <paramref name="aborted"/> fires. When
    /// <paramref name="stopping"/> fires (the gateway shuts down) the client is told with close 1001.</summary>
    public async Task RunAsync(CancellationToken aborted, CancellationToken stopping)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        using var onStopping = stopping.Register(() =>
        {
            _outbox.RequestClose(WebSocketCloseStatus.EndpointUnavailable, "server shutting down; reconnect");
            stop.CancelAfter(TimeSpan.FromSeconds(2)); // two seconds for the client to answer the close
        });
        _metrics.ConnectionOpened();
        // The send loop starts once hello is queued: a joiner's catch-up may arrive before the join returns, and hello
        // must still be the first message on the socket.
        var sender = Task.CompletedTask;
        Task? renewer = null;
        try
        {
            var (joined, unknown) = await _membership.JoinAsync(stop.Token);
            if (!_outbox.EnqueueLocal(buffer => _format.WriteHello(buffer, SessionId, [.. _membership.Channels], joined.Role, joined.State)))
            {
                _outbox.NothingToSendFirst(); // no hello in this wire format: nothing to wait for before reading
            }

            foreach (var name in unknown)
            {
                _outbox.EnqueueError(null, ErrorCodes.UnknownChannel, SessionMembership.UnknownChannelMessage(name));
            }

            sender = _outbox.SendLoopAsync(stop.Token);
            renewer = _membership.RenewLoopAsync(stop.Token);
            // Read the client only once hello is on the wire: a frame the socket itself refuses (invalid UTF-8) makes it
            // send its close (1007) and abort, and a close raced by hello's send was lost (1006).
            await _outbox.FirstSent.WaitAsync(stop.Token);
            await ReceiveLoopAsync(stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (WebSocketException ex)
        {
            LogSocketFailed(_logger, SessionId, ex.Message);
            if (_socket.State == WebSocketState.Aborted && _socket.CloseStatus is null)
            {
                // The socket refused a frame (a text frame that is not UTF-8: it sent close 1007 itself, RFC 6455 §8.1)
                // and aborted. Keep the TCP connection a moment: closing it while the client's answer to that close is
                // arriving makes the kernel reset it, and the client would see 1006 instead of 1007.
                await Task.Delay(AbortLinger, _time, CancellationToken.None);
            }
        }
        catch (StoreUnavailableGrainException ex)
        {
            // Joining needs the catalog: without it there is no hello to send. Say why and ask the client to come back.
            _outbox.CloseWithError(ErrorCodes.StoreUnavailable, $"The event store is unavailable ({ex.Message}), so session {SessionId} cannot be joined now; reconnect in a few seconds (close 1013).",
                TryAgainLater, "store unavailable; try again later");
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogConnectionFailed(_logger, SessionId, ex);
            _outbox.CloseWithError(ErrorCodes.Internal, $"The server failed while serving this connection to session {SessionId} (the failure is logged); reconnect, and if it persists report it with the session id.",
                WebSocketCloseStatus.InternalServerError, "server error");
        }
        finally
        {
            await CloseAsync(sender, renewer, stop);
        }
    }

    /// <summary>Sends what is queued and a close frame (within 5 s), stops renewing, leaves the session.</summary>
    private async Task CloseAsync(Task sender, Task? renewer, CancellationTokenSource stop)
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

        await _membership.LeaveAsync();
        _rateGuard.Dispose();
        _metrics.ConnectionClosed();
    }

    private async Task ReceiveLoopAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var frame = await _reader.ReadAsync(cancellationToken);
            if (frame.Kind == FrameKind.Closed || _outbox.Closing)
            {
                return; // once a close is decided (slow consumer, abuse, too large) nothing more is read
            }

            if (frame.Kind == FrameKind.TooLarge)
            {
                // RFC 6455 §7.4.1: 1009 is the close code for a message too big to process.
                _outbox.CloseWithError(ErrorCodes.TooLarge, $"A message was larger than {_options.MaxMessageBytes} bytes (Tivo:Gateway:MaxMessageBytes); the connection is closed (1009). Send smaller control messages.",
                    WebSocketCloseStatus.MessageTooBig, $"message exceeds {_options.MaxMessageBytes} bytes");
                return;
            }

            await HandleFrameAsync(frame);
        }
    }

    /// <summary>One whole client message: rate-limited, then refused (binary, empty) or handled.</summary>
    private async Task HandleFrameAsync(Frame frame)
    {
        switch (_rateGuard.Check())
        {
            case CommandVerdict.Refused:
                _outbox.EnqueueError(null, ErrorCodes.RateLimited,
                    $"Too many messages: at most {_options.CommandsPerSecond} per second (bursts of {_options.CommandBurst}; Tivo:Gateway:CommandsPerSecond, CommandBurst). This one was not handled; slow down.");
                return;
            case CommandVerdict.Abusive:
                _outbox.CloseWithError(ErrorCodes.RateLimited,
                    $"More than {_options.RateLimitedCloseAfter} messages were refused within {CommandRateGuard.AbuseWindow.TotalSeconds} s (Tivo:Gateway:RateLimitedCloseAfter); the connection is closed (1008).",
                    WebSocketCloseStatus.PolicyViolation, "rate limit exceeded");
                return;
        }

        if (frame.Type == WebSocketMessageType.Binary)
        {
            _outbox.EnqueueError(null, ErrorCodes.BadRequest, "Binary frames are not part of protocol v1: send JSON text frames.");
        }
        else if (frame.Utf8.IsEmpty)
        {
            _outbox.EnqueueError(null, ErrorCodes.BadRequest, "The message is empty: send one JSON object per text frame, e.g. {\"action\":\"status\"}.");
        }
        else
        {
            await _dispatcher.HandleAsync(frame.Utf8);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Session {Session}: socket failed: {Reason}")]
    private static partial void LogSocketFailed(ILogger logger, string session, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "A connection to session {Session} failed")]
    private static partial void LogConnectionFailed(ILogger logger, string session, Exception exception);
}

/// <summary>Makes <see cref="PlaybackConnection"/>s with the gateway's shared parts (registered by <c>AddTivoGateway</c>).</summary>
internal sealed class PlaybackConnectionFactory(
    IClusterClient client, SessionFanoutRegistry fanouts, ReleaseScheduler scheduler, Diagnostics.GatewayMetrics metrics,
    Microsoft.Extensions.Options.IOptions<GatewayOptions> options, TimeProvider time, ILoggerFactory loggers)
{
    private readonly ILogger _logger = loggers.CreateLogger<PlaybackConnection>();

    public PlaybackConnection Create(WebSocket socket, string sessionId, IReadOnlyList<string> channels, ParticipantRole role, long? lastSeq, WireFormat format) =>
        new(socket, client, fanouts, scheduler, metrics, options.Value, time, _logger, sessionId, channels, role, lastSeq, format);
}
