using System.Runtime.CompilerServices;
using Tivo.GrainInterfaces;

namespace Tivo.Grains.Playback;

/// <summary>
/// The events a session handed on lately, so a participant that reconnects with its last seq gets what it
/// missed, and a joiner gets what was already handed on for later. Bounded by a count and by an estimate of
/// bytes, and trimmed in batches (down to the count, and to three quarters of the bytes) so trimming costs
/// nothing per event. Held as values (an <see cref="Entry"/> per event, in arrays of <see cref="SegmentSize"/>), not
/// as the <see cref="SessionEvent"/> objects pushed: those then die young once delivered, where a log of them made
/// every event a session emitted survive the runtime's young-generation collections (at 1,000 sessions the gateway's
/// collections paused it 28–64 ms each to promote them; docs/performance.md). Fixed segments rather than one growing
/// list: a list of 20,000 values is copied as it doubles and lives on the large-object heap, whose allocations start
/// full collections. The rare readers (a resume, a join, a handover, a hole) get <see cref="SessionEvent"/>s made
/// again from the entries. Segments a trim or a cut empties are cleared and kept for the next adds (as many as a trim
/// frees): a log at its bound allocates nothing more, where it allocated a segment every 128 events that lived until the
/// next trim (to the runtime's oldest generation, so a session playing for long turned it into old garbage). Segments
/// beyond what the log keeps for itself, and all of them when its session ends, go to the silo's pool
/// (<see cref="ReplayBudget.Segments"/>), from which a log takes before it allocates: a session that starts on a silo whose
/// sessions came and went fills segments already in the runtime's oldest generation instead of new ones that its young
/// collections copy as they fill (56 B per event; docs/performance.md).
/// With a <see cref="ReplayBudget"/>, the log reports what it holds at each trim and, while the silo's logs together
/// exceed the budget's limit, trims to its share of it as well (only events already due: those still on their way to
/// their viewers stay for joiners and resumes).
/// </summary>
internal sealed class ReplayLog(int maxEvents, long maxBytes, ReplayBudget? budget = null)
{
    /// <summary>Entries per segment: 128 × 56 B, well under the large-object threshold.</summary>
    internal const int SegmentSize = 128;

    /// <summary>The bytes of one segment's entries.</summary>
    internal static readonly int SegmentBytes = SegmentSize * Unsafe.SizeOf<Entry>();

    private readonly List<Entry[]> _segments = new();

    /// <summary>Emptied segments (cleared) for the next adds: at most <see cref="_maxSpare"/>.</summary>
    private readonly Stack<Entry[]> _spare = new();

    /// <summary>What a trim from twice the count down to it frees, plus one: the log regrows into them.</summary>
    private readonly int _maxSpare = maxEvents / SegmentSize + 1;

    /// <summary>Where the oldest entry sits in the first segment.</summary>
    private int _head;

    public int Count { get; private set; }

    /// <summary>Estimated bytes held (<see cref="MemoryEstimates.SessionEventBytes"/> per event).</summary>
    public long Bytes { get; private set; }

    public int MaxEvents => maxEvents;

    public long MaxBytes => maxBytes;

    /// <summary>What the budget was last told this log holds.</summary>
    private long _reported;

    /// <summary>The oldest seq still held, or <paramref name="next"/> when none is.</summary>
    public long OldestSeq(long next) => Count > 0 ? At(0).Seq : next;

    public void Add(SessionEvent e)
    {
        var at = _head + Count;
        if (at / SegmentSize == _segments.Count)
        {
            _segments.Add(_spare.TryPop(out var spare) ? spare : budget?.Segments.Rent() ?? new Entry[SegmentSize]);
        }

        _segments[at / SegmentSize][at % SegmentSize] = Entry.Of(e);
        Count++;
        Bytes += MemoryEstimates.SessionEventBytes(e.Data.Length);
    }

    /// <summary>Forgets what falls due after <paramref name="cutoff"/>: a control voided it, and a reconnecting
    /// participant must not get it.</summary>
    public void DropDueAfter(WallTime cutoff)
    {
        while (Count > 0 && At(Count - 1).DueTicks > cutoff.Ticks)
        {
            RemoveNewest();
        }
    }

