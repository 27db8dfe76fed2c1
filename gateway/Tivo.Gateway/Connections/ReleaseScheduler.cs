using System.Runtime.InteropServices;

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
/// One release clock per gateway for every connection's release times. A connection whose next message is not
/// yet due registers the time with <see cref="WakeAt"/> and awaits its own signal, so waiting costs no
/// timer per connection (a timed <c>SemaphoreSlim.WaitAsync</c> per wait creates a timer, contends on the
/// runtime's timer queue lock and throws a caught <see cref="TimeoutException"/> on every expiry; at
/// 100,000 releases a second that was most of the gateway's CPU).
/// <para>On the system clock the waits are kept by a dedicated thread: it blocks until about
/// <see cref="FineWindow"/> before the earliest time (the runtime's waits count whole milliseconds), then sleeps
/// the rest precisely (<c>nanosleep</c> on Linux, bounded spinning elsewhere) and wakes the connections due. The
/// runtime's timers, used before, fire up to a millisecond late and then queue to the thread pool: one session's
/// events arrived 1.4 ms late at the median and 5.8 ms at p99, against 0.5 / 2.1 ms for a bare per-event timer
/// (docs/performance.md). Any other <see cref="TimeProvider"/> (a test's fake clock) drives a timer of its own.</para>
/// </summary>
internal sealed partial class ReleaseScheduler : IDisposable
{
    /// <summary>How long before a release time the release thread stops blocking and sleeps precisely.</summary>
    public static readonly TimeSpan FineWindow = TimeSpan.FromMilliseconds(1.5);

    /// <summary>Up to this many connections waiting, the release thread sleeps to each release time precisely; with more,
    /// it wakes on whole milliseconds (as the runtime's timers do), which costs less CPU per event when many connections
    /// are due close together: precise wake-ups took 30% more of the gateway's CPU per event at 100 sessions.</summary>
    public const int PreciseUpTo = 16;

    /// <summary>Waking for one release time, the scheduler also wakes whoever is due within this much after it (connections
    /// send what is due within <c>Tivo:Gateway:ReleaseTolerance</c>, 1 ms, of now, so none wakes for nothing).</summary>
    public static readonly TimeSpan Coalesce = TimeSpan.FromMilliseconds(1);

    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly PriorityQueue<IReleaseWaiter, long> _queue = new();
    private readonly List<IReleaseWaiter> _due = [];
    private readonly Stack<WakeBatch> _batches = new();
    private readonly ITimer? _timer;
    private readonly AutoResetEvent? _earlier;
    private readonly Thread? _thread;
    private long _armedFor = long.MaxValue;
    private bool _firing;
    private volatile bool _disposed;

