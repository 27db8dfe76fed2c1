namespace Tivo.GrainInterfaces;

/// <summary>
/// The receiving side of <see cref="PlaybackBatch"/>: orders pushes by release time and applies the
/// epoch rule, so what a participant gets is exactly what the session meant at every control.
/// Used by the gateway (one per connection) and by tests. Not thread-safe: callers lock.
/// </summary>
/// <typeparam name="TLocal">What the receiver queues of its own (e.g. pre-rendered replies).</typeparam>
public sealed class DeliveryQueue<TLocal>
{
    // Items come mostly in release order (a session pushes its events in due order, each push after the last): those join a
    // run taken first in, first out; the rest (a push's signals between its events, a late push, a reply) go to a heap, and the
    // next item is the lesser of the two heads. A heap alone moved every event through its levels at each take: 3–4% of the
    // gateway's samples with lead at 1,000 sessions (docs/performance.md).
    private readonly Queue<(Delivery<TLocal> Element, (long Release, long Order, long Local) Priority)> _run = new();
    private (long Release, long Order, long Local) _runLast;
    private readonly PriorityQueue<Delivery<TLocal>, (long Release, long Order, long Local)> _heap = new();
    private long _epoch;
    private long _cutoff;
    private long _localSeq;

    /// <summary>Between <see cref="BeginJoin"/> and the catch-up: shared items are held.</summary>
    private bool _joining;

    /// <summary>After a catch-up: shared events below this seq are covered by it (0: none).</summary>
    private long _coveredBelow;

    /// <summary>
    /// Call before joining a session. A receiver is attached to the shared stream before it joins (so
    /// nothing pushed after the join can pass it by), which races with its catch-up (the snapshot, or the
    /// replay after the client's last seq), sent by the session during the join:
    /// <list type="bullet">
    /// <item>shared events pushed between the attach and the join arrive twice (shared and in the
    /// catch-up), or were due before the join (the snapshot stands for them);</item>
    /// <item>the catch-up may arrive after shared events pushed after the join.</item>
    /// </list>
    /// So until the catch-up arrives (or <see cref="EndJoin"/> says none comes) only local items are
    /// released; the catch-up then replaces every shared event below its <see cref="PlaybackBatch.JoinedAtSeq"/>
    /// (queued, or still arriving), and everything goes out in due order.
    /// </summary>
    public void BeginJoin() => _joining = true;

    /// <summary>No catch-up comes (or it is given up on): release what is held.</summary>
    public void EndJoin() => _joining = false;

    /// <summary>Waiting for a joiner's catch-up: only local items are released.</summary>
    public bool Joining => _joining;

    /// <summary>While set, shared items wait and only local items are released, as while joining. The receiver sets it
    /// while a push lost or overtaken on its way leaves a hole below what has come (until the hole is filled or announced
    /// as a gap), so nothing goes out ahead of the hole's events.</summary>
    public bool HoldShared { get; set; }

    private bool SharedWaits => _joining || HoldShared;

    /// <summary>The newest epoch added.</summary>
    public long Epoch => _epoch;

    /// <summary>The cut of the newest epoch: what older epochs had after it is void.</summary>
    public long Cutoff => _cutoff;

