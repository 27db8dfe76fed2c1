namespace Tivo.Gateway.Connections;

/// <summary>
/// Whether this gateway keeps up, and the send window that buys it time when it does not. A plain connection costs a
/// wake-up, a frame and a send per event; when the gateway's CPU is saturated its send loops run later and later after
/// the releases they asked for (<see cref="Observe"/>). Then the window widens: each plain connection's send loop wakes
/// half the window after its next message's due and sends, in that turn, everything due up to half the window after
/// the wake-up — each message at most half the window late or early — so one wake-up carries two or three events at
/// 100 events/s instead of one, and the CPU that frees keeps the rest on time. It starts at <see cref="Step"/>, doubles
/// at most every <see cref="StepUpEvery"/> while loops run <see cref="LagThreshold"/> late, up to
/// <c>Tivo:Gateway:PressureWindow</c> (20 ms; 0: never), and halves after each <see cref="StepDownAfter"/> without a
/// late loop, to 0: a gateway that keeps up sends every message at its due. Lead connections are not affected (their
/// frames are batched already). One per gateway (<see cref="ReleaseScheduler.Pressure"/>).
/// </summary>
internal sealed class SendPressure(long maxWindowTicks)
{
    /// <summary>A send loop this late after the release it asked for counts as pressure.</summary>
    public static readonly TimeSpan LagThreshold = TimeSpan.FromMilliseconds(10);

    /// <summary>The window's first width under pressure; below it, it closes.</summary>
    public static readonly TimeSpan Step = TimeSpan.FromMilliseconds(5);

    /// <summary>The window widens at most this often (a single collector pause makes every loop late at once).</summary>
    public static readonly TimeSpan StepUpEvery = TimeSpan.FromMilliseconds(250);

    /// <summary>The window halves after this long without a late loop.</summary>
    public static readonly TimeSpan StepDownAfter = TimeSpan.FromSeconds(1);

    private long _window;
    private long _lastLate = long.MinValue / 2;
    private long _lastChange = long.MinValue / 2;

    /// <summary>A send loop ran <paramref name="lagTicks"/> after the release it asked for, at <paramref name="nowTicks"/>
    /// (UTC ticks).</summary>
    public void Observe(long lagTicks, long nowTicks)
    {
        if (lagTicks < LagThreshold.Ticks || maxWindowTicks <= 0)
        {
            return;
        }

        if (nowTicks - Volatile.Read(ref _lastLate) >= TimeSpan.TicksPerMillisecond)
        {
            Volatile.Write(ref _lastLate, nowTicks); // once a millisecond at most: a saturated gateway has thousands of late loops a second
        }

        var changed = Volatile.Read(ref _lastChange);
        var window = Volatile.Read(ref _window);
        if (nowTicks - changed < StepUpEvery.Ticks || window >= maxWindowTicks || Interlocked.CompareExchange(ref _lastChange, nowTicks, changed) != changed)
        {
            return; // widened a moment ago, at its widest, or another loop is widening it now
        }

        Volatile.Write(ref _window, Math.Min(maxWindowTicks, window == 0 ? Step.Ticks : window * 2));
    }

    /// <summary>The window at <paramref name="nowTicks"/> (UTC ticks): halved first for every <see cref="StepDownAfter"/> the
    /// gateway kept up since it last changed (a gateway idle for a while has none left).</summary>
    public long WindowAt(long nowTicks)
    {
        var window = Volatile.Read(ref _window);
        if (window == 0)
        {
            return 0;
        }

        var changed = Volatile.Read(ref _lastChange);
        var quiet = nowTicks - Math.Max(changed, Volatile.Read(ref _lastLate));
        if (quiet < StepDownAfter.Ticks || Interlocked.CompareExchange(ref _lastChange, nowTicks, changed) != changed)
        {
            return window;
        }

        var narrower = window >> (int)Math.Min(62, quiet / StepDownAfter.Ticks);
        narrower = narrower < Step.Ticks ? 0 : narrower;
        Volatile.Write(ref _window, narrower);
        return narrower;
    }
}
