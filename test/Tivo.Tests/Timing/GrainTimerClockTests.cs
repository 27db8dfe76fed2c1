using System.Collections.Concurrent;
using System.Diagnostics;
using Tivo.Grains.Timing;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Timing;

/// <summary>The grain timers' queue: timers fire once per setting (or per period), not before their due, and stop when
/// changed or disposed. "Not before" allows the step of the queue's clock (<see cref="Environment.TickCount64"/>, a few
/// milliseconds on Linux), as the runtime's timers do; the other timings are bounds a loaded machine keeps (within
/// seconds), not measurements.</summary>
public sealed class GrainTimerClockTests : IDisposable
{
    /// <summary>The most a timer may fire early by a fine clock: a step of <see cref="Environment.TickCount64"/>, and a little.</summary>
    private const double ClockStep = 5;

    private readonly GrainTimerClock _clock = new();

    public void Dispose() => _clock.Dispose();

    [Fact]
    public async Task A_timer_fires_once_after_its_due_time_and_never_before()
    {
        var fired = new ConcurrentQueue<long>();
        var started = Stopwatch.GetTimestamp();
        using var timer = _clock.CreateTimer(_ => fired.Enqueue(Stopwatch.GetTimestamp()), null, TimeSpan.FromMilliseconds(50), Timeout.InfiniteTimeSpan);

        await Eventually.WaitAsync(() => !fired.IsEmpty, "the timer fired");
        await Task.Delay(200);
        Assert.Single(fired);
        var after = Stopwatch.GetElapsedTime(started, fired.Single()).TotalMilliseconds;
        Assert.True(after >= 50 - ClockStep, $"fired {after:F1} ms after it was set for 50 ms");
        Assert.Equal(0, _clock.Count);
    }

    [Fact]
    public async Task A_periodic_timer_fires_every_period_until_disposed()
    {
        var fired = 0;
        var timer = _clock.CreateTimer(_ => Interlocked.Increment(ref fired), null, TimeSpan.Zero, TimeSpan.FromMilliseconds(20));
        await Eventually.WaitAsync(() => Volatile.Read(ref fired) >= 5, "five firings");
        await timer.DisposeAsync();
        await Task.Delay(50); // a firing already taken off the queue may still run
        var stopped = Volatile.Read(ref fired);
        await Task.Delay(200);
        Assert.Equal(stopped, Volatile.Read(ref fired));
        Assert.False(timer.Change(TimeSpan.Zero, Timeout.InfiniteTimeSpan), "a disposed timer is not set again");
    }

    [Fact]
    public async Task A_period_of_zero_fires_once_as_the_systems_timers_do()
    {
        var fired = 0;
        var system = 0;
        using var timer = _clock.CreateTimer(_ => Interlocked.Increment(ref fired), null, TimeSpan.FromMilliseconds(10), TimeSpan.Zero);
        using var reference = TimeProvider.System.CreateTimer(_ => Interlocked.Increment(ref system), null, TimeSpan.FromMilliseconds(10), TimeSpan.Zero);
        await Eventually.WaitAsync(() => Volatile.Read(ref fired) >= 1 && Volatile.Read(ref system) >= 1, "both timers fired");
        await Task.Delay(200);
        Assert.Equal(1, Volatile.Read(ref system));
        Assert.Equal(1, Volatile.Read(ref fired));
        Assert.Equal(0, _clock.Count);
    }

    [Fact]
    public async Task Changing_a_timer_replaces_its_due_time_earlier_or_later_and_infinite_stops_it()
    {
        var fired = new ConcurrentQueue<string>();
        using var later = _clock.CreateTimer(s => fired.Enqueue((string)s!), "later", TimeSpan.FromMilliseconds(30), Timeout.InfiniteTimeSpan);
        using var earlier = _clock.CreateTimer(s => fired.Enqueue((string)s!), "earlier", TimeSpan.FromHours(1), Timeout.InfiniteTimeSpan);
        using var stopped = _clock.CreateTimer(s => fired.Enqueue((string)s!), "stopped", TimeSpan.FromMilliseconds(30), Timeout.InfiniteTimeSpan);

        Assert.True(later.Change(TimeSpan.FromMilliseconds(300), Timeout.InfiniteTimeSpan));
        Assert.True(earlier.Change(TimeSpan.FromMilliseconds(10), Timeout.InfiniteTimeSpan)); // wakes the queue's thread
        Assert.True(stopped.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan));

