using System.Collections.Immutable;
using Tivo.GrainInterfaces;
using Tivo.Tests.Infrastructure;
using Xunit;
using static Tivo.Tests.Grains.GrainTestData;

namespace Tivo.Tests.Grains;

/// <summary>
/// The dilated clock on a fake clock: every due time is asserted to the tick (100 ns) against the
/// warp written out by hand, through plays, pacing modes, controls and loops.
/// </summary>
public sealed class PlaybackGrainTests(PlaybackClusterFixture fixture) : IClassFixture<PlaybackClusterFixture>
{
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(10);
    private const long Lead = 20 * TimeSpan.TicksPerMillisecond; // PlaybackOptions.ControlLeadTime default

    private long Now => fixture.Time.GetUtcNow().UtcTicks;

    [Theory]
    [InlineData(0.5)]
    [InlineData(1.0)]
    [InlineData(60.0)]
    public async Task Speed_gives_every_event_its_exact_due_time_in_order(double speed)
    {
        var (session, observer) = await NewSessionAsync();
        var t0 = Now + Lead; // a play starts the control lead after it is accepted
        var result = await session.Play(Request(["steady"], Base, At(6), speed));
        Assert.True(result.Ok, result.ErrorMessage);
        Assert.Equal(SessionStatus.Playing, result.State!.Status);

        await RunForAsync(session, observer, TimeSpan.FromSeconds(6 / speed + 0.3));

        var events = observer.Events;
        Assert.Equal(Steady, events.Select(e => e.Ticks));
        foreach (var e in events)
        {
            AssertDue(t0, (e.Ticks - Base) / speed, e.DueTicks);
        }

        Assert.Equal(Enumerable.Range(1, 60).Select(i => (long)i), events.Select(e => e.Seq));
        Assert.All(events, e => Assert.Equal("steady", e.Channel));
        Assert.Contains("\"nested\":{\"label\":\"é✓\"}", events[0].Data, StringComparison.Ordinal);
        var ended = observer.Signals<StateSignal>().Last();
        Assert.Equal(SessionStatus.Ended, ended.State.Status);
        AssertDue(t0, 6 * TimeSpan.TicksPerSecond / speed, ended.ReleaseTicks);
        Assert.Equal(SessionStatus.Ended, (await session.GetState()).Status);
    }

    [Fact]
    public async Task A_day_fitted_into_a_minute_keeps_exact_proportions()
    {
        var (session, observer) = await NewSessionAsync();
        var t0 = Now + Lead; // a play starts the control lead after it is accepted
        var result = await session.Play(Request(["day"], Base, At(86400), 1, duration: 60));
        Assert.True(result.Ok, result.ErrorMessage);

        await RunForAsync(session, observer, TimeSpan.FromSeconds(60.3), step: TimeSpan.FromMilliseconds(50));

        var events = observer.Events;
        Assert.Equal(Day, events.Select(e => e.Ticks));
        foreach (var e in events)
        {
            AssertDue(t0, (e.Ticks - Base) * 60.0 / 86400, e.DueTicks);
        }
    }

    [Fact]
    public async Task Rate_stretches_bursts_and_shrinks_quiet_stretches()
    {
        var (session, observer) = await NewSessionAsync();
        var t0 = Now + Lead; // a play starts the control lead after it is accepted
        var result = await session.Play(Request(["bursty"], Base, At(104), 1, rate: 2));
        Assert.True(result.Ok, result.ErrorMessage);

        await RunForAsync(session, observer, TimeSpan.FromSeconds(9.2));

        // Second lengths at 2 events/s: 10 events → 5 s; empty → 0.05/2 = 0.025 s; 2 events → 1 s; 1 event → 0.5 s.
        static double Position(double s) => s switch
        {
            < 1 => s * 5,
            < 2 => 5 + (s - 1) * 0.025,
            < 3 => 5.025 + (s - 2) * 1,
            < 103 => 6.025 + (s - 3) * 0.025,
            _ => 8.525 + (s - 103) * 0.5,
        };

        var events = observer.Events;
        Assert.Equal(Bursty, events.Select(e => e.Ticks));
        foreach (var e in events)
        {
            AssertDue(t0, Position((e.Ticks - Base) / (double)TimeSpan.TicksPerSecond) * TimeSpan.TicksPerSecond, e.DueTicks);
        }

        // The burst's ten events span 0.81 s of stream time and now 4.05 s of wall time: 2 per second, not 10.
        Assert.Equal(0.81 * 5, (events[9].DueTicks - events[0].DueTicks) / (double)TimeSpan.TicksPerSecond, 6);
        var ended = observer.Signals<StateSignal>().Last();
        AssertDue(t0, 9.025 * TimeSpan.TicksPerSecond, ended.ReleaseTicks);
    }

