using System.Buffers;
using System.Net.WebSockets;
using Tivo.Gateway.Protocol;
using Tivo.GrainInterfaces;

namespace Tivo.Gateway.Connections;

/// <summary>
/// What one connection sends, and its one writer: the <see cref="DeliveryQueue{TLocal}"/> of the session's pushes
/// and this connection's replies (ordered by release time, epochs applied), the bounds on it (the slow-consumer
/// policy: <see cref="GatewayOptions.SendQueueLimit"/>, <see cref="GatewayOptions.SlowConsumerLag"/>), closing with
/// a coded error as the last message, and the send loop, woken by pushes, replies and the gateway's one
/// <see cref="ReleaseScheduler"/>. The session's fan-out calls <see cref="Deliver"/>; the connection queues replies.
/// </summary>
internal sealed class ConnectionOutbox : IReleaseWaiter
{
    private readonly WebSocket _socket;
    private readonly GatewayOptions _options;
    private readonly TimeProvider _time;
    private readonly ReleaseScheduler _scheduler;
    private readonly Diagnostics.GatewayMetrics _metrics;
    private readonly WireFormat _format;
    private readonly Func<SessionEvent, bool> _accept;
    private readonly Lock _lock = new();
    private readonly DeliveryQueue<ReadOnlyMemory<byte>> _queue = new();
    private readonly AsyncSignal _wake = new();
    private readonly TaskCompletionSource _firstSent = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private (WebSocketCloseStatus Status, string Reason)? _close;
    private int _controlsInFlight;

    /// <summary>Lead mode (ticks; 0: off): shared messages go out in batch frames up to this far ahead of their due.</summary>
    private long _leadTicks;

    /// <summary>The latest due among shared messages sent ahead in lead mode: a control cutting the course before it
    /// makes the connection send a recall.</summary>
    private long _sentAheadUntil = long.MinValue;

    /// <summary>Lead mode: the next frame goes once its earliest message is this close to its due (ticks) — drawn anew
    /// for every frame between a quarter and half the lead, so the frames of many connections whose dues fall together
    /// (one shared session, or plays started at once) spread over a quarter of the lead instead of going in one burst.</summary>
    private long _sendAheadTicks;

    /// <summary>Timestamp (<see cref="TimeProvider.GetTimestamp"/>) of the send in progress, 0 when none: a send
    /// that does not complete means the client stopped reading.</summary>
    private long _sendingSince;

    /// <summary>An outbox writing to <paramref name="socket"/> in <paramref name="format"/>; <paramref name="accept"/>
    /// says which of the session's events this connection receives (its channels).</summary>
    public ConnectionOutbox(WebSocket socket, GatewayOptions options, TimeProvider time, ReleaseScheduler scheduler, Diagnostics.GatewayMetrics metrics,
        WireFormat format, Func<SessionEvent, bool> accept)
    {
        _socket = socket;
        _options = options;
        _time = time;
        _scheduler = scheduler;
        _metrics = metrics;
        _format = format;
        _accept = accept;
    }

    /// <summary>Completes when the first message is on the wire (or the send loop ended): the connection reads
    /// the client only after hello is out.</summary>
    public Task FirstSent => _firstSent.Task;

    /// <summary>Nothing is queued to send: the first message counts as sent (the prototype's format has no hello).</summary>
    public void NothingToSendFirst() => _firstSent.TrySetResult();

    /// <summary>A close is decided; nothing more is queued or read.</summary>
    public bool Closing
    {
        get
        {
            lock (_lock)
            {
                return _close is not null;
            }
        }
    }

    /// <summary>While joining, only replies go out: the shared stream waits for the join's catch-up.</summary>
    public void BeginJoin()
    {
        lock (_lock)
        {
            _queue.BeginJoin();
        }
    }

    /// <summary>Releases what the shared stream queued while joining (the catch-up came, or none comes).</summary>
    public void EndJoin()
    {
        lock (_lock)
        {
            _queue.EndJoin();
        }

        Wake();
    }

    /// <summary>Still waiting for the join's catch-up.</summary>
    public bool Joining
    {
        get
        {
            lock (_lock)
            {
                return _queue.Joining;
            }
        }
    }

    /// <summary>A control of this connection is being handled: what the session pushes waits for its reply.</summary>
    public void ControlStarted() => Interlocked.Increment(ref _controlsInFlight);

    /// <summary>The control's reply is queued: what waited may go.</summary>
    public void ControlEnded()
    {
        Interlocked.Decrement(ref _controlsInFlight);
        Wake();
    }

    /// <summary>
    /// Lead mode: the session's messages go out in <c>batch</c> frames, each message with its due, up to
    /// <paramref name="lead"/> ahead of it (the client releases them then); <see cref="TimeSpan.Zero"/> turns it off.
    /// A format without batch frames (the prototype's) stays as it is.
    /// </summary>
    public void UseLead(TimeSpan lead)
    {
        Volatile.Write(ref _leadTicks, _format.SupportsLead ? Math.Max(0, lead.Ticks) : 0);
        Wake();
    }

