using Tivo.GrainInterfaces;

namespace Tivo.Gateway.Connections;

/// <summary>
/// What one gateway has had of a session's shared stream: the last event (as a <see cref="ResumeMark"/>, what a restored
/// session continues after), the seqs of holes not yet filled, the epoch, and whether the session plays. Within an epoch
/// — and across a restore, which continues right after the lowest mark — shared seqs are consecutive, so a jump is a push
/// lost on the way; a seq at or below the last is either a hole's late original, one a new course skipped or one from
/// before the first push this gateway had (an overtaken push: kept, once), or something already had (a restored session's
/// repeat, a hole's copy that came first: dropped). Not thread-safe: <see cref="SessionFanout"/> locks.
/// </summary>
internal sealed class SharedStreamTracker
{
    /// <summary>At most this many seqs are awaited at once (a hole wider than that is announced as a gap when filled).</summary>
    public const int MaxMissing = 100_000;

    private readonly HashSet<long> _missing = [];
    private long _epoch;

    // The join's answer: the first seq the session had not handed on when this gateway joined, and its epoch (0: none yet).
    private long _expectFrom;
    private long _expectEpoch;

    // The first shared event this gateway had, with its push's epoch and cut.
    private (long Seq, long Epoch, long Cutoff) _first;

    // Seqs that may still come and are kept once if they do, neither asked for nor announced: those the latest new course
    // skipped (a range, not a set, as a seek at a high speed can skip thousands), and those below the first this gateway
    // had or was told to expect (pushes overtaken before the join's answer was handled).
    private readonly KeptOnce _skipped = new();
    private readonly KeptOnce _beforeFirst = new();

    // The last shared event (Seq 0: none yet), kept as a value: this runs for every event, and a ResumeMark is made only
    // when asked for. It is also the ring's newest mark.
    private Mark _last;

    /// <summary>How far back from the newest event's due the marks reach (see <see cref="MarkOf"/>). A participant's last
    /// event lies behind the newest its gateway had by what was queued for it: the session's lookahead (200 ms by default)
    /// and tick (100 ms), half a lead at most (a lead is at most 1 s), and any lateness.</summary>
    public static readonly TimeSpan MarkSpan = TimeSpan.FromSeconds(1);

    /// <summary>The fewest marks kept (the ring's first size; 512 B).</summary>
    public const int MinMarks = 16;

    /// <summary>The most marks kept (512 KB): above about 16,000 events a second they reach less than
    /// <see cref="MarkSpan"/> back.</summary>
    public const int MaxMarks = 16_384;

    /// <summary>The newest shared events as marks, in a ring that doubles while its oldest mark is within
    /// <see cref="MarkSpan"/> of the newest: a session's marks take memory by its event rate (100 events/s: 128 marks,
    /// 4 KB), not a fixed count (256 took 8 KB a session, and reached 128 ms back at 2,000 events/s). Values, like the last
    /// event: no allocation per event.</summary>
    private Mark[]? _recent;
    private long _recentCount;

    /// <summary>How many marks the ring holds room for.</summary>
    internal int MarkCapacity => _recent?.Length ?? 0;

    /// <summary>The bytes of the ring's marks (32 a mark).</summary>
    internal long MarkBytes => (long)MarkCapacity * System.Runtime.CompilerServices.Unsafe.SizeOf<Mark>();

    /// <summary>The mark of shared event <paramref name="seq"/> if it is among those kept (about the last
    /// <see cref="MarkSpan"/> of dues): what a participant reconnecting with that last seq offers a restoring session, so it
    /// continues right after it.</summary>
    public ResumeMark? MarkOf(long seq)
    {
        // The ring's seqs increase from its oldest mark to its newest (a mark is made only for a seq above the last).
        var count = _recent is null ? 0 : (int)Math.Min(_recentCount, _recent.Length);
        var (low, high) = (0, count - 1);
        while (low <= high)
        {
            var middle = (low + high) >>> 1;
            var mark = _recent![(_recentCount - count + middle) % _recent.Length];
            if (mark.Seq == seq)
            {
                return mark.ToResumeMark();
            }

            (low, high) = mark.Seq < seq ? (middle + 1, high) : (low, middle - 1);
        }

        return null;
    }

