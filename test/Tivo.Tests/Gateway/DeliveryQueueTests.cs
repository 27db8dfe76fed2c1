using Tivo.GrainInterfaces;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>
/// A joiner's delivery queue. The connection is attached to the session's shared stream before it joins,
/// so shared pushes race with the catch-up the session sends during the join: those pushed before the join
/// arrive twice or lie before the joiner's start, and the catch-up may arrive after later pushes. Each
/// event goes out once, in due order, starting with the catch-up.
/// </summary>
public sealed class DeliveryQueueTests
{
    private const string Joiner = "late";

    private static SessionEvent Event(long seq, long due, bool snapshot = false) =>
        new("taxi", 1_000 + seq, snapshot ? 0 : seq, due, seq, $$"""{"n":{{seq}}}""", snapshot);

    private static PlaybackBatch Shared(params SessionEvent[] events) => new(1, 0, [.. events], []);

    private static PlaybackBatch CatchUp(long joinedAtSeq, params SessionEvent[] events) => new(1, 0, [.. events], [], Joiner, joinedAtSeq);

    private static List<(long Seq, bool Snapshot)> Drain(DeliveryQueue<object> queue)
    {
        var taken = new List<(long, bool)>();
        while (queue.TryTake(long.MaxValue, out var item))
        {
            taken.Add((item.Event!.Seq, item.Event.Snapshot));
        }

        return taken;
    }

    [Fact]
    public void Events_shared_while_joining_are_not_repeated_by_the_catch_up()
    {
        var queue = new DeliveryQueue<object>();
        queue.BeginJoin();
        queue.Add(Shared(Event(6, 600), Event(7, 700)));       // pushed after the attach, before the join
        queue.Add(CatchUp(8, Event(3, 500, snapshot: true), Event(6, 600), Event(7, 700)));
        queue.Add(Shared(Event(8, 800)));                      // pushed after the join

        Assert.Equal([(0, true), (6, false), (7, false), (8, false)], Drain(queue));
    }

    [Fact]
    public void A_shared_event_due_before_the_join_gives_way_to_the_snapshot()
    {
        var queue = new DeliveryQueue<object>();
        queue.BeginJoin();
        queue.Add(Shared(Event(4, 400), Event(5, 450)));       // pushed after the attach, due before the join
        queue.Add(CatchUp(6, Event(4, 500, snapshot: true)));  // the join at 500: the snapshot holds seq 4's event

        Assert.Equal([(0, true)], Drain(queue));
    }

    [Fact]
    public void While_the_shared_stream_is_held_replies_go_and_the_rest_then_goes_in_due_order()
    {
        // A push overtaken on its way: what came after it waits for it (or its copies) instead of going ahead of it.
        var queue = new DeliveryQueue<object>();
        queue.Add(Shared(Event(1, 100)));
        queue.HoldShared = true;
        queue.Add(Shared(Event(4, 400)));
        queue.AddLocal("ack");
        Assert.True(queue.TryTake(long.MaxValue, out var reply));
        Assert.Equal("ack", reply.Local);
        Assert.Null(queue.NextRelease);
        Assert.False(queue.TryTake(long.MaxValue, out _));

        queue.Add(Shared(Event(2, 200), Event(3, 300))); // the copies from the replay log
        queue.HoldShared = false;
        Assert.Equal([(1, false), (2, false), (3, false), (4, false)], Drain(queue));
    }

    [Fact]
    public void While_joining_shared_events_wait_for_the_catch_up_and_replies_do_not()
    {
        var queue = new DeliveryQueue<object>();
        queue.BeginJoin();
        queue.Add(Shared(Event(9, 900)));                      // pushed after the join, arriving before the catch-up
        queue.AddLocal("hello");

        Assert.True(queue.TryTake(long.MaxValue, out var reply));
        Assert.Equal("hello", reply.Local);
        Assert.False(queue.TryTake(long.MaxValue, out _));
        Assert.Null(queue.NextRelease);

        queue.Add(CatchUp(9, Event(7, 700), Event(8, 800)));
        Assert.Equal(700, queue.NextRelease);
        Assert.Equal([(7, false), (8, false), (9, false)], Drain(queue));
    }

    [Fact]
    public void A_push_from_before_the_join_arriving_after_the_catch_up_is_left_out()
    {
        var queue = new DeliveryQueue<object>();
        queue.BeginJoin();
        queue.Add(CatchUp(8, Event(6, 600), Event(7, 700)));
        queue.Add(Shared(Event(7, 700)));                      // reordered: pushed before the join
        queue.Add(Shared(Event(8, 800)));
        queue.Add(Shared(Event(9, 900)));

        Assert.Equal([(6, false), (7, false), (8, false), (9, false)], Drain(queue));
    }