        await Eventually.WaitAsync(() => fired.Count >= 2, "both set timers fired");
        await Task.Delay(100);
        Assert.Equal(["earlier", "later"], fired.ToArray());
    }

    [Fact]
    public async Task A_thousand_timers_with_their_own_dues_each_fire_once_none_early()
    {
        var random = new Random(12);
        var dues = Enumerable.Range(0, 1000).Select(_ => random.Next(0, 300)).ToArray();
        var early = new ConcurrentQueue<string>();
        var fired = new int[dues.Length];
        var started = Stopwatch.GetTimestamp();
        var timers = dues.Select((due, i) => _clock.CreateTimer(_ =>
        {
            var after = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (after < due - ClockStep)
            {
                early.Enqueue($"timer {i} due at {due} ms fired at {after:F1} ms");
            }

            Interlocked.Increment(ref fired[i]);
        }, null, TimeSpan.FromMilliseconds(due), Timeout.InfiniteTimeSpan)).ToList();

        await Eventually.WaitAsync(() => fired.All(n => n > 0), "every timer fired");
        await Task.Delay(100);
        Assert.Empty(early);
        Assert.All(fired, n => Assert.Equal(1, n));
        timers.ForEach(t => t.Dispose());
    }

    [Fact]
    public async Task A_callback_runs_in_the_execution_context_of_the_timers_creation_unless_its_flow_was_suppressed()
    {
        var local = new AsyncLocal<string>();
        var seen = new ConcurrentDictionary<string, string?>();
        local.Value = "flowed";
        using var flowing = _clock.CreateTimer(_ => seen["flowing"] = local.Value, null, TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        ITimer suppressed;
        using (ExecutionContext.SuppressFlow())
        {
            suppressed = _clock.CreateTimer(_ => seen["suppressed"] = local.Value, null, TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        }

        await Eventually.WaitAsync(() => seen.Count == 2, "both fired");
        Assert.Equal("flowed", seen["flowing"]);
        Assert.Null(seen["suppressed"]);
        suppressed.Dispose();
    }

    [Fact]
    public async Task A_timer_set_again_and_again_far_ahead_does_not_grow_the_queue_and_still_fires_at_its_last_setting()
    {
        var fired = 0;
        using var timer = _clock.CreateTimer(_ => Interlocked.Increment(ref fired), null, TimeSpan.FromHours(1), Timeout.InfiniteTimeSpan);
        for (var i = 0; i < 10_000; i++)
        {
            timer.Change(TimeSpan.FromHours(1) + TimeSpan.FromMilliseconds(i), Timeout.InfiniteTimeSpan);
        }

        Assert.Equal(1, _clock.Count);
        Assert.True(_clock.Entries <= 1024 + 3, $"{_clock.Entries} entries queued for one timer");
        timer.Change(TimeSpan.FromMilliseconds(10), Timeout.InfiniteTimeSpan);
        await Eventually.WaitAsync(() => Volatile.Read(ref fired) == 1, "the timer fired at its last setting");
        await Task.Delay(100);
        Assert.Equal(1, Volatile.Read(ref fired));
        Assert.Equal(0, _clock.Count);
    }

    [Fact]
    public void Due_times_and_periods_out_of_the_runtimes_range_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _clock.CreateTimer(_ => { }, null, TimeSpan.FromMilliseconds(-2), Timeout.InfiniteTimeSpan));
        Assert.Throws<ArgumentOutOfRangeException>(() => _clock.CreateTimer(_ => { }, null, TimeSpan.Zero, TimeSpan.FromDays(60)));
        Assert.Equal(0, _clock.Count);
    }
}
