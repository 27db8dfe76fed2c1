using Tivo.GrainInterfaces;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>
/// A joiner's delivery queue: it is attached to the session's shared stream before it joins, so what the
/// session pushes in between arrives twice (shared, and in the catch-up). Each event goes out once.
/// </summary>
public sealed class DeliveryQueueTests
{
    private const string Joiner = "late";

    private static SessionEvent Event(long seq, long due, bool snapshot = false) =>
        new("taxi", 1_000 + seq, snapshot ? 0 : seq, due, seq, $$"""{"n":{{seq}}}""", snapshot);

    private static PlaybackBatch Shared(params SessionEvent[] events) => new(1, 0, [.. events], []);

    private static PlaybackBatch CatchUp(params SessionEvent[] events) => new(1, 0, [.. events], [], Joiner);

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
        queue.Add(CatchUp(Event(3, 100, snapshot: true), Event(5, 500), Event(6, 600), Event(7, 700)));
        queue.Add(Shared(Event(8, 800)));                      // pushed after the join

        Assert.Equal([(0, true), (5, false), (6, false), (7, false), (8, false)], Drain(queue));
    }

    [Fact]
    public void After_the_catch_up_shared_events_are_taken_as_they_come()
    {
        var queue = new DeliveryQueue<object>();
        queue.BeginJoin();
        queue.Add(CatchUp(Event(5, 500)));
        queue.Add(Shared(Event(6, 600)));
        queue.Add(CatchUp(Event(6, 600))); // a second catch-up (a resume with lastSeq) is not compared

        Assert.Equal([(5, false), (6, false), (6, false)], Drain(queue));
    }

    [Fact]
    public void A_join_without_catch_up_stops_comparing()
    {
        var queue = new DeliveryQueue<object>();
        queue.BeginJoin();
        queue.Add(Shared(Event(5, 500)));
        queue.EndJoin();
        queue.Add(CatchUp(Event(5, 500), Event(6, 600)));

        Assert.Equal([(5, false), (5, false), (6, false)], Drain(queue));
    }
}
