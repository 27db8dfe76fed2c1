namespace Tivo.Grains.Timing;

/// <summary>
/// The clock Orleans gives grain timers on a Tivo silo (its <c>Orleans.Grains</c> time provider): the system's time, and
/// timers kept in one priority queue served by a thread of their own. The runtime's timers walk every timer due within a
/// third of a second, under the queue's lock, whenever one fires; a playing session ticks every 50–400 ms, so at 1,000
/// sessions that walk took 4.9% of the gateway's samples, and 622 of 645 lock contentions in a lead row were thread-pool
/// threads waiting for it to start or set again a timer (docs/performance.md, 4 Dec 2026). Here a firing takes the due
/// timers off the top of the queue and setting one costs a push: the lock is held for O(log n), never for a walk.
/// Callbacks run on the thread pool, as the runtime's timers' do, with the execution context of the timer's creation
/// unless its flow was suppressed there (Orleans' grain timers suppress it). Time is <see cref="Environment.TickCount64"/>,
/// the runtime's timers' clock on Linux: it moves in steps of a few milliseconds (4 ms on the project's machine), so a
/// timer fires when that clock reaches its due, which by a finer clock can be up to a step early — as the runtime's timers
/// do, and what lets timers due within one step fire together. A periodic timer is set again from the time it fired; a period of 0 (or infinite) fires once, as the system's timers do. A timer not disposed stays in the queue while it is set (the runtime's can be collected unreferenced; Orleans
/// disposes its grain timers with their activation).
/// </summary>
public sealed class GrainTimerClock : TimeProvider, IDisposable
{
    /// <summary>The longest due time or period a timer takes (the runtime's bound: 0xfffffffe ms).</summary>
    private const long MaxMilliseconds = 0xfffffffe;

    private readonly Lock _lock = new();
    private readonly PriorityQueue<(QueuedTimer Timer, long Version), long> _queue = new();
    private readonly Thread _thread;
    private readonly AutoResetEvent _wake = new(false);
    private long _waitingUntil = long.MaxValue; // when the thread wakes unless woken (ms; MaxValue: nothing set)
    private int _armed; // timers with a current entry in the queue (the rest of its entries are stale)
    private bool _disposed;

