using System.Collections.Immutable;
using Tivo.GrainInterfaces;
using Tivo.Grains.Caching;

namespace Tivo.Grains.Playback;

/// <summary>An event read for playback: its channel's place in the play request and its arrival order break ties.</summary>
internal readonly record struct LoadedEvent(string Channel, long Ticks, string Data, int ChannelIndex, int Arrival);

/// <summary>Events of one chunk and pass, merged across channels. An open segment (live) is a chunk that reaches past
/// the present: complete only up to <see cref="OpenUntil"/>, read again until it closes. Events before <see cref="Start"/>
/// are not played (before a play's or seek's instant, or loaded already by an earlier read of an open chunk): skipping
/// them costs no copy of the chunk.</summary>
internal sealed record Segment(int Pass, long Chunk, SegmentEvents Events, bool LastOfPass, long? OpenUntil = null, int Start = 0);

/// <summary>
/// A segment's events in play order: for a play of one channel, a view of the channel's cached chunk (shared by every
/// session playing it, nothing copied); for several, their merge into one array. A per-session copy of each chunk lived
/// as long as the session's read-ahead (a second or two) and so survived the runtime's young-generation collections: at
/// 1,000 sessions, megabytes promoted at each (docs/performance.md).
/// </summary>
internal readonly struct SegmentEvents
{
    private readonly LoadedEvent[]? _merged;
    private readonly ImmutableArray<ChunkEvent> _chunk;
    private readonly string? _channel;
    private readonly int _first;

    /// <summary>Events merged from several channels.</summary>
    public SegmentEvents(LoadedEvent[] merged) => (_merged, Length) = (merged, merged.Length);

    /// <summary>The <paramref name="count"/> events of one channel's chunk from <paramref name="first"/>.</summary>
    public SegmentEvents(string channel, ImmutableArray<ChunkEvent> chunk, int first, int count) => (_channel, _chunk, _first, Length) = (channel, chunk, first, count);

    public int Length { get; }

    public LoadedEvent this[int index]
    {
        get
        {
            if (_merged is not null)
            {
                return _merged[index];
            }

            if ((uint)index >= (uint)Length)
            {
                throw new ArgumentOutOfRangeException(nameof(index));
            }

            var e = _chunk[_first + index];
            return new LoadedEvent(_channel!, e.Ticks, e.Data, 0, index);
        }
    }
}

/// <summary>
/// A session's read-ahead: consecutive <see cref="Segment"/>s (one per chunk and pass) loaded from the channels'
/// grains, a cursor at the next event to hand on, and the handed-on events not yet due (so a control can take them
/// back). <see cref="Generation"/> changes at every reset: a load started before it is discarded.
/// </summary>
internal sealed class ReadAheadBuffer(ChunkGrid grid, IPlaybackSource source)
{
    /// <summary>At most this many chunks are asked for at once.</summary>
    public const int MaxChunksPerRead = 256;

    private readonly List<Segment> _segments = new();
    private readonly Queue<InFlight> _inFlight = new();
    private SessionPlan? _plan;
    private long _firstSegmentNo;
    private long _cursorSegment;
    private int _cursorIndex;
    private long _skipBeforeTicks;
    private int _skipAtStart;
    private long _liveHighWater = long.MinValue;

    /// <summary>Changes at every <see cref="Reset"/>; a load of an older generation is dropped.</summary>
    public int Generation { get; private set; }

    /// <summary>The playback position up to which events are loaded.</summary>
    public double LoadedThrough { get; private set; }

    /// <summary>Every event up to the window's end is loaded (never, when looping).</summary>
    public bool AllLoaded { get; private set; }

    /// <summary>The last read reached past the present (a live session at the live edge).</summary>
    public bool AtLiveEdge { get; private set; }

    /// <summary>More can be loaded: looping, or the end not yet reached.</summary>
    public bool MoreToLoad => _plan is { Loop: true } || !AllLoaded;

    /// <summary>The channels of the plan being loaded.</summary>
    public IEnumerable<string> Channels => _plan?.Channels ?? [];

    /// <summary>Nothing is loaded (or everything loaded was handed on and trimmed).</summary>
    public bool IsEmpty => _segments.Count == 0;

    /// <summary>Segments loaded beyond the cursor.</summary>
    public int SegmentsAhead => _segments.Count - (int)(_cursorSegment - _firstSegmentNo);

    /// <summary>Whether to read more now: fewer than two segments ahead, the clock held for data, or the loaded edge
    /// due within <paramref name="readAhead"/>.</summary>
    public bool NeedsMore(SessionClock clock, WallTime now, TimeSpan readAhead) =>
        MoreToLoad && (SegmentsAhead < 2 || clock.Status == SessionStatus.Buffering || clock.WallAt(LoadedThrough) < now + readAhead);

    /// <summary>Voids loads in progress without a new plan (the session is released).</summary>
    public void Abandon() => Generation++;

    /// <summary>The next chunk (and pass) to read.</summary>
    public (int Pass, long Chunk) NextLoad { get; private set; }