    [Fact]
    public async Task MaxGap_caps_idle_gaps_and_leaves_the_rest_at_speed()
    {
        var (session, observer) = await NewSessionAsync();
        var t0 = Now + Lead; // a play starts the control lead after it is accepted
        var result = await session.Play(Request(["bursty"], Base, At(104), 2, maxGap: 2));
        Assert.True(result.Ok, result.ErrorMessage);

        await RunForAsync(session, observer, TimeSpan.FromSeconds(3.3));

        // Empty run of 1 s (second 1) stays; the 100 s run (seconds 3..102) plays as 2 s; speed 2 halves all.
        static double Position(double s) => s < 3 ? s : s < 103 ? 3 + (s - 3) * 0.02 : 5 + (s - 103);
        var events = observer.Events;
        Assert.Equal(Bursty, events.Select(e => e.Ticks));
        foreach (var e in events)
        {
            AssertDue(t0, Position((e.Ticks - Base) / (double)TimeSpan.TicksPerSecond) * TimeSpan.TicksPerSecond / 2, e.DueTicks);
        }
    }

    [Fact]
    public async Task Pause_and_resume_reanchor_without_loss_or_duplicates()
    {
        var (session, observer) = await NewSessionAsync();
        var t0 = Now + Lead; // a play starts the control lead after it is accepted
        Assert.True((await session.Play(Request(["steady"], Base, At(6), 1))).Ok);
        await RunForAsync(session, observer, TimeSpan.FromSeconds(1));

        var pausedAt = Now;
        var paused = await session.Pause();
        Assert.True(paused.Ok, paused.ErrorMessage);
        var cut = pausedAt + Lead;
        Assert.Equal(SessionStatus.Paused, paused.State!.Status);
        Assert.Equal(Base + (cut - t0), paused.State.PlayheadTicks);

        await RunForAsync(session, observer, TimeSpan.FromSeconds(3));
        var deliveredWhilePaused = observer.Events.Count;
        Assert.All(observer.Events, e => Assert.True(e.DueTicks <= cut));

        var resumedAt = Now;
        var resumed = await session.Resume();
        Assert.True(resumed.Ok, resumed.ErrorMessage);
        Assert.Equal(SessionStatus.Playing, resumed.State!.Status);
        await RunForAsync(session, observer, TimeSpan.FromSeconds(5.2));

        var events = observer.Events;
        Assert.Equal(Steady, events.Select(e => e.Ticks)); // every event once, in order
        Assert.True(events.Select(e => e.Seq).Zip(events.Skip(1).Select(e => e.Seq)).All(p => p.First < p.Second));
        var pauseOffset = cut - t0;
        foreach (var e in events)
        {
            var offset = e.Ticks - Base;
            if (offset <= pauseOffset)
            {
                AssertDue(t0, offset, e.DueTicks);
            }
            else
            {
                AssertDue(resumedAt, offset - pauseOffset, e.DueTicks);
            }
        }

        Assert.Equal(Steady.Count(t => t - Base <= pauseOffset), deliveredWhilePaused);
    }

    [Fact]
    public async Task Seek_while_playing_continues_from_the_new_position()
    {
        var (session, observer) = await NewSessionAsync();
        var t0 = Now + Lead; // a play starts the control lead after it is accepted
        Assert.True((await session.Play(Request(["steady"], Base, At(6), 1))).Ok);
        await RunForAsync(session, observer, TimeSpan.FromSeconds(1));

        var seekAt = Now;
        var sought = await session.Seek(At(4));
        Assert.True(sought.Ok, sought.ErrorMessage);
        Assert.Equal(At(4), sought.State!.PlayheadTicks);
        var cut = seekAt + Lead;
        await RunForAsync(session, observer, TimeSpan.FromSeconds(2.2));

        var events = observer.Events.Where(e => !e.Snapshot).ToList();
        var expected = Steady.Where(t => t - Base <= cut - t0).Concat(Steady.Where(t => t >= At(4))).ToArray();
        Assert.Equal(expected, events.Select(e => e.Ticks));

        // State-correct seek: the last value before the target comes first, as a snapshot released at the cut.
        var snapshot = Assert.Single(observer.Events, e => e.Snapshot);
        Assert.Equal(Steady.Last(t => t < At(4)), snapshot.Ticks);
        Assert.Equal(cut, snapshot.DueTicks);
        foreach (var e in events)
        {
            if (e.Ticks >= At(4))
            {
                AssertDue(cut, e.Ticks - At(4), e.DueTicks);
            }
            else
            {
                AssertDue(t0, e.Ticks - Base, e.DueTicks);
            }
        }
    }

