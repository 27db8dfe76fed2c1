using Tivo.GrainInterfaces;
using Tivo.Grains;
using Tivo.Grains.Playback;
using Xunit;
using static Tivo.Tests.Playback.InMemoryPlaybackSource;

namespace Tivo.Tests.Playback;

/// <summary>The push stream: events with seqs and exact dues, wrap, clock and end markers in position order, within the
/// lookahead, and a cut re-issuing exactly what it took back.</summary>
public sealed class EmissionCursorTests
{
    private static readonly WallTime T0 = new(new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks);

    private readonly InMemoryPlaybackSource _source = new InMemoryPlaybackSource().Add("a", 0.25, 0.75, 1.5);

    private static readonly SessionState Ended = new(SessionStatus.Ended, null, 1, 1, false, null, null, 0, [], null, null, null, null);

    private async Task<(EmissionCursor Cursor, SessionClock Clock, SessionPlan Plan, ReadAheadBuffer Buffer, ReplayLog Log)> StartAsync(double speed, bool loop)
    {
        var plan = await SessionPlan.BuildAsync(new PlanSpec(["a"], At(0), At(2), false, loop, null, null, null), _source);
        var clock = new SessionClock();
        clock.Configure(plan.Length, plan.Loop);
        clock.Reanchor(T0, 0, SessionStatus.Playing, speed);
        var buffer = new ReadAheadBuffer(_source.Grid, _source);
        buffer.Reset(plan, 0, plan.WindowStart);
        (await buffer.FetchAsync(2, T0)).ForEach(buffer.Append);
        var cursor = new EmissionCursor(TimeSpan.FromMilliseconds(150), TimeSpan.FromMilliseconds(500));
        cursor.StartEpoch(T0);
        cursor.StartClock(T0);
        return (cursor, clock, plan, buffer, new ReplayLog(100, long.MaxValue));
    }

    private static string Describe(SessionEvent e) => $"event {(e.Ticks - Base) / (double)TimeSpan.TicksPerSecond} seq {e.Seq} due +{(e.DueTicks - T0.Ticks) / TimeSpan.TicksPerMillisecond}";

    private static string Describe(SessionSignal s) => s switch
    {
        ClockSignal c => $"clock +{(c.ReleaseTicks - T0.Ticks) / TimeSpan.TicksPerMillisecond}",
        LoopSignal l => $"loop {l.Iteration} +{(l.ReleaseTicks - T0.Ticks) / TimeSpan.TicksPerMillisecond}",
        StateSignal st => $"{st.State.Status} +{(st.ReleaseTicks - T0.Ticks) / TimeSpan.TicksPerMillisecond}",
        _ => s.ToString(),
    };

    private static IEnumerable<string> InOrder(PlaybackBatch? batch) => batch is null
        ? []
        : batch.Events.Select(e => (e.Order, Describe(e))).Concat(batch.Signals.Select(s => (s.Order, Describe(s)))).OrderBy(x => x.Order).Select(x => x.Item2);

    [Fact]
    public async Task Events_and_markers_come_in_position_order_with_their_dues()
    {
        var (cursor, clock, plan, buffer, log) = await StartAsync(speed: 2, loop: false);
        var all = new List<string>();
        for (var ms = 0; ms <= 1200; ms += 50)
        {
            all.AddRange(InOrder(cursor.Emit(T0 + TimeSpan.FromMilliseconds(ms), clock, plan, buffer, log, () => Ended)));
        }

        Assert.Equal(
        [
            "clock +0", "event 0.25 seq 1 due +125", "event 0.75 seq 2 due +375", "clock +500", "event 1.5 seq 3 due +750",
            "Ended +1000", // the end takes the place of the clock tick at the same instant
        ], all);
        Assert.Equal(3, log.Count);
        Assert.True(cursor.EndEmitted);
    }

    [Fact]
    public async Task Nothing_is_handed_on_beyond_the_lookahead()
    {
        var (cursor, clock, plan, buffer, log) = await StartAsync(speed: 1, loop: false);
        Assert.Equal(["clock +0"], InOrder(cursor.Emit(T0, clock, plan, buffer, log, () => Ended)));
        Assert.Equal(["event 0.25 seq 1 due +250"], InOrder(cursor.Emit(T0 + TimeSpan.FromMilliseconds(100), clock, plan, buffer, log, () => Ended)));
    }

    [Fact]
    public async Task A_wrap_precedes_the_first_event_of_the_next_pass()
    {
        var (cursor, clock, plan, buffer, log) = await StartAsync(speed: 4, loop: true);
        var all = new List<string>();
        for (var ms = 0; ms <= 600; ms += 50)
        {
            all.AddRange(InOrder(cursor.Emit(T0 + TimeSpan.FromMilliseconds(ms), clock, plan, buffer, log, () => Ended)));
            if (buffer.NeedsMore(clock, T0 + TimeSpan.FromMilliseconds(ms), TimeSpan.FromSeconds(1)))
            {
                (await buffer.FetchAsync(2, T0)).ForEach(buffer.Append);
            }
        }

        var fromWrap = all.SkipWhile(s => !s.StartsWith("loop 1", StringComparison.Ordinal)).ToList();
        Assert.Equal("loop 1 +500", fromWrap[0]);
        Assert.Equal("event 0.25 seq 4 due +562", fromWrap.First(s => s.StartsWith("event", StringComparison.Ordinal)));
        Assert.DoesNotContain(all.TakeWhile(s => !s.StartsWith("loop 1", StringComparison.Ordinal)), s => s.Contains("seq 4", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_cut_hands_on_again_exactly_what_it_took_back()
    {
        var (cursor, clock, plan, buffer, log) = await StartAsync(speed: 1, loop: false);
        var first = InOrder(cursor.Emit(T0 + TimeSpan.FromMilliseconds(700), clock, plan, buffer, log, () => Ended)).ToList();
        Assert.Contains("event 0.75 seq 2 due +750", first); // handed on, due after the cut below

        var cut = T0 + TimeSpan.FromMilliseconds(720);
        var position = clock.PositionAt(cut);
        buffer.Rewind(cut);
        cursor.Rewind(cut, 0);
        clock.Reanchor(cut, position, speed: 2);
        log.DropDueAfter(cut);
        cursor.StartEpoch(cut);

        var again = InOrder(cursor.Emit(T0 + TimeSpan.FromMilliseconds(720), clock, plan, buffer, log, () => Ended)).ToList();
        Assert.Equal(["clock +720", "event 0.75 seq 3 due +735"], again.Take(2));
        Assert.Equal(2, cursor.Epoch);
        Assert.Equal([1L, 3L], log.DueAfter(T0).Select(e => e.Seq));
    }
}