    /// <summary>Items waiting.</summary>
    public int Count => _run.Count + _heap.Count;

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
            Remove(static (item, release, b) => !item.IsLocal && item.Epoch < b.Epoch && release > b.CutoffTicks, batch);
            _epoch = batch.Epoch;
            _cutoff = batch.CutoffTicks;
        }
        else if (batch.Epoch < _epoch)
        {
            dropAfter = _cutoff;
        }

        var covered = 0L;
        if (batch.Target is not null)
        {
            if (_joining && batch.JoinedAtSeq > 0)
            {
                _joining = false;
                _coveredBelow = batch.JoinedAtSeq;
                Remove(static (item, _, below) => item.Event is { Seq: > 0 } e && e.Seq < below, _coveredBelow);
            }
        }
        else if (_coveredBelow > 0)
        {
            covered = _coveredBelow;
            foreach (var e in batch.Events) // a loop, not Any(): a lambda capturing `covered` was a closure at every add
            {
                if (e.Seq >= covered)
                {
                    _coveredBelow = 0; // the shared stream has passed the join
                    break;
                }
            }
        }

        foreach (var e in batch.Events)
        {
            if ((accept is null || accept(e)) && !(e.DueTicks > dropAfter) && !(e.Seq > 0 && e.Seq < covered))
            {
                Enqueue(new Delivery<TLocal>(batch.Epoch, e, null, default, false), (e.DueTicks, e.Order, 0));
            }
        }

        foreach (var s in batch.Signals)
        {
            if (!(s.ReleaseTicks > dropAfter))
            {
                Enqueue(new Delivery<TLocal>(batch.Epoch, null, s, default, false), (s.ReleaseTicks, s.Order, 0));
            }
        }
    }

    /// <summary>Drops the queued items <paramref name="drop"/> selects.</summary>
    private void Remove<TState>(Func<Delivery<TLocal>, long, TState, bool> drop, TState state)
    {
        if (_run.Any(i => drop(i.Element, i.Priority.Release, state)))
        {
            var keep = _run.Where(i => !drop(i.Element, i.Priority.Release, state)).ToList();
            _run.Clear();
            foreach (var item in keep)
            {
                _run.Enqueue(item); // still in order
            }

            _runLast = keep.Count > 0 ? keep[^1].Priority : default;
        }

        if (_heap.UnorderedItems.Any(i => drop(i.Element, i.Priority.Release, state)))
        {
            var keep = _heap.UnorderedItems.Where(i => !drop(i.Element, i.Priority.Release, state)).ToList();
            _heap.Clear();
            foreach (var (element, priority) in keep)
            {
                _heap.Enqueue(element, priority);
            }
        }
    }

    private void Enqueue(Delivery<TLocal> element, (long Release, long Order, long Local) priority)
    {
        if (_run.Count == 0 || priority.CompareTo(_runLast) >= 0)
        {
            _run.Enqueue((element, priority));
            _runLast = priority;
        }
        else
        {
            _heap.Enqueue(element, priority);
        }
    }

    /// <summary>The next item (the lesser head of the run and the heap) and whether it heads the run.</summary>
    private bool TryPeekNext(out Delivery<TLocal> element, out (long Release, long Order, long Local) priority, out bool inRun)
    {
        var fromRun = _run.TryPeek(out var head);
        if (_heap.TryPeek(out element, out priority) && (!fromRun || priority.CompareTo(head.Priority) < 0))
        {
            inRun = false;
            return true;
        }

        (element, priority, inRun) = fromRun ? (head.Element, head.Priority, true) : (default, default, false);
        return fromRun;
    }

    /// <summary>Queues a receiver-made item (a reply to the client): released at once, ahead of anything the
    /// session queued, in the order such items were added.</summary>
    public void AddLocal(TLocal item) =>
        Enqueue(new Delivery<TLocal>(_epoch, null, null, item, true), (long.MinValue, 0, ++_localSeq));

    /// <summary>The release time of the next item that may be released, if any.</summary>
    public long? NextRelease => TryPeekNext(out var item, out var priority, out _) && (item.IsLocal || !SharedWaits) ? priority.Release : null;

    /// <summary>The next item without taking it.</summary>
    public bool TryPeek(out Delivery<TLocal> item) => TryPeekNext(out item, out _, out _);

    /// <summary>Takes the next item if it is released at or before <paramref name="nowTicks"/> (while joining or holding,
    /// local items only).</summary>
    public bool TryTake(long nowTicks, out Delivery<TLocal> item)
    {
        if (TryPeekNext(out item, out var priority, out var inRun) && priority.Release <= nowTicks && (item.IsLocal || !SharedWaits))
        {
            if (inRun)
            {
                _run.Dequeue();
            }
            else
            {
                _heap.Dequeue();
            }

            return true;
        }

        item = default;
        return false;
    }

    /// <summary>Drops everything waiting.</summary>
    public void Clear()
    {
        _run.Clear();
        _heap.Clear();
    }
}

/// <summary>One item of a <see cref="DeliveryQueue{TLocal}"/>: an event, a signal or a local item.</summary>
public readonly record struct Delivery<TLocal>(long Epoch, SessionEvent? Event, SessionSignal? Signal, TLocal? Local, bool IsLocal)
{
    /// <summary>When an event or a signal is released: the event's due, the signal's release time (not for a local item).</summary>
    public long ReleaseTicks => Event?.DueTicks ?? Signal!.ReleaseTicks;
}