    [Fact]
    public async Task Seek_while_paused_moves_the_playhead_and_stays_paused()
    {
        var (session, observer) = await NewSessionAsync();
        Assert.True((await session.Play(Request(["steady"], Base, At(6), 1))).Ok);
        await RunForAsync(session, observer, TimeSpan.FromSeconds(0.5));
        Assert.True((await session.Pause()).Ok);
        var sought = await session.Seek(At(5));
        Assert.Equal(SessionStatus.Paused, sought.State!.Status);
        Assert.Equal(At(5), sought.State.PlayheadTicks);
        await RunForAsync(session, observer, TimeSpan.FromSeconds(1));
        Assert.All(observer.Events.Where(e => !e.Snapshot), e => Assert.True(e.Ticks < At(1)));
        Assert.Equal(Steady.Last(t => t < At(5)), Assert.Single(observer.Events, e => e.Snapshot).Ticks);

        var resumedAt = Now;
        Assert.True((await session.Resume()).Ok);
        await RunForAsync(session, observer, TimeSpan.FromSeconds(1.2));
        var after = observer.Events.Where(e => e.Ticks >= At(5)).ToList();
        Assert.Equal(Steady.Where(t => t >= At(5)), after.Select(e => e.Ticks));
        Assert.All(after, e => AssertDue(resumedAt, (e.Ticks - At(5)), e.DueTicks));
    }

    [Fact]
    public async Task Speed_change_reanchors_at_the_cut()
    {
        var (session, observer) = await NewSessionAsync();
        var t0 = Now + Lead; // a play starts the control lead after it is accepted
        Assert.True((await session.Play(Request(["steady"], Base, At(6), 1))).Ok);
        await RunForAsync(session, observer, TimeSpan.FromSeconds(1));

        var changedAt = Now;
        var changed = await session.SetSpeed(4);
        Assert.True(changed.Ok, changed.ErrorMessage);
        Assert.Equal(4, changed.State!.Speed);
        var cut = changedAt + Lead;
        var cutOffset = cut - t0;
        await RunForAsync(session, observer, TimeSpan.FromSeconds(1.5));

        var events = observer.Events;
        Assert.Equal(Steady, events.Select(e => e.Ticks));
        foreach (var e in events)
        {
            var offset = e.Ticks - Base;
            if (offset <= cutOffset)
            {
                AssertDue(t0, offset, e.DueTicks);
            }
            else
            {
                AssertDue(cut, (offset - cutOffset) / 4.0, e.DueTicks);
            }
        }
    }

    [Fact]
    public async Task Loop_plays_three_passes_with_no_gap_and_no_duplicate()
    {
        var (session, observer) = await NewSessionAsync();
        var t0 = Now + Lead; // a play starts the control lead after it is accepted
        var window = Steady.Where(t => t < At(2)).ToArray();
        Assert.True((await session.Play(Request(["steady"], Base, At(2), 1, loop: true))).Ok);
        await RunForAsync(session, observer, TimeSpan.FromSeconds(5.99));
        Assert.True((await session.Stop()).Ok);

        var delivered = observer.Delivered.Where(d => d.Event is not null || d.Signal is LoopSignal).ToList();
        var expected = new List<string>();
        for (var pass = 0; pass < 3; pass++)
        {
            if (pass > 0)
            {
                expected.Add($"loop {pass}");
            }

            expected.AddRange(window.Select(t => $"event {t}"));
        }

        Assert.Equal(expected, delivered.Select(d => d.Event is { } e ? $"event {e.Ticks}" : $"loop {((LoopSignal)d.Signal!).Iteration}"));
        var events = observer.Events;
        for (var i = 0; i < events.Count; i++)
        {
            var pass = i / window.Length;
            AssertDue(t0, pass * 2 * TimeSpan.TicksPerSecond + (events[i].Ticks - Base), events[i].DueTicks);
        }

        var loops = observer.Signals<LoopSignal>();
        AssertDue(t0, 2 * TimeSpan.TicksPerSecond, loops[0].ReleaseTicks);
        AssertDue(t0, 4 * TimeSpan.TicksPerSecond, loops[1].ReleaseTicks);
        Assert.Equal(events.Count, events.Select(e => e.Seq).Distinct().Count());
    }