    /// <summary>What a participant that received up to seq <paramref name="lastSeq"/> missed: every held event after it,
    /// and, when some of them are no longer held, a gap naming the seqs skipped and why (null otherwise). The gap is
    /// released at <paramref name="now"/> or, when earlier, at the first held event's due (order 0): the client hears of
    /// the hole before the seqs after it (released at the resume, it came after every held event already due).</summary>
    public (List<SessionEvent> Events, GapSignal? Gap) After(long lastSeq, long nextSeq, WallTime now)
    {
        var events = Events(0, e => e.Seq > lastSeq);
        var oldest = OldestSeq(nextSeq);
        var gap = lastSeq + 1 < oldest
            ? new GapSignal(events.Count > 0 ? Math.Min(now.Ticks, events[0].DueTicks) : now.Ticks, 0, lastSeq + 1, oldest - 1,
                $"Events after seq {lastSeq} up to seq {oldest - 1} are no longer held (a session keeps its last {maxEvents} events, at most {maxBytes / 1024} KiB of them{SiloBoundReason}); the stream resumes at seq {oldest}.")
            : null;
        return (events, gap);
    }

    /// <summary>The silo's bound, in a gap's reason.</summary>
    private string SiloBoundReason => SiloBounded
        ? $", and less while the silo's sessions together hold more than {budget!.Limit / 1024} KiB (Tivo:Playback:ReplayMemoryLimit)"
        : "";

    /// <summary>The newest event as a <see cref="ResumeMark"/>: with how many events of its pass sit at its exact time.</summary>
    public ResumeMark? LastMark()
    {
        if (Count == 0)
        {
            return null;
        }

        var last = At(Count - 1);
        var same = 0;
        for (var i = Count - 1; i >= 0 && At(i).Ticks == last.Ticks && At(i).Pass == last.Pass; i--)
        {
            same++;
        }

        return new ResumeMark(last.Seq, last.Pass, last.Ticks, same, last.DueTicks);
    }

    /// <summary>Forgets the events after seq <paramref name="seq"/> (a restored session hands them on again).</summary>
    public void DropAfterSeq(long seq)
    {
        while (Count > 0 && At(Count - 1).Seq > seq)
        {
            RemoveNewest();
        }
    }

    /// <summary>The newest events held, at most <paramref name="count"/>, none due before <paramref name="dueFrom"/>.</summary>
    public IEnumerable<SessionEvent> Newest(int count, long dueFrom = long.MinValue) => Events(Math.Max(0, Count - count), e => e.DueTicks >= dueFrom);

    /// <summary>The held events with seqs <paramref name="fromSeq"/>..<paramref name="toSeq"/>.</summary>
    public IEnumerable<SessionEvent> Between(long fromSeq, long toSeq) => Events(0, e => e.Seq >= fromSeq && e.Seq <= toSeq);

    /// <summary>Every held event due after <paramref name="now"/> (handed on, not yet released).</summary>
    public IEnumerable<SessionEvent> DueAfter(WallTime now) => Events(0, e => e.DueTicks > now.Ticks);

    /// <summary>Trims to the bounds once the log holds twice the count or more than the bytes (down to the count and three
    /// quarters of the bytes); then, while the silo's logs exceed the budget, to three quarters of this log's share of it,
    /// keeping every event due after <paramref name="now"/>. Tells the budget what it holds now.</summary>
    public void Trim(WallTime now)
    {
        if (Count > 2 * maxEvents || Bytes > maxBytes)
        {
            RemoveOldest(atLeast: Count - maxEvents, downToBytes: maxBytes * 3 / 4, dueBy: long.MaxValue);
        }

        if (budget is null)
        {
            return;
        }

        if (budget.Share is var share && Bytes > share)
        {
            RemoveOldest(atLeast: 0, downToBytes: share * 3 / 4, dueBy: now.Ticks);
        }

        Report();
    }