    /// <summary>The lead in force (zero: off).</summary>
    public TimeSpan Lead => TimeSpan.FromTicks(Volatile.Read(ref _leadTicks));

    /// <summary>Queues a batch of the session's pushes for this connection (none: only the hold changes). With
    /// <paramref name="holdShared"/>, first holds or releases the shared stream (see <see cref="DeliveryQueue{TLocal}.HoldShared"/>),
    /// under the same lock, so the send loop never sees the batch without the hold that goes with it.</summary>
    public void Deliver(PlaybackBatch? batch, bool? holdShared = null)
    {
        lock (_lock)
        {
            if (_close is not null)
            {
                return;
            }

            if (holdShared is { } hold)
            {
                _queue.HoldShared = hold;
            }

            var epoch = _queue.Epoch;
            if (batch is not null)
            {
                _queue.Add(batch, _accept);
            }

            if (_queue.Epoch > epoch && _sentAheadUntil > _queue.Cutoff)
            {
                // A control cut the course after messages this client holds ahead of their due: it drops them (the
                // recall goes out before anything of the new course).
                var cut = _queue.Cutoff;
                EnqueueLocalLocked(buffer => _format.WriteRecall(buffer, cut));
                _sentAheadUntil = cut;
            }

            CheckSlowConsumerLocked();
        }

        Wake();
    }

    /// <summary>
    /// Every queue of this connection is bounded: more than <see cref="GatewayOptions.SendQueueLimit"/> messages
    /// waiting (events and replies alike), the oldest one more than <see cref="GatewayOptions.SlowConsumerLag"/>
    /// past its due, or a send stuck that long (the client stopped reading) make it a slow consumer: what waits
    /// is dropped, <c>slow_consumer</c> is the last message and the socket closes with 1008. True when this call closed it.
    /// </summary>
    private bool CheckSlowConsumerLocked()
    {
        if (_close is not null)
        {
            return false;
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
            return false;
        }

        _metrics.SlowConsumer();
        CloseWithErrorLocked(ErrorCodes.SlowConsumer, $"This connection {why} and is closed (1008); reconnect (with lastSeq to resume), or play at a lower speed or rate.",
            WebSocketCloseStatus.PolicyViolation, "slow consumer");
        return true;
    }

    /// <summary>Applies the bounds of <see cref="CheckSlowConsumerLocked"/> now: they are checked whenever something is queued,
    /// and by the gateway's watchdog twice a second, so a send stuck after the session's last push is found too.</summary>
    public void CheckSlowConsumer()
    {
        bool closed;
        lock (_lock)
        {
            closed = CheckSlowConsumerLocked();
        }

        if (closed)
        {
            Wake(); // only then: a wake-up per connection twice a second would cost thousands of loop turns at scale
        }
    }

    /// <summary>Closes the connection for a reason the client must hear: whatever waits is dropped, so the coded error
    /// is the last message before the close frame.</summary>
    public void CloseWithError(string code, string message, WebSocketCloseStatus status, string reason)
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

    /// <summary>Queues a coded error reply.</summary>
    public void EnqueueError(string? idJson, string code, string message) =>
        EnqueueLocal(buffer => _format.WriteError(buffer, idJson, code, message));

    /// <summary>Queues a reply; false when nothing was queued (closing, or the wire format has no such message).</summary>
    public bool EnqueueLocal(Action<IBufferWriter<byte>> write)
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

    /// <summary>Closes after what is queued (a close the client needs no error for: leaving, shutting down).</summary>
    public void RequestClose(WebSocketCloseStatus status, string reason)
    {
        lock (_lock)
        {
            _close ??= (status, reason);
        }

        Wake();
    }

    long IReleaseWaiter.ScheduledWake { get; set; } = long.MaxValue;

    public void Wake() => _wake.Set();

    /// <summary>Told how late (ticks) the send loop ran after a release it asked the scheduler for: the session's fan-out
    /// turns that into backpressure.</summary>
    public Action<long>? Late { get; set; }