    [Fact]
    public async Task Channels_on_one_clock_are_merged_in_time_order()
    {
        var (session, observer) = await NewSessionAsync();
        var t0 = Now + Lead; // a play starts the control lead after it is accepted
        Assert.True((await session.Play(Request(["steady", "other"], Base, At(3), 1))).Ok);
        await RunForAsync(session, observer, TimeSpan.FromSeconds(3.2));

        var expected = Steady.Where(t => t < At(3)).Select(t => (t, "steady"))
            .Concat(Other.Where(t => t < At(3)).Select(t => (t, "other")))
            .OrderBy(p => p.t).ThenBy(p => p.Item2 == "steady" ? 0 : 1).ToList();
        var events = observer.Events;
        Assert.Equal(expected, events.Select(e => (e.Ticks, e.Channel)));
        Assert.All(events, e => AssertDue(t0, (e.Ticks - Base), e.DueTicks));
    }

    [Fact]
    public async Task Sessions_playing_one_window_share_one_store_query_per_chunk()
    {
        const int sessions = 5;
        var pairs = new List<(IPlaybackGrain Session, RecordingObserver Observer)>();
        for (var i = 0; i < sessions; i++)
        {
            pairs.Add(await NewSessionAsync());
        }

        var channel = fixture.Cluster.Client.GetGrain<IChannelGrain>("shared");
        var before = await channel.GetCacheStats();
        fixture.Store.HoldReads();
        var plays = pairs.Select(p => p.Session.Play(Request(["shared"], Base, At(6), 1))).ToList();
        try
        {
            // All five ask for the first chunk while the one store read is held.
            await Eventually.WaitAsync(async () =>
            {
                var stats = await channel.GetCacheStats();
                return stats.Misses + stats.SharedWaits - before.Misses - before.SharedWaits >= sessions;
            }, "five sessions waiting on the first chunk");
        }
        finally
        {
            fixture.Store.ReleaseReads();
        }

        foreach (var result in await Task.WhenAll(plays))
        {
            Assert.True(result.Ok, result.ErrorMessage);
        }

        var t0 = Now;
        foreach (var (session, observer) in pairs)
        {
            await RunForAsync(session, observer, TimeSpan.Zero);
        }

        for (var elapsed = TimeSpan.Zero; elapsed < TimeSpan.FromSeconds(6.3); elapsed += Step)
        {
            foreach (var (session, _) in pairs)
            {
                await WaitForBufferAsync(session, Step);
            }

            fixture.Time.Advance(Step);
            foreach (var (session, observer) in pairs)
            {
                await CatchUpAsync(session, observer);
            }
        }

        foreach (var (_, observer) in pairs)
        {
            Assert.Equal(Shared, observer.Events.Select(e => e.Ticks));
        }

        // Every one-second chunk of the window was covered by exactly one store read, whatever the batching.
        var reads = fixture.Store.Ranges.Where(r => r.Channel == "shared").ToList();
        Assert.NotEmpty(reads);
        for (var second = 0; second < 6; second++)
        {
            var chunkStart = At(second);
            Assert.Equal(1, reads.Count(r => r.From <= chunkStart && chunkStart < r.To));
        }

        Assert.True(t0 > 0);
    }

    [Fact]
    public async Task A_session_outlives_its_last_participant_by_the_grace_period_then_is_released()
    {
        var (session, _) = await NewSessionAsync();
        Assert.True((await session.Play(Request(["steady"], Base, At(2), 1, loop: true))).Ok);
        await session.Leave("p1");

        await AdvanceAsync(session, TimeSpan.FromSeconds(20));
        var during = await session.GetState();
        Assert.Equal(SessionStatus.Playing, during.Status); // still there for a viewer who reconnects
        Assert.True(during.Iteration >= 9);

        await AdvanceAsync(session, TimeSpan.FromSeconds(11)); // past the 30 s grace period
        await Eventually.WaitAsync(async () => (await session.GetState()).Status == SessionStatus.Idle, "the abandoned session to be released");
    }

