using Tivo.GrainInterfaces;
using Tivo.Grains;
using Tivo.Grains.Playback;
using Xunit;

namespace Tivo.Tests.Playback;

/// <summary>The replay log: bounded by count and bytes, voided after a cut, and the slices a reconnecting participant gets.</summary>
public sealed class ReplayLogTests
{
    private static SessionEvent Event(long seq, long due, int payloadChars = 10) =>
        new("c", seq, seq, due, seq, new string('x', payloadChars));

    [Fact]
    public void It_keeps_the_newest_events_within_the_count()
    {
        var log = new ReplayLog(maxEvents: 100, maxBytes: long.MaxValue);
        for (var seq = 1; seq <= 1000; seq++)
        {
            log.Add(Event(seq, seq));
            log.Trim();
            Assert.InRange(log.Count, 1, 200);
        }

        Assert.Equal(1001 - log.Count, log.OldestSeq(1001));
        var (events, gap) = log.After(990, 1001);
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
            log.Trim();
            Assert.True(log.Bytes <= 10_000 + MemoryEstimates.SessionEventBytes(100), $"{log.Bytes} bytes");
        }

        var oldest = log.OldestSeq(501);
        Assert.True(oldest > 400);
        var (events, gap) = log.After(10, 501);
        Assert.Equal(oldest, events.First().Seq);
        Assert.Equal((11L, oldest - 1), (gap!.Value.From, gap.Value.To));
        Assert.Equal($"Events after seq 10 up to seq {oldest - 1} are no longer held (a session keeps its last 1000000 events, at most 9 KiB of them); the stream resumes at seq {oldest}.", gap.Value.Why);
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
}
