using Tivo.GrainInterfaces;

namespace Tivo.Grains.Playback;

/// <summary>
/// The events a session handed on lately, so a participant that reconnects with its last seq gets what it
/// missed, and a joiner gets what was already handed on for later. Bounded by a count and by an estimate of
/// bytes, and trimmed in batches (down to the count, and to three quarters of the bytes) so trimming costs
/// nothing per event.
/// </summary>
internal sealed class ReplayLog(int maxEvents, long maxBytes)
{
    private readonly List<SessionEvent> _events = new();

    public int Count => _events.Count;

    /// <summary>Estimated bytes held (<see cref="MemoryEstimates.SessionEventBytes"/> per event).</summary>
    public long Bytes { get; private set; }

    public int MaxEvents => maxEvents;

    public long MaxBytes => maxBytes;

    /// <summary>The oldest seq still held, or <paramref name="next"/> when none is.</summary>
    public long OldestSeq(long next) => _events.Count > 0 ? _events[0].Seq : next;

    public void Add(SessionEvent e)
    {
        _events.Add(e);
        Bytes += MemoryEstimates.SessionEventBytes(e.Data.Length);
    }

    /// <summary>Forgets what falls due after <paramref name="cutoff"/>: a control voided it, and a reconnecting
    /// participant must not get it.</summary>
    public void DropDueAfter(WallTime cutoff)
    {
        while (_events.Count > 0 && _events[^1].DueTicks > cutoff.Ticks)
        {
            Bytes -= MemoryEstimates.SessionEventBytes(_events[^1].Data.Length);
            _events.RemoveAt(_events.Count - 1);
        }
    }

    /// <summary>What a participant that received up to seq <paramref name="lastSeq"/> missed: every held event after it,
    /// and, when some of them are no longer held, the seqs skipped with a sentence saying why (null otherwise).</summary>
    public (IEnumerable<SessionEvent> Events, (long From, long To, string Why)? Gap) After(long lastSeq, long nextSeq)
    {
        var oldest = OldestSeq(nextSeq);
        var gap = lastSeq + 1 < oldest
            ? (lastSeq + 1, oldest - 1, $"Events after seq {lastSeq} up to seq {oldest - 1} are no longer held (a session keeps its last {maxEvents} events, at most {maxBytes / 1024} KiB of them); the stream resumes at seq {oldest}.")
            : ((long, long, string)?)null;
        return (_events.Where(e => e.Seq > lastSeq), gap);
    }

    /// <summary>The newest event as a <see cref="ResumeMark"/>: with how many events of its pass sit at its exact time.</summary>
    public ResumeMark? LastMark()
    {
        if (_events.Count == 0)
        {
            return null;
        }

        var last = _events[^1];
        var same = 0;
        for (var i = _events.Count - 1; i >= 0 && _events[i].Ticks == last.Ticks && _events[i].Pass == last.Pass; i--)
        {
            same++;
        }

        return new ResumeMark(last.Seq, last.Pass, last.Ticks, same, last.DueTicks);
    }

    /// <summary>Forgets the events after seq <paramref name="seq"/> (a restored session hands them on again).</summary>
    public void DropAfterSeq(long seq)
    {
        while (_events.Count > 0 && _events[^1].Seq > seq)
        {
            Bytes -= MemoryEstimates.SessionEventBytes(_events[^1].Data.Length);
            _events.RemoveAt(_events.Count - 1);
        }
    }

    /// <summary>The newest events held, at most <paramref name="count"/>, none due before <paramref name="dueFrom"/>.</summary>
    public IEnumerable<SessionEvent> Newest(int count, long dueFrom = long.MinValue) =>
        _events.Skip(Math.Max(0, _events.Count - count)).Where(e => e.DueTicks >= dueFrom);

    /// <summary>The held events with seqs <paramref name="fromSeq"/>..<paramref name="toSeq"/>.</summary>
    public IEnumerable<SessionEvent> Between(long fromSeq, long toSeq) => _events.Where(e => e.Seq >= fromSeq && e.Seq <= toSeq);

    /// <summary>Every held event due after <paramref name="now"/> (handed on, not yet released).</summary>
    public IEnumerable<SessionEvent> DueAfter(WallTime now) => _events.Where(e => e.DueTicks > now.Ticks);

    /// <summary>Trims to the bounds once the log holds twice the count or more than the bytes.</summary>
    public void Trim()
    {
        if (_events.Count <= 2 * maxEvents && Bytes <= maxBytes)
        {
            return;
        }

        var remove = Math.Max(0, _events.Count - maxEvents);
        var bytes = Bytes;
        for (var i = 0; i < remove; i++)
        {
            bytes -= MemoryEstimates.SessionEventBytes(_events[i].Data.Length);
        }

        while (remove < _events.Count && bytes > maxBytes * 3 / 4)
        {
            bytes -= MemoryEstimates.SessionEventBytes(_events[remove].Data.Length);
            remove++;
        }

        _events.RemoveRange(0, remove);
        Bytes = bytes;
    }
}