    /// <summary>Empties the buffer to load <paramref name="plan"/> from <paramref name="from"/> in loop pass <paramref name="pass"/>,
    /// leaving out the first <paramref name="skipAtFrom"/> events at exactly <paramref name="from"/> (handed on already).</summary>
    public void Reset(SessionPlan plan, int pass, StreamTime from, int skipAtFrom = 0)
    {
        _skipAtStart = skipAtFrom;
        _plan = plan;
        Generation++;
        _segments.Clear();
        _inFlight.Clear();
        _firstSegmentNo = 0;
        _cursorSegment = 0;
        _cursorIndex = 0;
        AllLoaded = false;
        AtLiveEdge = false;
        _skipBeforeTicks = from.Ticks;
        _liveHighWater = long.MinValue;
        NextLoad = (pass, grid.IndexOf(from.Ticks));
        LoadedThrough = plan.PositionOf(from, pass);
    }

    /// <summary>The loaded event at the cursor and its pass, stepping over exhausted segments.</summary>
    public bool TryPeek(out LoadedEvent next, out int pass)
    {
        while (true)
        {
            var i = (int)(_cursorSegment - _firstSegmentNo);
            if (i >= _segments.Count)
            {
                (next, pass) = (default, 0);
                return false;
            }

            var segment = _segments[i];
            _cursorIndex = Math.Max(_cursorIndex, segment.Start);
            if (_cursorIndex < segment.Events.Length)
            {
                (next, pass) = (segment.Events[_cursorIndex], segment.Pass);
                return true;
            }

            _cursorSegment++;
            _cursorIndex = 0;
        }
    }

    /// <summary>The event at the cursor was handed on, due at <paramref name="due"/>: the cursor moves past it.</summary>
    public void Advance(WallTime due)
    {
        _inFlight.Enqueue(new InFlight(due, _cursorSegment, _cursorIndex));
        _cursorIndex++;
    }

    /// <summary>Forgets handed-on events that are due by now: they can no longer be taken back.</summary>
    public void Released(WallTime now)
    {
        while (_inFlight.TryPeek(out var done) && done.Due <= now)
        {
            _inFlight.Dequeue();
        }
    }

    /// <summary>Takes back what was handed on but falls due after <paramref name="cut"/>: the cursor returns to the first such event.</summary>
    public void Rewind(WallTime cut)
    {
        while (_inFlight.TryDequeue(out var item))
        {
            if (item.Due > cut)
            {
                _cursorSegment = item.Segment;
                _cursorIndex = item.Index;
                _inFlight.Clear();
                break;
            }
        }
    }

    /// <summary>Drops segments behind both the cursor and the oldest event that can still be taken back.</summary>
    public void Trim()
    {
        var keepFrom = _cursorSegment;
        if (_inFlight.TryPeek(out var oldest))
        {
            keepFrom = Math.Min(keepFrom, oldest.Segment);
        }

        var drop = (int)Math.Min(_segments.Count, keepFrom - _firstSegmentNo);
        if (drop > 0)
        {
            _segments.RemoveRange(0, drop);
            _firstSegmentNo += drop;
        }
    }

    /// <summary>Chunks to ask for at once: enough to cover <paramref name="readAhead"/> of wall time at the clock's pace
    /// from <paramref name="now"/>, within one pass.</summary>
    public int BatchSize(SessionClock clock, WallTime now, TimeSpan readAhead)
    {
        var plan = Plan;
        var target = Math.Max(clock.PositionAt(now), LoadedThrough) + readAhead.TotalSeconds * clock.Speed;
        var pass = NextLoad.Pass;
        var within = Math.Clamp(target - pass * plan.Length, 0, plan.Length);
        var targetTicks = plan.Warp.ToTicks(within);
        var lastChunk = grid.IndexOf(Math.Max(plan.Spec.WindowStart, plan.Spec.WindowEnd - 1));
        var wanted = Math.Min(grid.IndexOf(targetTicks), lastChunk) - NextLoad.Chunk + 1;
        return (int)Math.Clamp(wanted, 1, Math.Min(MaxChunksPerRead, lastChunk - NextLoad.Chunk + 1));
    }

    /// <summary>Reads <paramref name="count"/> chunks from <see cref="NextLoad"/> of every channel and merges them into
    /// segments: time, then the channel's place in the play request, then store order. Stops at the window's end
    /// and, for a live plan, at the first chunk reaching past <paramref name="fetchedAt"/>.</summary>
    public async Task<List<Segment>> FetchAsync(int count, WallTime fetchedAt)
    {
        var plan = Plan;
        var (pass, firstChunk) = NextLoad;
        var channels = plan.Channels;
        var tasks = new Task<ImmutableArray<ChannelChunk>>[channels.Length];
        for (var i = 0; i < tasks.Length; i++)
        {
            tasks[i] = source.GetChunks(channels[i], firstChunk, count);
        }

        var perChannel = await Task.WhenAll(tasks);
        var segments = new List<Segment>(count);
        for (var k = 0; k < count; k++)
        {
            var chunk = perChannel[0][k];
            var open = plan.Live && chunk.EndTicks > fetchedAt.Ticks;
            var from = Math.Max(plan.Spec.WindowStart, chunk.StartTicks);
            var to = Math.Min(plan.Spec.WindowEnd, chunk.EndTicks);
            var merged = Merge(perChannel, k, channels, from, to);
            segments.Add(new Segment(pass, chunk.ChunkIndex, merged, to >= plan.Spec.WindowEnd, open ? fetchedAt.Ticks : null));
            if (to >= plan.Spec.WindowEnd || open)
            {
                break; // nothing exists beyond the present yet
            }
        }

        return segments;
    }

