using Microsoft.Extensions.Time.Testing;
using Tivo.GrainInterfaces;
using Tivo.Grains;
using Tivo.Grains.Playback;
using Xunit;

namespace Tivo.Tests.Playback;

/// <summary>The replay log: bounded by count and bytes, voided after a cut, and the slices a reconnecting participant gets.</summary>
public sealed class ReplayLogTests
{
    /// <summary>A trim's "now" after every due in these tests (only the silo's budget looks at it).</summary>
    private static readonly WallTime Later = new(long.MaxValue);

    private static SessionEvent Event(long seq, long due, int payloadChars = 10) =>
        new("c", seq, seq, due, seq, new string('x', payloadChars));

    private static readonly long EventBytes = MemoryEstimates.SessionEventBytes(10);

    [Fact]
    public void Past_the_silos_budget_each_log_trims_to_its_share_but_keeps_what_is_not_yet_due()
    {
        // A thousand long sessions each at their own bounds (20,000 events, 4 MiB) held gigabytes together; the silo's
        // budget bounds them all. A log alone within the budget keeps everything; once two logs hold more than the budget,
        // each trims to its share at its next push, never dropping an event still on its way to its due.
        using var budget = new ReplayBudget(limit: 400 * EventBytes);
        var a = new ReplayLog(maxEvents: 1_000, maxBytes: long.MaxValue, budget);
        var b = new ReplayLog(maxEvents: 1_000, maxBytes: long.MaxValue, budget);
        for (var seq = 1; seq <= 300; seq++)
        {
            a.Add(Event(seq, seq));
            a.Trim(new WallTime(seq));
        }

        Assert.Equal(300, a.Count); // within the budget: its own bounds only
        Assert.Equal(300 * EventBytes, budget.Bytes);
        Assert.Equal(1, budget.Logs);

        for (var seq = 1; seq <= 300; seq++)
        {
            b.Add(Event(seq, 1_000 + seq)); // due after now (500): still on their way
            b.Trim(new WallTime(500));
        }

        Assert.Equal(300, b.Count); // over the budget, but none of b's events is due yet
        Assert.Equal(2, budget.Logs);
        Assert.True(budget.Bytes > budget.Limit);

        a.Add(Event(301, 301));
        a.Trim(new WallTime(301)); // a's next push: down to three quarters of its share (200 events' bytes)
        Assert.Equal(150, a.Count);
        Assert.Equal(152L, a.OldestSeq(302));
        var (events, gap) = a.After(100, 302, Later);
        Assert.Equal(152L, events.First().Seq);
        Assert.Contains("Tivo:Playback:ReplayMemoryLimit", gap!.Message); // the resume's reason names the silo's bound

        b.Trim(new WallTime(1_250)); // b's events due by 1,250 may go now
        Assert.Equal(150, b.Count);
        Assert.Equal(budget.Bytes, a.Bytes + b.Bytes);
        Assert.True(budget.Bytes <= budget.Limit, $"{budget.Bytes} of {budget.Limit}");

        a.Close(); // its session's activation ended
        Assert.Equal(0, a.Count);
        Assert.Equal(1, budget.Logs);
        Assert.Equal(b.Bytes, budget.Bytes);
        Assert.Equal(long.MaxValue, budget.Share); // within the budget again
        for (var seq = 301; seq <= 600; seq++)
        {
            b.Add(Event(seq, 1_000 + seq));
            b.Trim(new WallTime(2_000));
        }

        Assert.InRange(b.Count, 300, 400); // alone, b grows past its crowded share up to the whole budget
        Assert.True(budget.Bytes <= budget.Limit, $"{budget.Bytes} of {budget.Limit}");
    }

    [Fact]
    public void A_negative_silo_bound_is_refused_naming_the_setting()
    {
        var result = new PlaybackOptionsValidator().Validate(null, new PlaybackOptions { ReplayMemoryLimit = -1 });
        Assert.True(result.Failed);
        Assert.Contains("Tivo:Playback:ReplayMemoryLimit (-1) must not be negative", result.FailureMessage, StringComparison.Ordinal);
        Assert.True(new PlaybackOptionsValidator().Validate(null, new PlaybackOptions { ReplayMemoryLimit = 0 }).Succeeded);
    }