    /// <summary>The one writer of the socket: releases queued messages at their due time, then the close frame.</summary>
    public async Task SendLoopAsync(CancellationToken cancellationToken)
    {
        // Sized for one plain event's frame (a few hundred bytes); it grows to what the connection's largest frame needs (a
        // lead frame: about 8 KB at 100 events/s). It started at 4 KB, held by every connection from its start, idle or not.
        var buffer = new ArrayBufferWriter<byte>(512);
        var ahead = new List<Delivery<ReadOnlyMemory<byte>>>();
        var tolerance = _options.ReleaseTolerance.Ticks;
        using var cancelled = cancellationToken.Register(static s => ((ConnectionOutbox)s!).Wake(), this);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                Delivery<ReadOnlyMemory<byte>> next = default;
                var hasNext = false;
                long? wakeAt = null;
                var dueAt = 0L;
                (WebSocketCloseStatus Status, string Reason)? close = null;
                var lead = Volatile.Read(ref _leadTicks);
                ahead.Clear();
                long now; // read once per turn: what is due, and how late it goes (the metric), both as of the take
                long half; // half the send window a saturated gateway opens (SendPressure): plain messages go up to this early or late
                lock (_lock)
                {
                    now = _time.GetUtcNow().UtcTicks;
                    half = lead > 0 ? 0 : _scheduler.Pressure.WindowAt(now) / 2;
                    if (Volatile.Read(ref _controlsInFlight) > 0 && _queue.TryPeek(out var peeked) && !peeked.IsLocal)
                    {
                        // While this connection's control is in flight only replies go out: what the session pushed
                        // because of it (its state, the first clock, the first events) waits for its ack, so the
                        // order is always ack, state, then clock and events.
                        wakeAt = null;
                    }
                    else if (lead > 0 && _close is null && _queue.NextRelease is { } first && first != long.MinValue)
                    {
                        // Lead mode: once the earliest is within the drawn quarter-to-half lead of its due, everything due
                        // within the lead goes in one frame (so each frame spans at least half the lead, and nothing leaves more
                        // than the lead ahead of its due).
                        var sendAhead = _sendAheadTicks is var drawn and > 0 && drawn <= lead / 2 ? drawn : lead / 2;
                        if (first - sendAhead <= now + tolerance)
                        {
                            var until = now + Math.Max(lead, lead / 2 + tolerance);
                            var chars = 0;
                            while (ahead.Count < MaxBatch && chars < MaxBatchChars && _queue.TryTake(until, out var item))
                            {
                                ahead.Add(item); // never a reply: those sort first, and the head is not one
                                chars += item.Event?.Data.Length ?? 0;
                            }

                            if (ahead.Count > 0)
                            {
                                _sentAheadUntil = Math.Max(_sentAheadUntil, ahead[^1].ReleaseTicks);
                                _sendAheadTicks = lead / 4 + Random.Shared.NextInt64(lead / 4 + 1);
                            }
                        }
                        else
                        {
                            (wakeAt, dueAt) = (first - sendAhead, first);
                        }
                    }
                    else if (_queue.TryTake(now + tolerance + half, out next))
                    {
                        hasNext = true;
                    }
                    else if (_close is not null)
                    {
                        close = _close;
                    }
                    else if (_queue.NextRelease is { } release)
                    {
                        // The scheduler wakes it up to ReleaseScheduler.Coalesce early, with others due; under pressure half the
                        // window late, to send what is due up to half the window later in the same turn.
                        (wakeAt, dueAt) = (release + half, release + half);
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

                if (hasNext || ahead.Count > 0)
                {
                    buffer.ResetWrittenCount();
                    var payload = ahead.Count > 0 ? RenderAhead(ahead, buffer, now) : Render(next, buffer, now);
                    if (payload.IsEmpty)
                    {
                        continue; // nothing to say in this connection's wire format (e.g. a clock tick to a prototype client)
                    }

                    // No token here: a cancellable send takes the WebSocket's slow path (an async lock and a registration
                    // per frame). A send stuck on a dead peer ends when the connection is aborted or the socket disposed.
                    Volatile.Write(ref _sendingSince, _time.GetTimestamp());
                    await _socket.SendAsync(payload, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
                    Volatile.Write(ref _sendingSince, 0);
                    _metrics.FrameSent();
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
                if (wakeAt is not null && _time.GetUtcNow() is var woken && woken.UtcTicks - dueAt is var lag and > 0)
                {
                    _scheduler.Pressure.Observe(lag, woken.UtcTicks);
                    Late?.Invoke(lag);
                }
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

    /// <summary>Most messages in one lead frame (a catch-up due at once is split into frames of this many).</summary>
    internal const int MaxBatch = 256;

    /// <summary>A lead frame takes no more events once their payloads reach this many characters (so large payloads do not
    /// make frames of many megabytes).</summary>
    internal const int MaxBatchChars = 256 * 1024;

    private ReadOnlyMemory<byte> RenderAhead(List<Delivery<ReadOnlyMemory<byte>>> items, ArrayBufferWriter<byte> buffer, long now)
    {
        _format.WriteBatch(buffer, items, now);
        foreach (var item in items)
        {
            if (item.Event is { } e)
            {
                _metrics.EventSent(now - e.DueTicks);
            }
        }

        return buffer.WrittenMemory;
    }

    private ReadOnlyMemory<byte> Render(Delivery<ReadOnlyMemory<byte>> item, ArrayBufferWriter<byte> buffer, long now)
    {
        if (item.IsLocal)
        {
            return item.Local;
        }

        if (item.Event is { } e)
        {
            _metrics.EventSent(now - e.DueTicks);
            _format.WriteEvent(buffer, e);
            return buffer.WrittenMemory;
        }

        _format.WriteSignal(buffer, item.Signal!);
        return buffer.WrittenMemory;
    }
}