    [Fact]
    public void A_join_without_catch_up_releases_the_shared_stream()
    {
        var queue = new DeliveryQueue<object>();
        queue.BeginJoin();
        queue.Add(Shared(Event(5, 500)));
        Assert.False(queue.TryTake(long.MaxValue, out _));
        queue.EndJoin();
        queue.Add(Shared(Event(6, 600)));

        Assert.Equal([(5, false), (6, false)], Drain(queue));
    }

    [Fact]
    public void Late_events_of_a_restored_session_are_kept_whatever_their_seq()
    {
        // After a restore two pushes arrived in the wrong order. The queue once dropped the late one's events as repeats
        // of what it had (seqs below the highest taken): 3 events lost per participant in the failover benchmark.
        // Repeats are the gateway's fan-out's to drop (SharedStreamTracker), which knows what it really had.
        var queue = new DeliveryQueue<object>();
        queue.Add(new PlaybackBatch(3, long.MaxValue, [Event(7, 700), Event(8, 800)], [], ReplayedBelow: 100_000));
        queue.Add(new PlaybackBatch(3, long.MaxValue, [Event(4, 400), Event(5, 500), Event(6, 600)], [], ReplayedBelow: 100_000));
        Assert.Equal([4L, 5L, 6L, 7L, 8L], Drain(queue).Select(d => d.Seq));
    }

    [Fact]
    public void Everything_goes_out_in_release_order_however_the_pushes_interleave()
    {
        // The queue takes in-order pushes first in, first out and the rest from a heap; whatever the mix (a push's signals
        // between its events, pushes arriving late or overlapping, replies, a control voiding what was queued), what comes
        // out is every item still meant, by release time and then order, as one sorted list of them says.
        var random = new Random(12);
        var queue = new DeliveryQueue<string>();
        var expected = new List<(long Release, long Order, string What)>();
        long order = 0, epoch = 1, cutoff = 0;
        var taken = new List<(long Release, long Order, string What)>();
        for (var push = 0; push < 400; push++)
        {
            var from = push * 1_000L + random.Next(-3_000, 500); // overlapping, now and then behind the last
            var events = Enumerable.Range(0, random.Next(0, 12)).Select(_ => from + random.Next(0, 1_500)).Order()
                .Select(due => new SessionEvent("taxi", due, ++order, due, order, "{}")).ToArray();
            var signals = Enumerable.Range(0, random.Next(0, 3)).Select(_ => from + random.Next(0, 1_500))
                .Select(release => (SessionSignal)new ClockSignal(release, ++order, release, 1, 0)).ToArray();
            if (random.Next(40) == 0)
            {
                (epoch, cutoff) = (epoch + 1, from); // a control: what is queued for after the cut is void
                expected.RemoveAll(i => i.What.StartsWith("shared", StringComparison.Ordinal) && i.Release > cutoff);
            }

            queue.Add(new PlaybackBatch(epoch, cutoff, [.. events], [.. signals]));
            expected.AddRange(events.Select(e => (e.DueTicks, e.Order, $"shared event {e.Seq}")));
            expected.AddRange(signals.Select(s => (s.ReleaseTicks, s.Order, $"shared signal {s.Order}")));
            if (random.Next(10) == 0)
            {
                queue.AddLocal($"reply {push}");
                expected.Add((long.MinValue, push, $"reply {push}"));
            }

            // Some of what is due by now goes out between pushes.
            var now = push * 1_000L - 2_000;
            while (queue.TryTake(now, out var item))
            {
                taken.Add(Describe(item));
            }

            var due = expected.Where(i => i.Release <= now).OrderBy(i => i.Release).ThenBy(i => i.Order).ToList();
            Assert.Equal(due.Select(i => i.What), taken.Select(i => i.What));
            expected.RemoveAll(i => i.Release <= now);
            taken.Clear();
            Assert.Equal(expected.Count, queue.Count);
        }

        while (queue.TryTake(long.MaxValue, out var rest))
        {
            taken.Add(Describe(rest));
        }

        Assert.Equal(expected.OrderBy(i => i.Release).ThenBy(i => i.Order).Select(i => i.What), taken.Select(i => i.What));

        static (long, long, string) Describe(Delivery<string> item) => item switch
        {
            { IsLocal: true } => (long.MinValue, 0, item.Local!),
            { Event: { } e } => (e.DueTicks, e.Order, $"shared event {e.Seq}"),
            _ => (item.Signal!.ReleaseTicks, item.Signal.Order, $"shared signal {item.Signal.Order}"),
        };
    }
}