    /// <summary>The events of chunk <paramref name="k"/> of every channel within [<paramref name="from"/>, <paramref name="to"/>):
    /// of one channel, that range of its chunk; of several, merged in one array of the exact size (a growing list and its
    /// copy were a quarter of the gateway's allocations at 1,000 sessions): time, then the channel's place in the play
    /// request, then store order.</summary>
    private static SegmentEvents Merge(ImmutableArray<ChannelChunk>[] perChannel, int k, ImmutableArray<string> channels, long from, long to)
    {
        if (perChannel.Length == 1)
        {
            // One channel: its chunk is already in play order (time, then store order); the window's edges cut a range.
            var events = perChannel[0][k].Events;
            var first = 0;
            while (first < events.Length && events[first].Ticks < from)
            {
                first++;
            }

            var end = first;
            while (end < events.Length && events[end].Ticks < to)
            {
                end++;
            }

            return new SegmentEvents(channels[0], events, first, end - first);
        }

        var count = 0;
        for (var c = 0; c < perChannel.Length; c++)
        {
            foreach (var e in perChannel[c][k].Events)
            {
                count += e.Ticks >= from && e.Ticks < to ? 1 : 0;
            }
        }

        if (count == 0)
        {
            return new SegmentEvents([]);
        }

        var merged = new LoadedEvent[count];
        var n = 0;
        for (var c = 0; c < perChannel.Length; c++)
        {
            foreach (var e in perChannel[c][k].Events)
            {
                if (e.Ticks >= from && e.Ticks < to)
                {
                    merged[n] = new LoadedEvent(channels[c], e.Ticks, e.Data, c, n);
                    n++;
                }
            }
        }

        Array.Sort(merged, static (a, b) => a.Ticks != b.Ticks ? a.Ticks.CompareTo(b.Ticks)
            : a.ChannelIndex != b.ChannelIndex ? a.ChannelIndex.CompareTo(b.ChannelIndex)
            : a.Arrival.CompareTo(b.Arrival));
        return new SegmentEvents(merged);
    }

    /// <summary>Adds a loaded segment at the end and moves <see cref="NextLoad"/> on.</summary>
    public void Append(Segment segment)
    {
        var plan = Plan;
        // Events are in time order, so what is left out is a prefix.
        if (_segments.Count == 0 && _firstSegmentNo == _cursorSegment && _skipBeforeTicks > long.MinValue)
        {
            // The first chunk after a play or seek starts at the requested instant, not at the chunk edge.
            var (skip, atStart) = (_skipBeforeTicks, _skipAtStart);
            var start = 0;
            while (start < segment.Events.Length && (segment.Events[start].Ticks < skip || (segment.Events[start].Ticks == skip && atStart-- > 0)))
            {
                start++;
            }

            segment = segment with { Start = start };
            _skipBeforeTicks = long.MinValue;
        }

        if (plan.Live)
        {
            // Chunks near the present are read more than once: keep only what is newer than what was loaded.
            var start = segment.Start;
            while (start < segment.Events.Length && segment.Events[start].Ticks <= _liveHighWater)
            {
                start++;
            }

            segment = segment with { Start = start };
            if (start < segment.Events.Length)
            {
                _liveHighWater = segment.Events[segment.Events.Length - 1].Ticks;
            }
        }

        _segments.Add(segment);
        AtLiveEdge = segment.OpenUntil is not null;
        if (segment.OpenUntil is { } until)
        {
            LoadedThrough = plan.Warp.ToPosition(until);
            return; // the same chunk is read again on the next poll
        }

        LoadedThrough = segment.Pass * plan.Length + (segment.LastOfPass ? plan.Length : plan.Warp.ToPosition(grid.EndOf(segment.Chunk)));
        if (!segment.LastOfPass)
        {
            NextLoad = (segment.Pass, segment.Chunk + 1);
        }
        else if (plan.Loop)
        {
            NextLoad = (segment.Pass + 1, grid.IndexOf(plan.Spec.WindowStart));
        }
        else
        {
            AllLoaded = true;
        }
    }

    private SessionPlan Plan => _plan ?? throw new InvalidOperationException("The buffer has no plan: Reset it first.");

    private readonly record struct InFlight(WallTime Due, long Segment, int Index);
}
