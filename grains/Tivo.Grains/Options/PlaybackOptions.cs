using Microsoft.Extensions.Options;

namespace Tivo.Grains;

/// <summary>How sessions hand events on, bound from <c>Tivo:Playback</c>.</summary>
public sealed class PlaybackOptions
{
    public const string SectionName = "Tivo:Playback";

    /// <summary>Period of the session's grain timer. Events are handed on ahead of due, so this sets
    /// the batch size and the CPU cost, not the delivery precision. 100 ms: every tick is a grain timer's message and a push
    /// (Orleans messages, a batch and their tasks: about 1 KB whatever the batch holds); against 50 ms, 1,000 sessions at 100
    /// events/s allocated 300 against 405 B per event and took 8.6 against 9.1 µs of the gateway's CPU per event
    /// (docs/performance.md).</summary>
    public TimeSpan TickInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How far ahead of due events are handed to the gateway, which releases them on time.
    /// Must exceed <see cref="TickInterval"/>; what it exceeds it by (100 ms) is the time a push has to reach its gateway.</summary>
    public TimeSpan Lookahead { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>A control (pause, seek, speed) takes effect this long after it arrives, so that events
    /// already handed on and due before that instant are still delivered, and none after it.</summary>
    public TimeSpan ControlLeadTime { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Interval of <c>clock</c> messages while playing.</summary>
    public TimeSpan ClockInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Wall time of playback to keep loaded ahead of the playhead.</summary>
    public TimeSpan ReadAhead { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Largest accepted speed factor.</summary>
    public double MaxSpeed { get; set; } = 100_000;

    /// <summary>Smallest accepted speed factor.</summary>
    public double MinSpeed { get; set; } = 0.001;

    /// <summary>Shortest wall-clock duration of one pass of a loop (speed included). A play or speed change that
    /// would make passes shorter is refused with <c>bad_request</c>: at most four wraps a second by default.</summary>
    public TimeSpan MinLoopPass { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Longest window that <c>rate</c> or <c>maxGap</c> may pace (their warp is built from the window's
    /// counts). Default 31 days, the same as the histogram route's limit.</summary>
    public TimeSpan MaxPacedWindow { get; set; } = TimeSpan.FromDays(31);

    /// <summary>A participant that does not renew within this time is dropped.</summary>
    public TimeSpan ParticipantExpiry { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How often a live session at the live edge reads the newest chunk again.</summary>
    public TimeSpan LivePollInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How many recently handed-on events a session keeps, so a participant that reconnects with its
    /// last seq receives what it missed.</summary>
    public int ReplayEvents { get; set; } = 20_000;

    /// <summary>The most bytes of payload (estimated in memory) those kept events may take; the oldest go first.
    /// With large payloads this bound, not <see cref="ReplayEvents"/>, decides how far back a resume reaches.</summary>
    public long ReplayBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>The most bytes (estimated as for <see cref="ReplayBytes"/>) the replay logs of all sessions on a silo may keep
    /// together; past it, each session's log trims to an equal share at its next push (events already due only), so a resume
    /// reaches less far back on a crowded silo. 0: no silo-wide bound. The silo also keeps the emptied arrays of ended sessions'
    /// logs for new sessions, at most an eighth of this (128 MiB with 0).</summary>
    public long ReplayMemoryLimit { get; set; } = 1024L * 1024 * 1024;

    /// <summary>A session left without participants carries on for this long (so a reconnecting viewer
    /// finds it), then stops, forgets its record and is released.</summary>
    public TimeSpan SessionGracePeriod { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A session whose read failed because the store is away retries after this long, doubling each
    /// time up to <see cref="StoreRetryMaxDelay"/>; the clock waits meanwhile.</summary>
    public TimeSpan StoreRetryDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>A session restored after its silo died waits this long for its gateways to say what they received last,
    /// then continues right after the lowest of it (no participant misses an event).</summary>
    public TimeSpan ResumeWindow { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between retries of a failing store.</summary>
    public TimeSpan StoreRetryMaxDelay { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>Chunking and cache bounds, bound from <c>Tivo:Cache</c>.</summary>
public sealed class CacheOptions
{
    public const string SectionName = "Tivo:Cache";

    /// <summary>Length of a chunk in whole seconds of stream time.</summary>
    public int ChunkSeconds { get; set; } = 10;

    /// <summary>Upper bound of the silo's chunk cache in bytes (estimated from payload sizes).</summary>
    public long MaxBytes { get; set; } = 256L * 1024 * 1024;
}

/// <summary>Validates <see cref="PlaybackOptions"/> with messages naming the setting.</summary>
public sealed class PlaybackOptionsValidator : IValidateOptions<PlaybackOptions>
{
    public ValidateOptionsResult Validate(string? name, PlaybackOptions o)
    {
        var errors = new List<string>();
        if (o.TickInterval < TimeSpan.FromMilliseconds(1) || o.TickInterval > TimeSpan.FromSeconds(1))
        {
            errors.Add($"Tivo:Playback:TickInterval is {o.TickInterval}; use a value between 00:00:00.001 and 00:00:01 (default 00:00:00.050).");
        }

        if (o.Lookahead <= o.TickInterval)
        {
            errors.Add($"Tivo:Playback:Lookahead ({o.Lookahead}) must be longer than Tivo:Playback:TickInterval ({o.TickInterval}), or events arrive late.");
        }

        if (o.ControlLeadTime < TimeSpan.Zero || o.ControlLeadTime > TimeSpan.FromSeconds(1))
        {
            errors.Add($"Tivo:Playback:ControlLeadTime is {o.ControlLeadTime}; use 0 to 1 second (default 00:00:00.020).");
        }

        if (o.ClockInterval < TimeSpan.FromMilliseconds(10))
        {
            errors.Add($"Tivo:Playback:ClockInterval is {o.ClockInterval}; use at least 00:00:00.010.");
        }

        if (o.ReplayEvents < 0 || o.ReplayBytes < 0)
        {
            errors.Add($"Tivo:Playback:ReplayEvents ({o.ReplayEvents}) and ReplayBytes ({o.ReplayBytes}) must not be negative (0 keeps nothing for resuming clients).");
        }

        if (o.ReplayMemoryLimit < 0)
        {
            errors.Add($"Tivo:Playback:ReplayMemoryLimit ({o.ReplayMemoryLimit}) must not be negative (0: no silo-wide bound).");
        }

        if (!(o.MinSpeed > 0) || !(o.MaxSpeed >= o.MinSpeed) || double.IsInfinity(o.MaxSpeed))
        {
            errors.Add($"Tivo:Playback:MinSpeed ({o.MinSpeed}) and MaxSpeed ({o.MaxSpeed}) must satisfy 0 < MinSpeed ≤ MaxSpeed < ∞.");
        }

        if (o.MinLoopPass < TimeSpan.FromMilliseconds(10) || o.MinLoopPass > TimeSpan.FromHours(1))
        {
            errors.Add($"Tivo:Playback:MinLoopPass is {o.MinLoopPass}; use 00:00:00.010 to 01:00:00 (default 00:00:00.250).");
        }

        if (o.MaxPacedWindow < TimeSpan.FromSeconds(1) || o.MaxPacedWindow > TimeSpan.FromDays(3660))
        {
            errors.Add($"Tivo:Playback:MaxPacedWindow is {o.MaxPacedWindow}; use 00:00:01 to 3660.00:00:00 (default 31.00:00:00). Longer windows are paced from coarser buckets, but their per-second counts are still read.");
        }

        if (o.StoreRetryDelay < TimeSpan.FromMilliseconds(1) || o.StoreRetryMaxDelay < o.StoreRetryDelay)
        {
            errors.Add($"Tivo:Playback:StoreRetryDelay ({o.StoreRetryDelay}) must be at least 00:00:00.001 and StoreRetryMaxDelay ({o.StoreRetryMaxDelay}) at least as long.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Validates <see cref="CacheOptions"/>.</summary>
public sealed class CacheOptionsValidator : IValidateOptions<CacheOptions>
{
    public ValidateOptionsResult Validate(string? name, CacheOptions o)
    {
        if (o.ChunkSeconds is < 1 or > 3600)
        {
            return ValidateOptionsResult.Fail($"Tivo:Cache:ChunkSeconds is {o.ChunkSeconds}; use 1 to 3600 whole seconds (default 10).");
        }

        if (o.MaxBytes < 1024 * 1024)
        {
            return ValidateOptionsResult.Fail($"Tivo:Cache:MaxBytes is {o.MaxBytes}; use at least 1048576 (1 MiB).");
        }

        return ValidateOptionsResult.Success;
    }
}