    [Fact]
    public void Without_a_silo_bound_the_budget_only_counts()
    {
        using var budget = new ReplayBudget(limit: 0);
        var log = new ReplayLog(maxEvents: 10_000, maxBytes: long.MaxValue, budget);
        for (var seq = 1; seq <= 5_000; seq++)
        {
            log.Add(Event(seq, seq));
            log.Trim(Later);
        }

        Assert.Equal(5_000, log.Count);
        Assert.Equal(5_000 * EventBytes, budget.Bytes);
        Assert.Null(log.After(0, 5_001, Later).Gap);
    }

    [Fact]
    public void It_keeps_the_newest_events_within_the_count()
    {
        var log = new ReplayLog(maxEvents: 100, maxBytes: long.MaxValue);
        for (var seq = 1; seq <= 1000; seq++)
        {
            log.Add(Event(seq, seq));
            log.Trim(Later);
            Assert.InRange(log.Count, 1, 200);
        }

        Assert.Equal(1001 - log.Count, log.OldestSeq(1001));
        var (events, gap) = log.After(990, 1001, Later);
        Assert.Equal(Enumerable.Range(991, 10).Select(i => (long)i), events.Select(e => e.Seq));
        Assert.Null(gap);
    }

    [Fact]
    public void It_keeps_within_the_bytes_and_says_what_a_resume_past_them_lost()
    {
        var log = new ReplayLog(maxEvents: 1_000_000, maxBytes: 10_000);
        for (var seq = 1; seq <= 500; seq++)
        {
            log.Add(Event(seq, seq, payloadChars: 100));
            log.Trim(Later);
            Assert.True(log.Bytes <= 10_000 + MemoryEstimates.SessionEventBytes(100), $"{log.Bytes} bytes");
        }

        var oldest = log.OldestSeq(501);
        Assert.True(oldest > 400);
        var (events, gap) = log.After(10, 501, Later);
        Assert.Equal(oldest, events.First().Seq);
        Assert.Equal((11L, oldest - 1), (gap!.FromSeq, gap.ToSeq));
        Assert.Equal(events.First().DueTicks, gap.ReleaseTicks); // ahead of the first event held (its due is before now)
        Assert.Equal($"Events after seq 10 up to seq {oldest - 1} are no longer held (a session keeps its last 1000000 events, at most 9 KiB of them); the stream resumes at seq {oldest}.", gap!.Message);
    }

    [Fact]
    public void A_cut_voids_what_falls_due_after_it()
    {
        var log = new ReplayLog(100, long.MaxValue);
        for (var seq = 1; seq <= 10; seq++)
        {
            log.Add(Event(seq, due: seq * 100));
        }

        log.DropDueAfter(new WallTime(550));
        Assert.Equal(5, log.Count);
        Assert.Equal([4L, 5L], log.DueAfter(new WallTime(350)).Select(e => e.Seq));
        Assert.Equal(5 * MemoryEstimates.SessionEventBytes(10), log.Bytes);
    }

