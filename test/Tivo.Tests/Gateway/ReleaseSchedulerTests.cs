using Microsoft.Extensions.Time.Testing;
using Tivo.Gateway.Connections;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>The gateway's one release timer: every connection is woken at its time, not before, and once.</summary>
public sealed class ReleaseSchedulerTests
{
    private sealed class Waiter : IReleaseWaiter
    {
        public long ScheduledWake { get; set; } = long.MaxValue;

        public List<DateTimeOffset> Woken { get; } = [];

        public Func<DateTimeOffset> Now { get; init; } = null!;

        public void Wake() => Woken.Add(Now());
    }

    [Fact]
    public void Wakes_each_waiter_at_its_own_time_in_order()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var scheduler = new ReleaseScheduler(time);
        var start = time.GetUtcNow();
        var waiters = Enumerable.Range(0, 3).Select(_ => new Waiter { Now = time.GetUtcNow }).ToArray();
        scheduler.WakeAt(waiters[0], start.AddMilliseconds(30).UtcTicks);
        scheduler.WakeAt(waiters[1], start.AddMilliseconds(10).UtcTicks);
        scheduler.WakeAt(waiters[2], start.AddMilliseconds(20).UtcTicks);

        time.Advance(TimeSpan.FromMilliseconds(9));
        Assert.All(waiters, w => Assert.Empty(w.Woken));
        for (var i = 0; i < 25; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(1));
        }

        Assert.Equal([start.AddMilliseconds(10)], waiters[1].Woken);
        Assert.Equal([start.AddMilliseconds(20)], waiters[2].Woken);
        Assert.Equal([start.AddMilliseconds(30)], waiters[0].Woken);
        Assert.Equal(0, scheduler.Pending);
    }

    [Fact]
    public void An_earlier_request_replaces_a_later_one_and_a_past_time_wakes_at_once()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var scheduler = new ReleaseScheduler(time);
        var start = time.GetUtcNow();
        var waiter = new Waiter { Now = time.GetUtcNow };

        scheduler.WakeAt(waiter, start.AddMilliseconds(50).UtcTicks);
        scheduler.WakeAt(waiter, start.AddMilliseconds(80).UtcTicks); // later: the pending 50 ms wins
        scheduler.WakeAt(waiter, start.AddMilliseconds(5).UtcTicks);  // earlier: replaces it
        for (var i = 0; i < 100; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(1));
        }

        Assert.Equal([start.AddMilliseconds(5)], waiter.Woken);       // once: the stale 50 ms entry is skipped

        scheduler.WakeAt(waiter, start.UtcTicks);
        Assert.Equal(2, waiter.Woken.Count);
    }

    [Fact]
    public async Task On_the_system_clock_the_release_thread_wakes_each_waiter_once_and_not_before_its_time()
    {
        // The precise path (a dedicated thread, nanosleep): correctness only — how precise it is, the benchmark says.
        using var scheduler = new ReleaseScheduler(TimeProvider.System);
        var woken = new TaskCompletionSource<long>[3];
        var waiters = new SignalWaiter[3];
        var start = DateTime.UtcNow.Ticks;
        for (var i = 0; i < 3; i++)
        {
            woken[i] = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
            waiters[i] = new SignalWaiter(woken[i]);
            scheduler.WakeAt(waiters[i], start + (30 - 10 * i) * TimeSpan.TicksPerMillisecond);
        }

        var at = await Task.WhenAll(woken.Select(w => w.Task)).WaitAsync(TimeSpan.FromSeconds(10));
        for (var i = 0; i < 3; i++)
        {
            Assert.True(at[i] >= start + (30 - 10 * i) * TimeSpan.TicksPerMillisecond - ReleaseScheduler.Coalesce.Ticks, $"waiter {i} woken early");
        }

        Assert.Equal(0, scheduler.Pending);
        Assert.All(waiters, w => Assert.Equal(1, w.Wakes));
    }

    private sealed class SignalWaiter(TaskCompletionSource<long> woken) : IReleaseWaiter
    {
        public long ScheduledWake { get; set; } = long.MaxValue;

        private int _wakes;

        public int Wakes => Volatile.Read(ref _wakes);

        public void Wake()
        {
            Interlocked.Increment(ref _wakes);
            woken.TrySetResult(DateTime.UtcNow.Ticks);
        }
    }

    [Fact]
    public async Task The_signal_completes_a_wait_once_per_set_and_remembers_a_set_without_a_waiter()
    {
        var signal = new AsyncSignal();
        signal.Set();
        signal.Set();
        await signal.WaitAsync(); // remembered (once)
        var pending = signal.WaitAsync().AsTask();
        await Task.Delay(20);
        Assert.False(pending.IsCompleted);
        signal.Set();
        await pending.WaitAsync(TimeSpan.FromSeconds(5));
    }
}
