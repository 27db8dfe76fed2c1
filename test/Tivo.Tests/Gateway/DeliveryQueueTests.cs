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
}