    private void Remember(Mark mark)
    {
        if (_recent is null)
        {
            _recent = new Mark[MinMarks];
        }
        else if (_recentCount >= _recent.Length && _recent.Length < MaxMarks && _recent[_recentCount % _recent.Length].Due > mark.Due - MarkSpan.Ticks)
        {
            // The mark about to be overwritten is still within the span: twice the room, oldest first.
            var grown = new Mark[_recent.Length * 2];
            for (var i = 0; i < _recent.Length; i++)
            {
                grown[i] = _recent[(_recentCount + i) % _recent.Length];
            }

            (_recent, _recentCount) = (grown, _recent.Length);
        }

        _recent[_recentCount++ % _recent.Length] = mark;
    }

    private readonly record struct Mark(long Seq, long Ticks, long Due, int Pass, int Same) // the longs first: 32 B, not 40
    {
        public ResumeMark ToResumeMark() => new(Seq, Pass, Ticks, Same, Due);
    }

    /// <summary>The last shared event received (null before any).</summary>
    public ResumeMark? Last => _last.Seq > 0 ? _last.ToResumeMark() : null;

    /// <summary>The last state said the session plays.</summary>
    public bool Playing { get; private set; }

    /// <summary>Seqs awaited (holes not filled yet): while any are, the connections hold the shared stream back, so that
    /// nothing goes out ahead of them.</summary>
    public int Missing => _missing.Count;

    /// <summary>The join's answer: the session had handed on every seq below <paramref name="nextSeq"/> in
    /// <paramref name="epoch"/>. While nothing has been had yet, a first push that starts above it is a hole (in that epoch)
    /// or a skip whose seqs are kept if they come (in a later one): pushes can arrive in the wrong order, and without this
    /// the earlier push's events would look like repeats. Handed after the first push (a loaded gateway), the seqs from
    /// <paramref name="nextSeq"/> to the first one had that have not come are a hole, returned with the epoch and cut
    /// to fill it in (null: none).</summary>
    public (long From, long To, long Epoch, long Cutoff)? Expect(long nextSeq, long epoch)
    {
        if (_expectFrom > 0 || nextSeq <= 0)
        {
            return null; // the first answer counts (later joins of this gateway's connections find the stream flowing)
        }

        (_expectFrom, _expectEpoch) = (nextSeq, epoch);
        if (_last.Seq == 0 || epoch != _first.Epoch || nextSeq >= _first.Seq)
        {
            return null;
        }

        // The session handed these on after the join: they are this gateway's to have. Those overtaken and come since were
        // kept; the rest are awaited like any hole (their late originals still kept, once), and no longer kept otherwise.
        (long From, long To)? hole = null;
        for (var seq = nextSeq; seq < _first.Seq && _missing.Count < MaxMissing; seq++)
        {
            if (!_beforeFirst.Came(seq) && _missing.Add(seq))
            {
                hole = (hole?.From ?? seq, seq);
            }
        }

        _beforeFirst.Narrow(nextSeq - 1);
        return hole is { } h ? (h.From, h.To, _first.Epoch, _first.Cutoff) : null;
    }