    [Fact]
    public void It_does_not_keep_the_pushed_events_alive_and_gives_back_the_same_values()
    {
        // A log of the pushed objects made every event a session emitted survive the runtime's young-generation
        // collections (at 1,000 sessions the gateway paused 28–64 ms per collection promoting them); the pushed events must
        // die once delivered, and what the log gives a resuming participant must be equal to them.
        var log = new ReplayLog(100, long.MaxValue);
        var (pushed, copy) = AddOne(log);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        Assert.False(pushed.TryGetTarget(out _), "the log still holds the pushed SessionEvent");
        var (events, _) = log.After(0, 2, Later);
        Assert.Equal([copy], events);
        Assert.Equal(new ResumeMark(LastSeq: 1, Pass: 3, Ticks: 7, SameTicks: 1, DueTicks: 1_000), log.LastMark());
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static (WeakReference<SessionEvent> Pushed, SessionEvent Copy) AddOne(ReplayLog log)
    {
        var e = new SessionEvent("ch", 7, 1, 1_000, 9, "{\"v\":1}", Pass: 3);
        log.Add(e);
        return (new WeakReference<SessionEvent>(e), e with { });
    }

    [Theory]
    [InlineData(300)]
    [InlineData(0)]
    public void At_its_bound_it_allocates_nothing_more_as_a_session_plays_on(int maxEvents)
    {
        // A session playing for long keeps its log at the bound: every segment it allocated lived until the next trim, so a
        // thousand long sessions made megabytes a second of old garbage. Emptied segments are reused instead; 0 (keep
        // nothing) made and dropped a segment on every push.
        var log = new ReplayLog(maxEvents, long.MaxValue);
        var events = Enumerable.Range(1, 20_000).Select(seq => Event(seq, seq * 10L)).ToArray();
        void Play(int from, int to)
        {
            for (var i = from; i < to; i++)
            {
                log.Add(events[i]);
                if (i % 40 == 39)
                {
                    log.Trim(Later); // as a push does
                }
            }
        }

        Play(0, 5_000);
        var before = GC.GetAllocatedBytesForCurrentThread();
        Play(5_000, 20_000);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.InRange(log.Count, maxEvents, 2 * maxEvents); // the last push was trimmed
        Assert.Equal(maxEvents == 0 ? null : 20_000L, log.LastMark()?.LastSeq);
    }

    [Fact]
    public void A_session_that_ends_leaves_its_segments_to_the_next_one_on_the_silo()
    {
        // Every session's log grew from nothing: 56 B of new segments per event, which the runtime's young collections copied
        // as they filled (a third of what a lead play allocated at 1,000 sessions). A log that closes gives its segments to
        // the silo's pool; the next session's log fills them, holding only its own events.
        using var budget = new ReplayBudget(limit: 0);
        var first = new ReplayLog(maxEvents: 20_000, maxBytes: long.MaxValue, budget);
        for (var seq = 1; seq <= 1_000; seq++)
        {
            first.Add(Event(seq, seq));
        }

        first.Close();
        var next = new ReplayLog(maxEvents: 20_000, maxBytes: long.MaxValue, budget);
        var events = Enumerable.Range(1, 900).Select(seq => Event(10_000 + seq, seq)).ToArray();
        var allocated = AllocatedAdding(next, events);
        Assert.InRange(allocated, 0, ReplayLog.SegmentBytes / 2); // the list of segments growing; no segment (7 KiB each)
        Assert.Equal(events.Select(e => e.Seq), next.After(0, 20_000, Later).Events.Select(e => e.Seq));
        Assert.Equal(0, first.Count);
    }

    [Fact]
    public void The_silos_pool_keeps_no_payload_alive_and_keeps_at_most_its_share_of_the_budget()
    {
        // Segments in the pool are cleared: a payload of an ended session must not live on through them. The pool keeps at
        // most an eighth of the silo's limit; what it cannot keep is left to the collector, and the next log allocates it.
        using var budget = new ReplayBudget(limit: 2L * ReplayBudget.PoolShare * ReplayLog.SegmentBytes);
        Assert.Equal(2, budget.PooledSegments);
        var payload = AddAndClose(budget);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.False(payload.IsAlive);

        var next = new ReplayLog(maxEvents: 20_000, maxBytes: long.MaxValue, budget);
        var allocated = AllocatedAdding(next, [.. Enumerable.Range(1, 8 * ReplayLog.SegmentSize).Select(seq => Event(seq, seq))]);
        // 8 segments: the first two from the pool, 6 made (and the log's list of segments growing)
        Assert.InRange(allocated, 6 * ReplayLog.SegmentBytes, 6 * ReplayLog.SegmentBytes + ReplayLog.SegmentBytes / 2);

        static WeakReference AddAndClose(ReplayBudget budget)
        {
            var log = new ReplayLog(maxEvents: 20_000, maxBytes: long.MaxValue, budget);
            var events = Enumerable.Range(1, 8 * ReplayLog.SegmentSize).Select(seq => Event(seq, seq)).ToArray();
            foreach (var e in events)
            {
                log.Add(e);
            }

            log.Close();
            return new WeakReference(events[^1].Data); // in the last segment, which the pool keeps
        }
    }

    [Theory]
    [InlineData(1L << 30)] // the default ReplayMemoryLimit
    [InlineData(0L)] // no silo-wide limit
    public void The_silos_pool_keeps_what_the_configuration_guide_says(long limit)
    {
        // docs/configuration.md: at most an eighth of ReplayMemoryLimit, 128 MiB at the default and without a limit (2,000
        // plain sessions of 10 s fill about 18,000 segments; a sixteenth kept 9,362 and left the rest to be made again).
        using var budget = new ReplayBudget(limit);
        Assert.Equal(128L * 1024 * 1024 / ReplayLog.SegmentBytes, budget.PooledSegments);
        Assert.InRange(budget.PooledSegments, 18_000, 20_000);
    }

    [Fact]
    public void The_silos_pool_gives_back_half_of_what_no_session_took_each_minute()
    {
        // After a burst of sessions the pool kept what their logs left, up to an eighth of the silo's limit (128 MiB at the
        // default), for good. Now every minute it drops half of the segments that no log took during the whole minute.
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var budget = new ReplayBudget(limit: 0, time);
        var burst = Enumerable.Range(0, 10).Select(_ => new ReplayLog(maxEvents: 20_000, maxBytes: long.MaxValue, budget)).ToArray();
        foreach (var log in burst)
        {
            for (var seq = 1; seq <= 8 * ReplayLog.SegmentSize; seq++)
            {
                log.Add(Event(seq, seq));
            }
        }

        foreach (var log in burst)
        {
            log.Close(); // ten sessions of 8 segments each end
        }

        Assert.Equal(80L * ReplayLog.SegmentBytes, budget.PooledBytes);
        time.Advance(ReplaySegmentPool.TrimInterval);
        Assert.Equal(80L * ReplayLog.SegmentBytes, budget.PooledBytes); // they came during the minute: none unused for all of it

        // A session takes 30 of them: 50 stayed unused for the whole next minute, and half of those go.
        var playing = new ReplayLog(maxEvents: 20_000, maxBytes: long.MaxValue, budget);
        for (var seq = 1; seq <= 30 * ReplayLog.SegmentSize; seq++)
        {
            playing.Add(Event(seq, seq));
        }

        time.Advance(ReplaySegmentPool.TrimInterval);
        Assert.Equal(25L * ReplayLog.SegmentBytes, budget.PooledBytes);
        Assert.Equal(30 * ReplayLog.SegmentSize, playing.Count); // what the playing session holds is not the pool's

        // Nobody takes any more: 25 → 12 → 6 → 3 → 1 → 0, a minute each.
        var kept = new List<long>();
        for (var minute = 0; minute < 5; minute++)
        {
            time.Advance(ReplaySegmentPool.TrimInterval);
            kept.Add(budget.PooledBytes / ReplayLog.SegmentBytes);
        }

        Assert.Equal([12, 6, 3, 1, 0], kept);

        // An empty pool fills again from the next session that ends.
        playing.Close();
        Assert.Equal(30L * ReplayLog.SegmentBytes, budget.PooledBytes);
    }

    /// <summary>What adding <paramref name="events"/> to <paramref name="log"/> allocates after the first (which makes the log's
    /// list of segments and takes its first segment).</summary>
    private static long AllocatedAdding(ReplayLog log, SessionEvent[] events)
    {
        log.Add(events[0]);
        var before = GC.GetAllocatedBytesForCurrentThread();
        foreach (var e in events.AsSpan(1))
        {
            log.Add(e);
        }

        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [Fact]
    public void Across_its_segments_it_holds_what_a_plain_list_would()
    {
        // The log keeps its entries in fixed segments: adds, cuts from the newest end and trims from the oldest, crossing
        // segment edges in every way, must leave exactly what a list given the same operations holds.
        var random = new Random(12);
        var log = new ReplayLog(maxEvents: 300, maxBytes: long.MaxValue);
        var model = new List<long>();
        var seq = 0L;
        for (var step = 0; step < 20_000; step++)
        {
            var op = random.Next(100);
            if (op < 90)
            {
                seq++;
                log.Add(Event(seq, seq * 10));
                model.Add(seq);
            }
            else if (op < 95 && model.Count > 0)
            {
                var keepUpTo = model[random.Next(model.Count)];
                log.DropAfterSeq(keepUpTo);
                model.RemoveAll(s => s > keepUpTo);
            }
            else
            {
                log.Trim(Later);
                if (model.Count > 600)
                {
                    model.RemoveRange(0, model.Count - 300);
                }
            }

            Assert.Equal(model.Count, log.Count);
            if (step % 97 == 0 || log.Count <= 1)
            {
                Assert.Equal(model, log.After(0, seq + 1, Later).Events.Select(e => e.Seq));
                Assert.Equal(model.Count == 0 ? seq + 1 : model[0], log.OldestSeq(seq + 1));
                Assert.Equal(model.Count * MemoryEstimates.SessionEventBytes(10), log.Bytes);
            }
        }
    }
}

