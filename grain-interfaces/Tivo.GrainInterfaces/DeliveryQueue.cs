namespace Tivo.GrainInterfaces;

/// <summary>
/// The receiving side of <see cref="PlaybackBatch"/>: orders pushes by release time and applies the
/// epoch rule, so what a participant gets is exactly what the session meant at every control.
/// Used by the gateway (one per connection) and by tests. Not thread-safe: callers lock.
/// </summary>
/// <typeparam name="TLocal">What the receiver queues of its own (e.g. pre-rendered replies).</typeparam>
public sealed class DeliveryQueue<TLocal>
{
    private readonly PriorityQueue<Delivery<TLocal>, (long Release, long Order, long Local)> _queue = new();
    private long _epoch;
    private long _cutoff;
    private long _localSeq;

    private const int MaxJoiningSeqs = 65_536;

    /// <summary>While joining: the seqs of shared batches queued before this receiver's catch-up arrived.</summary>
    private HashSet<long>? _joining;

    /// <summary>
    /// Call before joining a session. A receiver is attached to the shared stream before it joins, so a
    /// batch the session pushes between the attach and the join reaches it twice: shared, and again in
    /// its catch-up (which holds every pushed event not yet due). Until the catch-up arrives (or
    /// <see cref="EndJoin"/> says none comes), shared events are remembered and the catch-up skips them.
    /// Pushes after the catch-up are disjoint from it: the session sends them after the join.
    /// </summary>
    public void BeginJoin() => _joining = [];

    /// <summary>The join brought no catch-up: stop remembering shared events.</summary>
    public void EndJoin() => _joining = null;

    /// <summary>Items waiting.</summary>
    public int Count => _queue.Count;

    /// <summary>
    /// Adds a batch. A batch of a newer epoch first voids what older epochs queued for after its
    /// cutoff; a batch of an older epoch (arriving late) keeps only what falls at or before the
    /// newer cutoff. Events for which <paramref name="accept"/> is false are skipped.
    /// </summary>
    public void Add(PlaybackBatch batch, Func<SessionEvent, bool>? accept = null)
    {
        long? dropAfter = null;
        if (batch.Epoch > _epoch)
        {
            if (_queue.Count > 0)
            {
                var keep = _queue.UnorderedItems
                    .Where(i => i.Element.Epoch >= batch.Epoch || i.Element.IsLocal || i.Priority.Release <= batch.CutoffTicks)
                    .ToList();
                _queue.Clear();
                foreach (var (element, priority) in keep)
                {
                    _queue.Enqueue(element, priority);
                }
            }

            _epoch = batch.Epoch;
            _cutoff = batch.CutoffTicks;
        }
        else if (batch.Epoch < _epoch)
        {
            dropAfter = _cutoff;
        }

        HashSet<long>? skip = null;
        if (_joining is { } joining)
        {
            if (batch.Target is null)
            {
                foreach (var e in batch.Events)
                {
                    joining.Add(e.Seq);
                }

                if (joining.Count > MaxJoiningSeqs)
                {
                    _joining = null; // a catch-up this late is not coming; stop remembering
                }
            }
            else
            {
                skip = joining; // the catch-up: leave out what the shared stream already queued, then stop remembering
                _joining = null;
            }
        }

        foreach (var e in batch.Events)
        {
            if ((accept is null || accept(e)) && !(e.DueTicks > dropAfter) && !(e.Seq > 0 && skip is not null && skip.Contains(e.Seq)))
            {
                _queue.Enqueue(new Delivery<TLocal>(batch.Epoch, e, null, default, false), (e.DueTicks, e.Order, 0));
            }
        }

        foreach (var s in batch.Signals)
        {
            if (!(s.ReleaseTicks > dropAfter))
            {
                _queue.Enqueue(new Delivery<TLocal>(batch.Epoch, null, s, default, false), (s.ReleaseTicks, s.Order, 0));
            }
        }
    }

    /// <summary>Queues a receiver-made item (a reply to the client): released at once, ahead of anything the
    /// session queued, in the order such items were added.</summary>
    public void AddLocal(TLocal item) =>
        _queue.Enqueue(new Delivery<TLocal>(_epoch, null, null, item, true), (long.MinValue, 0, ++_localSeq));

    /// <summary>The release time of the next item, if any.</summary>
    public long? NextRelease => _queue.TryPeek(out _, out var priority) ? priority.Release : null;

    /// <summary>The next item without taking it.</summary>
    public bool TryPeek(out Delivery<TLocal> item) => _queue.TryPeek(out item, out _);

    /// <summary>Takes the next item if it is released at or before <paramref name="nowTicks"/>.</summary>
    public bool TryTake(long nowTicks, out Delivery<TLocal> item)
    {
        if (_queue.TryPeek(out item, out var priority) && priority.Release <= nowTicks)
        {
            _queue.Dequeue();
            return true;
        }

        item = default;
        return false;
    }

    /// <summary>Drops everything waiting.</summary>
    public void Clear() => _queue.Clear();
}

/// <summary>One item of a <see cref="DeliveryQueue{TLocal}"/>: an event, a signal or a local item.</summary>
public readonly record struct Delivery<TLocal>(long Epoch, SessionEvent? Event, SessionSignal? Signal, TLocal? Local, bool IsLocal);