    [Fact]
    public async Task A_reanchor_made_by_the_timer_is_saved_and_a_restored_session_resumes_from_it()
    {
        // Live at 10× from 5 s ago: the session reaches the present and follows it at 1× — a re-anchor made by the
        // timer, not by a control. Before, only controls saved: restored after that, the session extrapolated its
        // play's anchor at 10× and ran minutes ahead of live.
        var (session, _) = await NewSessionAsync();
        var start = Now - 5 * TimeSpan.TicksPerSecond;
        Assert.True((await session.Play(new PlayRequest(["steady"], start, null, 10, false, null, null, null))).Ok);
        for (var i = 0; i < 12 && (await session.GetState()).Speed != 1; i++)
        {
            fixture.Time.Advance(TimeSpan.FromMilliseconds(100));
        }

        Assert.Equal(1, (await session.GetState()).Speed);
        fixture.Time.Advance(TimeSpan.FromMilliseconds(200)); // the next tick saves (it comes within one and a half periods of 100 ms)
        await session.GetState();

        await session.AsReference<Orleans.Core.Internal.IGrainManagementExtension>().DeactivateOnIdle();
        var management = fixture.Cluster.Client.GetGrain<IManagementGrain>(0);
        await Eventually.WaitAsync(async () => await management.GetActivationAddress(session) is null, "the session to be deactivated");
        fixture.Time.Advance(TimeSpan.FromSeconds(10));

        var restored = await session.GetState();
        Assert.Equal(1, restored.Speed);
        Assert.InRange(restored.PlayheadTicks!.Value, Now - TimeSpan.TicksPerSecond, Now);
    }

