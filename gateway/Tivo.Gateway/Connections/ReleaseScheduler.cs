namespace Tivo.Gateway.Connections;

/// <summary>Something the <see cref="ReleaseScheduler"/> wakes when its next message is due.</summary>
internal interface IReleaseWaiter
{
    /// <summary>The wake-up time this waiter has pending with the scheduler (UTC ticks), or
    /// <see cref="long.MaxValue"/>; read and written only under the scheduler's lock.</summary>
    long ScheduledWake { get; set; }

    void Wake();
}

/// <summary>
/// One timer per gateway for every connection's release times. A connection whose next message is not
/// yet due registers the time with <see cref="WakeAt"/> and awaits its own signal, so waiting costs no
/// timer per connection (a timed <c>SemaphoreSlim.WaitAsync</c> per wait creates a timer, contends on the
/// runtime's timer queue lock and throws a caught <see cref="TimeoutException"/> on every expiry; at
/// 100,000 releases a second that was most of the gateway's CPU).
/// </summary>
internal sealed class ReleaseScheduler : IDisposable
{
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly PriorityQueue<IReleaseWaiter, long> _queue = new();
    private readonly ITimer _timer;
    private readonly List<IReleaseWaiter> _due = [];
    private long _armedFor = long.MaxValue;
    private bool _firing;

    public ReleaseScheduler(TimeProvider time)
    {
        _time = time;
        _timer = time.CreateTimer(static s => ((ReleaseScheduler)s!).Fire(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Waiters registered and not yet woken.</summary>
    public int Pending
    {
        get
        {
            lock (_lock)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>Wakes <paramref name="waiter"/> at <paramref name="utcTicks"/> (or soon after: the timer has
    /// millisecond resolution). An earlier registration of the same waiter that is still pending wins.</summary>
    public void WakeAt(IReleaseWaiter waiter, long utcTicks)
    {
        var wakeNow = false;
        lock (_lock)
        {
            if (waiter.ScheduledWake <= utcTicks)
            {
                return;
            }

            var now = _time.GetUtcNow().UtcTicks;
            if (utcTicks <= now)
            {
                wakeNow = true;
            }
            else
            {
                waiter.ScheduledWake = utcTicks;
                _queue.Enqueue(waiter, utcTicks);
                if (!_firing && utcTicks < _armedFor)
                {
                    ArmLocked(utcTicks, now);
                }
            }
        }

        if (wakeNow)
        {
            waiter.Wake();
        }
    }

    private void Fire()
    {
        lock (_lock)
        {
            _firing = true;
            _armedFor = long.MaxValue;
            var now = _time.GetUtcNow().UtcTicks;
            while (_queue.TryPeek(out var waiter, out var at) && at <= now)
            {
                _queue.Dequeue();
                if (waiter.ScheduledWake == at)
                {
                    waiter.ScheduledWake = long.MaxValue;
                    _due.Add(waiter);
                }
            }
        }

        foreach (var waiter in _due)
        {
            waiter.Wake();
        }

        _due.Clear();
        lock (_lock)
        {
            _firing = false;
            if (_queue.TryPeek(out _, out var next))
            {
                ArmLocked(next, _time.GetUtcNow().UtcTicks);
            }
        }
    }

    private void ArmLocked(long at, long now)
    {
        _armedFor = at;
        // Whole milliseconds, rounded up: the runtime's timers truncate to milliseconds, and a 0 ms timer
        // for a time 0.4 ms away would spin. Connections ask to be woken a tolerance before the due time.
        var ms = Math.Max(0, (at - now + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond);
        _timer.Change(TimeSpan.FromMilliseconds(ms), Timeout.InfiniteTimeSpan);
    }

    public void Dispose() => _timer.Dispose();
}