    /// <summary>Removes the oldest events: at least <paramref name="atLeast"/>, then more while the log holds over
    /// <paramref name="downToBytes"/> and the next is due by <paramref name="dueBy"/>.</summary>
    private void RemoveOldest(int atLeast, long downToBytes, long dueBy)
    {
        var (remove, bytes) = (0, Bytes);
        while (remove < Count && (remove < atLeast || (bytes > downToBytes && At(remove).DueTicks <= dueBy)))
        {
            bytes -= MemoryEstimates.SessionEventBytes(At(remove).Data.Length);
            remove++;
        }

        if (remove > 0)
        {
            RemoveOldest(remove);
            Bytes = bytes;
        }
    }

    /// <summary>Trims to this log's share of the silo's bound if the silo's logs exceed it (for a session that is not pushing).</summary>
    public void TrimIfCrowded(WallTime now)
    {
        if (budget is { Crowded: true })
        {
            Trim(now);
        }
    }

    /// <summary>The silo bounds what all sessions' logs keep together.</summary>
    public bool SiloBounded => budget is { Limit: > 0 };

    /// <summary>Forgets everything (the session's activation ends), tells the budget and gives its segments to the silo's pool.</summary>
    public void Close()
    {
        RemoveOldest(Count);
        Bytes = 0;
        Report();
        while (_spare.TryPop(out var segment))
        {
            budget?.Segments.Return(segment, cleared: true);
        }
    }

    private void Report()
    {
        if (budget is not null && _reported != Bytes)
        {
            budget.Moved(_reported, Bytes);
            _reported = Bytes;
        }
    }

    private ref readonly Entry At(int index)
    {
        var at = _head + index;
        return ref _segments[at / SegmentSize][at % SegmentSize];
    }

    /// <summary>The held events from the <paramref name="from"/>th on that match <paramref name="match"/>, made into
    /// <see cref="SessionEvent"/>s now (a list: the log may change after the call).</summary>
    private List<SessionEvent> Events(int from, Func<Entry, bool> match)
    {
        var events = new List<SessionEvent>();
        for (var i = from; i < Count; i++)
        {
            if (match(At(i)))
            {
                events.Add(At(i).ToEvent());
            }
        }

        return events;
    }

    private void RemoveNewest()
    {
        var at = _head + Count - 1;
        Bytes -= MemoryEstimates.SessionEventBytes(_segments[at / SegmentSize][at % SegmentSize].Data.Length);
        _segments[at / SegmentSize][at % SegmentSize] = default;
        Count--;
        if (Count == 0)
        {
            Release(0, _segments.Count);
            _head = 0;
        }
        else if (at % SegmentSize == 0)
        {
            Release(_segments.Count - 1, 1); // emptied
        }
    }

    private void RemoveOldest(int count)
    {
        if (count >= Count)
        {
            Release(0, _segments.Count);
            (_head, Count) = (0, 0);
            return;
        }

        var whole = (_head + count) / SegmentSize;
        Release(0, whole);
        _head = (_head + count) % SegmentSize;
        Array.Clear(_segments[0], 0, _head); // what the first segment still has of the removed
        Count -= count;
    }

    /// <summary>Takes <paramref name="count"/> segments from <paramref name="index"/> out of the log: cleared (they must not
    /// keep payloads alive) and kept for reuse up to the spare bound, the rest given to the silo's pool.</summary>
    private void Release(int index, int count)
    {
        for (var i = index; i < index + count; i++)
        {
            if (_spare.Count < _maxSpare)
            {
                Array.Clear(_segments[i]);
                _spare.Push(_segments[i]);
            }
            else
            {
                budget?.Segments.Return(_segments[i], cleared: false); // without a pool, left to the collector
            }
        }

        _segments.RemoveRange(index, count);
    }

    /// <summary>One held event: the fields of its <see cref="SessionEvent"/>, by value (the strings are the ones it shared
    /// with the channel's cache).</summary>
    internal readonly record struct Entry(string Channel, string Data, long Ticks, long Seq, long DueTicks, long Order, int Pass, bool Snapshot)
    {
        public static Entry Of(SessionEvent e) => new(e.Channel, e.Data, e.Ticks, e.Seq, e.DueTicks, e.Order, e.Pass, e.Snapshot);

        public SessionEvent ToEvent() => new(Channel, Ticks, Seq, DueTicks, Order, Data, Snapshot, Pass);
    }
}