    /// <summary>A release clock on <paramref name="time"/>; a saturated gateway opens a send window up to
    /// <paramref name="pressureWindow"/> (<see cref="Pressure"/>; default: none).</summary>
    public ReleaseScheduler(TimeProvider time, TimeSpan pressureWindow = default)
    {
        _time = time;
        Pressure = new SendPressure(pressureWindow.Ticks);
        if (ReferenceEquals(time, TimeProvider.System))
        {
            _earlier = new AutoResetEvent(false);
            _thread = new Thread(RunReleaseThread) { IsBackground = true, Name = "Tivo release clock" };
            _thread.Start();
        }
        else
        {
            _timer = time.CreateTimer(static s => ((ReleaseScheduler)s!).Fire(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Whether the gateway's send loops keep up with their releases, and the send window that buys them time.</summary>
    public SendPressure Pressure { get; }

    /// <summary>The send window now (zero while the gateway keeps up).</summary>
    public TimeSpan SendWindow => TimeSpan.FromTicks(Pressure.WindowAt(_time.GetUtcNow().UtcTicks));

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

    /// <summary>Wakes <paramref name="waiter"/> at <paramref name="utcTicks"/>. An earlier registration of the same
    /// waiter that is still pending wins.</summary>
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
            var now = _time.GetUtcNow().UtcTicks + Coalesce.Ticks;
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

        if (_thread is not null && _due.Count > 0)
        {
            // From the release thread, one thread-pool item wakes the batch: the connections' loops then continue on
            // that worker's local queue, instead of each wake-up rousing an idle worker of its own (which cost 50% more
            // CPU per event at 100 sessions). The items are reused: an array per firing was 2% of the gateway's allocations.
            var batch = WakeBatch.Take(_batches);
            batch.Waiters.AddRange(_due);
            ThreadPool.UnsafeQueueUserWorkItem(batch, preferLocal: false);
        }
        else
        {
            WakeAll(_due);
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

    private static void WakeAll(IReadOnlyList<IReleaseWaiter> waiters)
    {
        for (var i = 0; i < waiters.Count; i++)
        {
            waiters[i].Wake();
        }
    }

    /// <summary>The connections one firing of the release thread wakes, as a thread-pool item that goes back to
    /// <paramref name="pool"/> once it ran.</summary>
    private sealed class WakeBatch(Stack<WakeBatch> pool) : IThreadPoolWorkItem
    {
        public List<IReleaseWaiter> Waiters { get; } = [];

        public static WakeBatch Take(Stack<WakeBatch> pool)
        {
            lock (pool)
            {
                return pool.TryPop(out var reused) ? reused : new WakeBatch(pool);
            }
        }

        public void Execute()
        {
            try
            {
                WakeAll(Waiters);
            }
            finally
            {
                Waiters.Clear();
                lock (pool)
                {
                    pool.Push(this);
                }
            }
        }
    }

    private void ArmLocked(long at, long now)
    {
        _armedFor = at;
        if (_earlier is not null)
        {
            _earlier.Set(); // the release thread re-reads the earliest time
            return;
        }

        // Whole milliseconds, rounded up: the runtime's timers truncate to milliseconds, and a 0 ms timer
        // for a time 0.4 ms away would spin.
        var ms = Math.Max(0, (at - now + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond);
        _timer!.Change(TimeSpan.FromMilliseconds(ms), Timeout.InfiniteTimeSpan);
    }

    private void RunReleaseThread()
    {
        while (!_disposed)
        {
            long next;
            int pending;
            lock (_lock)
            {
                next = _queue.TryPeek(out _, out var at) ? at : long.MaxValue;
                pending = _queue.Count;
                _armedFor = next;
            }

            if (next == long.MaxValue)
            {
                _earlier!.WaitOne();
                continue;
            }

            var remaining = next - _time.GetUtcNow().UtcTicks;
            if (pending > PreciseUpTo)
            {
                // Busy: whole milliseconds, rounded up, like the runtime's timers — fewer, fuller wake-ups.
                if (remaining > 0 && _earlier!.WaitOne((int)((remaining + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond)))
                {
                    continue; // an earlier registration
                }
            }
            else if (remaining > FineWindow.Ticks)
            {
                // Blocks whole milliseconds, ending before the window; an earlier registration ends it sooner.
                _earlier!.WaitOne((int)((remaining - FineWindow.Ticks) / TimeSpan.TicksPerMillisecond) + 1);
                continue;
            }
            else if (remaining > 0)
            {
                SleepUntil(next);
            }

            Fire();
        }
    }

    /// <summary>Sleeps to <paramref name="until"/> (UTC ticks, under <see cref="FineWindow"/> away) within tens of
    /// microseconds: <c>nanosleep</c> where there is one, then spinning out what is left (bounded).</summary>
    private void SleepUntil(long until)
    {
        var remaining = until - _time.GetUtcNow().UtcTicks;
        if (OperatingSystem.IsLinux() && remaining > 0)
        {
            var request = new Timespec { Seconds = 0, Nanoseconds = (nint)(remaining * 100) };
            _ = NanoSleep(in request, out _); // a signal may end it early: the spin below finishes
        }

        var spin = new SpinWait();
        while (_time.GetUtcNow().UtcTicks < until && spin.Count < 100_000)
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public nint Seconds;
        public nint Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "nanosleep")]
    private static partial int NanoSleep(in Timespec request, out Timespec remaining);

    public void Dispose()
    {
        _disposed = true;
        _timer?.Dispose();
        _earlier?.Set();
    }
}