    /// <summary>Takes in a shared batch: says whether it announces a handover and which seqs it skipped, and gives it back
    /// without the events already had (null when nothing is left for the connections).</summary>
    public (HandoverSignal? Handover, (long From, long To)? Hole, PlaybackBatch? Fresh) Observe(PlaybackBatch batch)
    {
        (long From, long To)? hole = null;
        List<SessionEvent>? kept = null;
        for (var k = 0; k < batch.Events.Length; k++)
        {
            var e = batch.Events[k];
            var had = false;
            if (e.Seq > 0 && !e.Snapshot)
            {
                if (e.Seq <= _last.Seq)
                {
                    // A hole's late original fills it, one a new course skipped or one from before the first had is kept
                    // (once; not a restored session's repeat, which a joiner's catch-up covered); anything else was had.
                    had = !_missing.Remove(e.Seq) && !_skipped.Take(e.Seq) && !(e.Seq >= batch.ReplayedBelow && _beforeFirst.Take(e.Seq));
                }
                else
                {
                    // The seq before this one: the last event had, else the one before what the join said (-1: neither known).
                    var after = _last.Seq > 0 ? _last.Seq : _expectFrom - 1;
                    if (_last.Seq == 0)
                    {
                        _beforeFirst.Set(1, (_expectFrom > 0 ? Math.Min(_expectFrom, e.Seq) : e.Seq) - 1);
                        _first = (e.Seq, batch.Epoch, batch.CutoffTicks);
                    }

                    if (after >= 0 && e.Seq > after + 1)
                    {
                        if (_last.Seq > 0 ? batch.Epoch == _epoch || batch.ReplayedBelow > 0 : batch.Epoch == _expectEpoch)
                        {
                            hole = (after + 1, e.Seq - 1);
                            for (var s = hole.Value.From; s <= hole.Value.To && _missing.Count < MaxMissing; s++)
                            {
                                _missing.Add(s);
                            }
                        }
                        else
                        {
                            // A new course skipped these: voided by its cut, or still on their way (pushes can arrive in the
                            // wrong order). If they come they are kept — the outbox drops what the cut voided — but they are
                            // not asked for, nor announced as lost.
                            _skipped.Set(after + 1, e.Seq - 1);
                        }
                    }

                    var same = _last.Seq > 0 && _last.Ticks == e.Ticks && _last.Pass == e.Pass ? _last.Same + 1 : 1;
                    _last = new Mark(e.Seq, e.Ticks, e.DueTicks, e.Pass, same);
                    Remember(_last);
                }
            }

            if (had)
            {
                kept ??= [.. batch.Events.Take(k)];
            }
            else
            {
                kept?.Add(e);
            }
        }

        _epoch = Math.Max(_epoch, batch.Epoch);
        var (handover, forward) = ((HandoverSignal?)null, kept is null ? batch.Events.Length > 0 : kept.Count > 0);
        foreach (var signal in batch.Signals)
        {
            switch (signal)
            {
                case StateSignal state:
                    Playing = state.State.Status == SessionStatus.Playing;
                    forward = true;
                    break;
                case HandoverSignal moving:
                    handover = moving;
                    break;
                default:
                    forward = true;
                    break;
            }
        }

        return (handover, hole, forward ? (kept is null ? batch : batch with { Events = [.. kept] }) : null);
    }

    /// <summary>The replay log's answer for a hole: the copies still awaited (not those whose originals came meanwhile), and
    /// the seqs of the hole that nothing fills (to announce as a gap). Either way they are awaited no longer.</summary>
    public (System.Collections.Immutable.ImmutableArray<SessionEvent> Held, List<long> Missing) Fill(
        System.Collections.Immutable.ImmutableArray<SessionEvent> copies, long from, long to)
    {
        System.Collections.Immutable.ImmutableArray<SessionEvent> held = [.. copies.Where(e => _missing.Remove(e.Seq))];
        List<long> missing = [.. _missing.Where(s => s >= from && s <= to).Order()];
        _missing.ExceptWith(missing);
        return (held, missing);
    }

    /// <summary>A range of seqs that may still come, each kept the first time it does.</summary>
    private sealed class KeptOnce
    {
        private readonly HashSet<long> _came = [];
        private long _from = 1;
        private long _to;

        public void Set(long from, long to)
        {
            (_from, _to) = (from, to);
            _came.Clear();
        }

        public bool Take(long seq) => seq >= _from && seq <= _to && _came.Add(seq);

        /// <summary>Whether <paramref name="seq"/> came (and was kept).</summary>
        public bool Came(long seq) => _came.Contains(seq);

        /// <summary>Keeps no seq above <paramref name="to"/> any more.</summary>
        public void Narrow(long to) => _to = Math.Min(_to, to);
    }
}