    [Fact]
    public async Task Controls_before_play_are_refused_with_a_reason()
    {
        var (session, _) = await NewSessionAsync();
        foreach (var result in new[] { await session.Pause(), await session.Resume(), await session.Seek(Base), await session.SetSpeed(2), await session.Stop() })
        {
            Assert.False(result.Ok);
            Assert.Equal(ErrorCodes.BadRequest, result.ErrorCode);
            Assert.Contains("send play", result.ErrorMessage, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Bad_play_requests_are_refused_and_leave_the_session_as_it_was()
    {
        var (session, _) = await NewSessionAsync();
        var unknown = await session.Play(Request(["nope"], Base, At(1), 1));
        Assert.Equal(ErrorCodes.UnknownChannel, unknown.ErrorCode);
        Assert.Contains("steady", unknown.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(ErrorCodes.BadRequest, (await session.Play(Request(["steady"], At(2), At(1), 1))).ErrorCode);
        Assert.Equal(ErrorCodes.BadRequest, (await session.Play(Request(["steady"], Base, At(1), 0))).ErrorCode);
        Assert.Equal(ErrorCodes.BadRequest, (await session.Play(Request(["steady"], Base, At(1), double.NaN))).ErrorCode);
        Assert.Equal(ErrorCodes.BadRequest, (await session.Play(Request(["steady"], Base, At(1), 1e12))).ErrorCode);
        Assert.Equal(ErrorCodes.BadRequest, (await session.Play(Request([], Base, At(1), 1))).ErrorCode);
        Assert.Equal(SessionStatus.Idle, (await session.GetState()).Status);
    }

    private static PlayRequest Request(ImmutableArray<string> channels, long start, long end, double speed,
        bool loop = false, double? duration = null, double? rate = null, double? maxGap = null) =>
        new(channels, start, end, speed, loop, duration, rate, maxGap);

    /// <summary>Due times must match the warp to the tick (100 ns); the base stays integral so no precision is lost.</summary>
    private static void AssertDue(long baseTicks, double offsetTicks, long actualTicks)
    {
        var error = actualTicks - baseTicks - offsetTicks;
        Assert.True(Math.Abs(error) <= 1.0,
            $"due {new DateTime(actualTicks, DateTimeKind.Utc):O} differs from the warp by {error / 10.0:F1} µs");
    }

    [Fact]
    public async Task The_replay_log_is_bounded_in_bytes_and_a_resume_past_it_is_told_what_was_lost()
    {
        var (session, observer) = await NewSessionAsync();
        Assert.True((await session.Play(Request(["steady"], Base, At(6), 60))).Ok);
        await RunForAsync(session, observer, TimeSpan.FromSeconds(0.5));
        Assert.Equal(60, observer.Events.Count);

        // A participant resuming after seq 0 gets what the log still holds: the newest events, within the byte bound.
        var late = new RecordingObserver();
        _observers.Add(late);
        await session.Join("p2", fixture.Cluster.Client.CreateObjectReference<IPlaybackObserver>(late), new JoinRequest([], LastSeq: 0));
        await Eventually.WaitAsync(() => late.Received.Any(b => b.Events.Length > 0), "the replayed events");
        var replayed = late.Received.SelectMany(b => b.Events).ToList();
        var bytes = replayed.Sum(e => 96 + 2L * e.Data.Length);
        Assert.InRange(bytes, PlaybackClusterFixture.ReplayBytes * 3 / 4 - 200, PlaybackClusterFixture.ReplayBytes);
        Assert.Equal(Enumerable.Range(61 - replayed.Count, replayed.Count).Select(i => (long)i), replayed.Select(e => e.Seq));
        // A dedicated gap naming the seqs skipped, not an error (before: a bad_request error).
        var gap = Assert.IsType<GapSignal>(Assert.Single(late.Received.SelectMany(b => b.Signals), s => s is GapSignal or ErrorSignal));
        Assert.Equal((1L, 60L - replayed.Count), (gap.FromSeq, gap.ToSeq));
        Assert.Contains($"up to seq {60 - replayed.Count} are no longer held", gap.Message, StringComparison.Ordinal);
        Assert.True((gap.ReleaseTicks, gap.Order).CompareTo((replayed[0].DueTicks, replayed[0].Order)) < 0, "the gap goes before the first event held");
    }

    private async Task<(IPlaybackGrain Session, RecordingObserver Observer)> NewSessionAsync()
    {
        var observer = new RecordingObserver();
        _observers.Add(observer); // CreateObjectReference holds only a weak reference
        var reference = fixture.Cluster.Client.CreateObjectReference<IPlaybackObserver>(observer);
        var session = fixture.Cluster.Client.GetGrain<IPlaybackGrain>("test-" + Guid.NewGuid().ToString("n"));
        await session.Join("p1", reference, new JoinRequest([]));
        return (session, observer);
    }

    private readonly List<RecordingObserver> _observers = [];

    /// <summary>Advances the fake clock without a participant to wait for.</summary>
    private async Task AdvanceAsync(IPlaybackGrain session, TimeSpan span)
    {
        for (var elapsed = TimeSpan.Zero; elapsed < span; elapsed += TimeSpan.FromMilliseconds(100))
        {
            await WaitForBufferAsync(session, TimeSpan.FromMilliseconds(100));
            fixture.Time.Advance(TimeSpan.FromMilliseconds(100));
            await session.GetState();
        }
    }

    /// <summary>Waits (in real time) until the observer holds every push the session made so far, then
    /// delivers what is due: pushes are one-way, and the test clock must not outrun them.</summary>
    private async Task CatchUpAsync(IPlaybackGrain session, RecordingObserver observer)
    {
        var state = await session.GetState();
        await Eventually.WaitAsync(() => observer.MaxOrder >= state.LastOrder, "the observer to receive the session's pushes");
        observer.Deliver(Now);
    }

    /// <summary>The store runs on real time while the test clock jumps: before each jump, wait until the
    /// session has loaded past it, so a test never makes the session buffer (which would shift dues).</summary>
    private static Task WaitForBufferAsync(IPlaybackGrain session, TimeSpan step) =>
        Eventually.WaitAsync(async () =>
        {
            var state = await session.GetState();
            return state.Status != SessionStatus.Playing || state.BufferAheadSeconds is null || state.BufferAheadSeconds >= step.TotalSeconds + 0.2;
        }, "the session to load ahead of the clock");

    /// <summary>Advances the fake clock in small steps; after each, a call to the session acts as a
    /// barrier (the grain is not reentrant, so the tick has run) and the observer delivers what is due.</summary>
    private async Task RunForAsync(IPlaybackGrain session, RecordingObserver observer, TimeSpan span, TimeSpan? step = null)
    {
        var s = step ?? Step;
        await CatchUpAsync(session, observer);
        for (var elapsed = TimeSpan.Zero; elapsed < span; elapsed += s)
        {
            await WaitForBufferAsync(session, s);
            fixture.Time.Advance(s);
            await CatchUpAsync(session, observer);
        }
    }
}
