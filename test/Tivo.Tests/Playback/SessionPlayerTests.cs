using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Tivo.GrainInterfaces;
using Tivo.Grains;
using Tivo.Grains.Playback;
using Xunit;
using static Tivo.Tests.Playback.InMemoryPlaybackSource;

namespace Tivo.Tests.Playback;

/// <summary>The parts together, without Orleans: a plan adopted, read, started and cut, and a persisted anchor restored.</summary>
public sealed class SessionPlayerTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly InMemoryPlaybackSource _source = new InMemoryPlaybackSource().Add("a", [.. Enumerable.Range(0, 20).Select(i => i * 0.1)]);
    private readonly List<PlaybackBatch> _sent = [];
    private readonly SessionPlayer _player;

    public SessionPlayerTests()
    {
        var participants = new ParticipantSet();
        participants.Join("p", new Recorder(_sent), Now, [], ParticipantRole.Controller);
        _player = new SessionPlayer("s", new PlaybackOptions(), _source.Grid, _source, _time, participants, NullLogger.Instance, _ => { });
    }

    private sealed class Recorder(List<PlaybackBatch> sent) : IPlaybackObserver
    {
        public Task OnBatch(PlaybackBatch batch)
        {
            sent.Add(batch);
            return Task.CompletedTask;
        }
    }

    private WallTime Now => new(_time.GetUtcNow().UtcTicks);

    /// <summary><paramref name="ticks"/> of the session's 50-ms ticks, the clock advanced before each.</summary>
    private void Tick(int ticks)
    {
        for (var i = 0; i < ticks; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(50));
            _player.Advance(Now);
        }
    }

    private async Task<SessionPlan> StartAsync(double speed, double leadMs = 0)
    {
        var plan = await SessionPlan.BuildAsync(new PlanSpec(["a"], At(0), At(2), false, false, null, null, null, leadMs), _source);
        _player.Adopt(plan, speed, Now);
        Assert.Null(await _player.Loader.LoadFirstAsync());
        _player.Clock.Reanchor(Now, 0, SessionStatus.Playing);
        _player.Start(Now);
        return plan;
    }

    /// <summary>What a participant keeps: per epoch, items released before the next epoch's cut (the gateway's rule).</summary>
    private List<SessionEvent> Delivered()
    {
        var kept = new List<SessionEvent>();
        foreach (var batch in _sent)
        {
            kept.RemoveAll(e => e.DueTicks > batch.CutoffTicks && batch.Epoch > EpochOf(e));
            kept.AddRange(batch.Events);
        }

        return kept;

        long EpochOf(SessionEvent e) => _sent.First(b => b.Events.Contains(e)).Epoch;
    }

    [Theory]
    [InlineData(0, 100, 200, 200)] // a plain play: the configured tick and lookahead
    [InlineData(100, 100, 200, 200)] // a short lead keeps the tick and the lookahead (a tick plus the 100 ms margin)
    [InlineData(200, 100, 200, 200)] // a tick every lead less the margin, handing on up to the lead
    [InlineData(500, 400, 500, 500)] // the JS client's default lead: a tick every 400 ms, each push 400 ms of events within the lead
    [InlineData(1000, 500, 600, 1000)] // half-second ticks (the longest), handed on up to the lead, growing to it from the start
    public async Task A_lead_play_hands_events_on_further_ahead_in_fewer_pushes(double leadMs, int tickMs, int firstAheadMs, int fullAheadMs)
    {
        var t0 = Now;
        await StartAsync(speed: 0.5, leadMs); // an event every 200 ms of wall time
        Assert.Equal(TimeSpan.FromMilliseconds(tickMs), _player.Cadence.TickInterval);
        Assert.Equal(Expected(firstAheadMs), Pushed());

        _time.Advance(TimeSpan.FromSeconds(1));
        _player.Advance(Now);
        Assert.Equal(Expected(1000 + fullAheadMs), Pushed());

        static List<long> Expected(int aheadMs) => [.. Enumerable.Range(0, 20).Where(i => i * 200 <= aheadMs).Select(i => (long)i + 1)];
        List<long> Pushed() => [.. _sent.SelectMany(b => b.Events).Where(e => e.DueTicks <= t0.Ticks + TimeSpan.FromSeconds(10).Ticks).Select(e => e.Seq)];
    }

    [Fact]
    public async Task Sessions_started_together_take_their_first_tick_at_spread_points_of_the_period()
    {
        await StartAsync(speed: 0.5, leadMs: 500);
        var firsts = Enumerable.Range(0, 200).Select(_ => _player.Cadence.FirstTick(1_000_000)).Order().ToList();
        Assert.All(firsts, f => Assert.InRange(f, TimeSpan.FromTicks(1), _player.Cadence.TickInterval)); // the first push covers a whole period
        Assert.True(firsts[150] - firsts[50] >= TimeSpan.FromMilliseconds(60), $"spread over the 400 ms period: quartiles {firsts[50]} and {firsts[150]}");
    }

    [Fact]
    public async Task After_the_first_tick_sessions_tick_on_a_shared_grid_a_period_apart()
    {
        // So the runtime's timer queue fires many sessions' ticks at once instead of on nearly every millisecond.
        await StartAsync(speed: 0.5, leadMs: 500);
        var grid = (long)SessionCadence.TickGrid.TotalMilliseconds;
        var period = (long)_player.Cadence.TickInterval.TotalMilliseconds;
        var tick = 1_000_003L + (long)_player.Cadence.FirstTick(1_000_003).TotalMilliseconds;
        for (var i = 0; i < 50; i++)
        {
            var next = tick + (long)_player.Cadence.NextTickIn(tick).TotalMilliseconds;
            Assert.Equal(0, next % grid);
            Assert.Equal(period, next - tick);
            tick = next;
        }
    }

    [Fact]
    public async Task A_tick_that_runs_late_does_not_move_the_ticks_after_it()
    {
        // Sessions held up by the same busy moment tick late together; scheduled a period after that, they stayed together
        // from then on, and their frames went out in bursts. Each keeps to its own point of the period instead.
        await StartAsync(speed: 0.5, leadMs: 500);
        var period = (long)_player.Cadence.TickInterval.TotalMilliseconds;
        var first = 1_000_000L + (long)_player.Cadence.FirstTick(1_000_000).TotalMilliseconds;
        foreach (var late in new long[] { 0, 1, 7, 90, period / 2 - 1 })
        {
            var firedAt = first + (3 * period) + late;
            Assert.Equal(first + (4 * period), firedAt + (long)_player.Cadence.NextTickIn(firedAt).TotalMilliseconds);
        }

        // Later than half a period: the next point after it, never a tick sooner than half a period on.
        var veryLate = first + (3 * period) + (period * 3 / 4);
        Assert.Equal(first + (5 * period), veryLate + (long)_player.Cadence.NextTickIn(veryLate).TotalMilliseconds);
        // A timer that fires a little early does not tick twice.
        var early = first + (3 * period) - 2;
        Assert.Equal(first + (4 * period), early + (long)_player.Cadence.NextTickIn(early).TotalMilliseconds);
    }

    [Fact]
    public async Task A_started_plan_pushes_state_then_events_with_exact_dues_and_ends()
    {
        var t0 = Now;
        await StartAsync(speed: 2);
        Assert.IsType<StateSignal>(_sent[0].Signals[0]);
        for (var i = 0; i < 30; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(50));
            _player.RefreshStatus(Now);
            _player.Advance(Now);
        }

        var events = _sent.SelectMany(b => b.Events).ToList();
        Assert.Equal(20, events.Count);
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), events.Select(e => e.Seq));
        Assert.All(events, e => Assert.InRange(e.DueTicks - (t0.Ticks + (e.Ticks - Base) / 2), -1, 1));
        Assert.Equal(SessionStatus.Ended, _player.Snapshot(Now).Status);
        Assert.Equal(SessionStatus.Ended, _sent.SelectMany(b => b.Signals).OfType<StateSignal>().Last().State.Status);
    }

    [Fact]
    public async Task A_cut_mid_play_loses_nothing_and_repeats_nothing()
    {
        await StartAsync(speed: 1);
        Tick(14);

        var cut = _player.Cut(Now);
        _player.Clock.Reanchor(cut, _player.Clock.PositionAnchor, speed: 3); // a speed change at the cut
        _player.Broadcast(_player.StateAt(cut));
        Tick(20);

        var delivered = Delivered();
        Assert.Equal(Enumerable.Range(0, 20).Select(i => At(i * 0.1)), delivered.Select(e => e.Ticks));
        Assert.Equal(delivered.Select(e => e.DueTicks).Order(), delivered.Select(e => e.DueTicks));
        Assert.True(_player.Clock.Changed); // the cut's re-anchor waits to be saved
    }

    [Fact]
    public async Task A_restored_playing_anchor_resumes_where_the_clock_got_to_and_one_past_the_end_has_ended()
    {
        var plan = await SessionPlan.BuildAsync(new PlanSpec(["a"], At(0), At(2), false, false, null, null, null), _source);
        var anchor = new ClockAnchor(SessionStatus.Playing, (Now - TimeSpan.FromSeconds(1.5)).Ticks, 0, 1);
        Assert.Equal(SessionStatus.Playing, _player.Restore(plan, anchor, Now));
        Assert.Equal(SessionStatus.Buffering, _player.Clock.Status); // held until it resumes
        Assert.Equal(1.5, _player.Clock.PositionAnchor, 6);
        Assert.Equal(new StreamTime(At(1.5)), plan.StreamAt(_player.Clock.PositionAnchor));

        var late = new ClockAnchor(SessionStatus.Playing, (Now - TimeSpan.FromSeconds(10)).Ticks, 0, 1);
        Assert.Equal(SessionStatus.Ended, _player.Restore(plan, late, Now));
        Assert.Equal(2, _player.Clock.PositionAnchor, 9);
    }

    [Fact]
    public async Task A_restored_session_whose_first_read_fails_in_the_cluster_buffers_and_plays_once_reads_work()
    {
        // A session restored while a silo stops: the channel's grain answers "silo unavailable". Before, the exception left
        // the resume half done — the session never played again and every gateway call back found it silent.
        var plan = await SessionPlan.BuildAsync(new PlanSpec(["a"], At(0), At(2), false, false, null, null, null), _source);
        _player.Restore(plan, new ClockAnchor(SessionStatus.Playing, Now.Ticks, 0, 1), Now);
        _source.Fault = new SiloUnavailableException("the channel's silo is stopping");
        await _player.StartRestoredAsync();
        Assert.Equal(SessionStatus.Buffering, _player.Clock.Status);

        _source.Fault = null;
        for (var i = 0; i < 200 && _sent.SelectMany(b => b.Events).Count() < 5; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(50)); // the loader's retry waits on this clock...
            await Task.Delay(10); // ...and continues on the thread pool
            _player.Advance(Now);
        }

        Assert.Equal(SessionStatus.Playing, _player.Clock.Status);
        Assert.Equal([1L, 2, 3, 4, 5], _sent.SelectMany(b => b.Events).Take(5).Select(e => e.Seq));
    }

    [Fact]
    public async Task A_gateway_running_late_holds_the_clock_without_losing_repeating_or_reordering_and_lowers_the_achieved_speed()
    {
        var t0 = Now;
        await StartAsync(speed: 1);
        Tick(10);

        var handedOn = _sent.SelectMany(b => b.Events).ToList();
        _player.Clock.MarkSaved();
        _player.SlowDown(Now, TimeSpan.FromMilliseconds(300)); // its gateway sent 300 ms late
        Assert.Equal(SessionStatus.Playing, _player.Clock.Status);
        Assert.Equal(Now + TimeSpan.FromMilliseconds(300), _player.Clock.WallAnchor);
        Assert.False(_player.Clock.Changed, "a hold is not saved on its own (a storage write per hold per session under load)");
        Assert.True(_player.Snapshot(Now).AchievedSpeed < 1, $"achieved {_player.Snapshot(Now).AchievedSpeed}");
        Assert.Contains(_sent[^1].Signals, s => s is StateSignal); // told at once (then at most once a second)

        for (var i = 0; i < 40; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(50));
            _player.RefreshStatus(Now);
            _player.Advance(Now);
        }

        var events = _sent.SelectMany(b => b.Events).ToList();
        Assert.Equal(Enumerable.Range(0, 20).Select(i => At(i * 0.1)), events.Select(e => e.Ticks));
        Assert.Equal(events.Select(e => e.DueTicks).Order(), events.Select(e => e.DueTicks));
        // What was handed on keeps its due; everything after comes 300 ms later than the warp from the play's anchor.
        Assert.All(events.Skip(handedOn.Count), e => Assert.Equal(t0.Ticks + (e.Ticks - Base) + 300 * TimeSpan.TicksPerMillisecond, e.DueTicks));

        Tick(120);

        Assert.Equal(SessionStatus.Ended, _player.Snapshot(Now).Status);
    }

    [Fact]
    public async Task A_hold_early_in_a_play_reports_the_speed_achieved_by_its_end_and_a_pause_voids_what_is_left_of_it()
    {
        await StartAsync(speed: 2);
        Tick(2);

        // 2,000 plays started at once: a gateway a second late 100 ms into the play. From the first sample (50 ms) to the
        // hold's end the clock will have stood still 1 s of 1.05 s (it once read −38×: the whole hold counted at once).
        _player.SlowDown(Now, TimeSpan.FromSeconds(1));
        Assert.Equal(2 * (1 - (1 / 1.05)), _player.Snapshot(Now).AchievedSpeed, 6);
        var told = _sent[^1].Signals.OfType<StateSignal>().Single().State;
        Assert.Equal(_player.Snapshot(Now).AchievedSpeed, told.AchievedSpeed);

        // Half-way through the hold it still says so, then it climbs back once the hold is over.
        _time.Advance(TimeSpan.FromMilliseconds(500));
        _player.Advance(Now);
        Assert.Equal(2 * (1 - (1 / 1.05)), _player.Snapshot(Now).AchievedSpeed, 6);
        Tick(20);

        Assert.Equal(2 * (1 - (1 / 1.55)), _player.Snapshot(Now).AchievedSpeed, 6);

        // A hold cut short by a pause counts only up to the pause's cut.
        _player.SlowDown(Now, TimeSpan.FromSeconds(1));
        _player.Pause(Now);
        _player.Resume(Now);
        _player.Advance(Now);
        Assert.InRange(_player.Snapshot(Now).AchievedSpeed, 2 * (1 - (1 / 1.55)) - 0.01, 2.0);
    }

    [Fact]
    public async Task After_a_hold_the_participants_are_told_as_the_achieved_speed_climbs_back_to_the_speed()
    {
        await StartAsync(speed: 0.25); // the 2-s window lasts 8 s
        Tick(2);

        _player.SlowDown(Now, TimeSpan.FromMilliseconds(300));
        var heldAt = _sent.Count;
        Tick(140);

        // The hold's own state said 0.25 × (1 − 0.3 / 0.35); then the achieved speed climbs as the hold leaves the meter's
        // five seconds, told at most once a second, the last time at the speed itself.
        var told = _sent.Skip(heldAt).SelectMany(b => b.Signals).OfType<StateSignal>().Select(s => s.State).ToList();
        Assert.InRange(told.Count, 2, 6);
        Assert.All(told, s => Assert.Equal(SessionStatus.Playing, s.Status));
        Assert.Equal(0.25, told[^1].AchievedSpeed);
        Assert.Equal(told.Select(s => s.AchievedSpeed).Order(), told.Select(s => s.AchievedSpeed));

        Tick(19); // to 50 ms before the window's end comes within the 200-ms lookahead (its ended state is not a speed report)

        Assert.Equal(told.Count, _sent.Skip(heldAt).SelectMany(b => b.Signals).OfType<StateSignal>().Count()); // back at speed: no more
    }

    [Fact]
    public async Task A_joiner_gets_the_last_value_per_channel_then_what_was_handed_on_for_later()
    {
        await StartAsync(speed: 1);
        _time.Advance(TimeSpan.FromMilliseconds(520));
        _player.Advance(Now);
        var batch = await _player.CatchUpAsync("late", [], lastSeq: null);
        Assert.Equal("late", batch.Target);
        var snapshot = batch.Events[0];
        Assert.True(snapshot.Snapshot);
        Assert.Equal(At(0.5), snapshot.Ticks);
        Assert.All(batch.Events.Skip(1), e => Assert.True(e.DueTicks > Now.Ticks));
    }
}