    public GrainTimerClock()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "Tivo grain timers" };
        _thread.Start();
    }

    /// <summary>Timers set and not yet fired (periodic ones count while they run).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _armed;
            }
        }
    }

    /// <summary>Entries in the queue, stale ones included (for tests).</summary>
    internal int Entries
    {
        get
        {
            lock (_lock)
            {
                return _queue.Count;
            }
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        var context = ExecutionContext.IsFlowSuppressed() ? null : ExecutionContext.Capture();
        var timer = new QueuedTimer(this, callback, state, context);
        timer.Change(dueTime, period);
        return timer;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _queue.Clear();
        }

        Wake();
        _thread.Join();
        _wake.Dispose();
    }

    /// <summary>Milliseconds from a <see cref="TimeSpan"/> as the runtime's timers take them (−1: never).</summary>
    private static long Milliseconds(TimeSpan value, string name)
    {
        var ms = (long)value.TotalMilliseconds;
        ArgumentOutOfRangeException.ThrowIfLessThan(ms, -1, name);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ms, MaxMilliseconds, name);
        return ms;
    }

    /// <summary>Sets <paramref name="timer"/> (a new version: what was queued for it before is stale); false once disposed.</summary>
    private bool Set(QueuedTimer timer, long dueMs, long periodMs)
    {
        bool wake;
        lock (_lock)
        {
            if (_disposed || timer.Disposed)
            {
                return false;
            }

            Disarm(timer);
            timer.PeriodMs = periodMs == 0 ? -1 : periodMs; // a period of 0 fires once, as the system's timers do
            if (dueMs < 0)
            {
                return true; // stopped until set again
            }

            var at = Environment.TickCount64 + dueMs;
            _queue.Enqueue((timer, timer.Version), at);
            timer.Armed = true;
            _armed++;
            wake = at < _waitingUntil;
            if (wake)
            {
                _waitingUntil = at;
            }
        }

        if (wake)
        {
            Wake();
        }

        return true;
    }

    private void Stop(QueuedTimer timer)
    {
        lock (_lock)
        {
            timer.Disposed = true;
            Disarm(timer);
        }
    }

    /// <summary>Makes the timer's queued entry, if any, stale (dropped when it comes up). Under the lock. Stale entries are
    /// dropped at once when they come to outnumber the timers set: a timer set again and again far ahead must not grow the
    /// queue by an entry each time until the first of them is due.</summary>
    private void Disarm(QueuedTimer timer)
    {
        timer.Version++;
        if (!timer.Armed)
        {
            return;
        }

        timer.Armed = false;
        _armed--;
        if (_queue.Count > 2 * _armed + 1024)
        {
            var current = _queue.UnorderedItems.Where(static e => e.Element.Version == e.Element.Timer.Version).ToList();
            _queue.Clear();
            _queue.EnqueueRange(current);
        }
    }

    private void Wake()
    {
        try
        {
            _wake.Set();
        }
        catch (ObjectDisposedException)
        {
            // The clock was disposed meanwhile (the silo stopping): nothing fires any more.
        }
    }

    private void Run()
    {
        var due = new List<QueuedTimer>();
        while (true)
        {
            long wait;
            lock (_lock)
            {
                if (_disposed)
                {
                    return;
                }

                var now = Environment.TickCount64;
                while (_queue.TryPeek(out var entry, out var at) && at <= now)
                {
                    _queue.Dequeue();
                    if (entry.Version != entry.Timer.Version)
                    {
                        continue; // set again or disposed since
                    }

                    if (entry.Timer.PeriodMs > 0)
                    {
                        // Periodic: set again from now.
                        _queue.Enqueue(entry, now + entry.Timer.PeriodMs);
                    }
                    else
                    {
                        entry.Timer.Armed = false;
                        _armed--;
                    }

                    due.Add(entry.Timer);
                }

                _waitingUntil = _queue.TryPeek(out _, out var next) ? next : long.MaxValue;
                wait = _waitingUntil == long.MaxValue ? Timeout.Infinite : Math.Clamp(_waitingUntil - now, 0, int.MaxValue);
            }

            foreach (var timer in due)
            {
                ThreadPool.UnsafeQueueUserWorkItem(timer, preferLocal: false);
            }

            due.Clear();
            if (wait != 0)
            {
                _wake.WaitOne((int)wait);
            }
        }
    }

    /// <summary>One timer: its callback runs as a thread-pool work item, without allocating per firing.</summary>
    private sealed class QueuedTimer(GrainTimerClock clock, TimerCallback callback, object? state, ExecutionContext? context)
        : ITimer, IThreadPoolWorkItem
    {
        private static readonly ContextCallback RunInContext = static s => ((QueuedTimer)s!).Invoke();

        // Guarded by the clock's lock.
        public long Version;
        public long PeriodMs = -1;
        public bool Armed; // its current version has an entry in the queue
        public bool Disposed;

        public bool Change(TimeSpan dueTime, TimeSpan period) =>
            clock.Set(this, Milliseconds(dueTime, nameof(dueTime)), Milliseconds(period, nameof(period)));

        public void Dispose() => clock.Stop(this);

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }

        void IThreadPoolWorkItem.Execute()
        {
            if (context is null)
            {
                Invoke();
            }
            else
            {
                ExecutionContext.Run(context, RunInContext, this);
            }
        }

        private void Invoke()
        {
            if (Volatile.Read(ref Disposed))
            {
                return; // disposed after it was taken off the queue: the runtime's timers skip such a callback too
            }

            callback(state);
        }
    }
}
