using Microsoft.Extensions.Options;

namespace Tivo.Gateway;

/// <summary>WebSocket front-end settings, bound from <c>Tivo:Gateway</c>.</summary>
public sealed class GatewayOptions
{
    public const string SectionName = "Tivo:Gateway";

    /// <summary>Access tokens. Empty (default): no token needed, every client may control. Otherwise every
    /// socket and every <c>/channels</c> route needs one (see docs/configuration.md#access-tokens).</summary>
    public List<Security.AccessToken> Tokens { get; set; } = [];

    /// <summary>Largest client message in bytes; a larger one closes the socket with 1009.</summary>
    public int MaxMessageBytes { get; set; } = 64 * 1024;

    /// <summary>Largest ingest request body (<c>POST /channels/{channel}/events</c>).</summary>
    public long MaxIngestBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>Most messages queued for one connection — events, signals and replies alike — before it counts as a
    /// slow consumer (<c>slow_consumer</c>, then close 1008).</summary>
    public int SendQueueLimit { get; set; } = 20_000;

    /// <summary>A connection whose oldest queued message is this far past its due, or whose socket has not taken a
    /// frame for this long, counts as a slow consumer (a reader that stopped).</summary>
    public TimeSpan SlowConsumerLag { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Commands a connection may send per second on average (a token bucket); more get <c>rate_limited</c>.</summary>
    public double CommandsPerSecond { get; set; } = 50;

    /// <summary>Commands a connection may send at once (the bucket's size).</summary>
    public int CommandBurst { get; set; } = 100;

    /// <summary>A connection refused this many commands within 10 seconds is closed with 1008.</summary>
    public int RateLimitedCloseAfter { get; set; } = 100;

    /// <summary>WebSocket ping interval.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Close the socket when a ping is not answered within this time.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Browser origins allowed to open sockets and to ingest, besides the gateway's own origin (a page it
    /// serves). Requests that send no <c>Origin</c> (CLI, scripts, servers) are not affected. Empty (default):
    /// same-origin pages only; <c>*</c>: any origin.</summary>
    public List<string> AllowedOrigins { get; set; } = [];

    /// <summary>How often a connection renews its registration with its session.</summary>
    public TimeSpan RenewInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A session playing but silent for this long (no clock tick, which comes every 250 ms) has lost its silo:
    /// its connections call it back at once with the last event received, so it continues on another silo right after it.</summary>
    public TimeSpan SessionSilence { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The longest a control waits for its session's answer; past it the client gets an <c>internal</c> error
    /// (the session's silo may be failing over) and the connection's pushes, held while a control is in flight, flow again.</summary>
    public TimeSpan ControlTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A connection's release running this much later than it asked (the gateway's CPU cannot keep up) is reported
    /// to its session, which holds its clock that long and reports a lower achieved speed: backpressure slows the clock
    /// instead of making every viewer late. <c>00:00:00</c> turns it off.</summary>
    public TimeSpan LateReportThreshold { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>At most one lateness report per session per gateway this often (the worst since the last one).</summary>
    public TimeSpan LateReportInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Messages are released this much before their due time at most: the release clock wakes connections due
    /// within <see cref="Connections.ReleaseScheduler.Coalesce"/> (1 ms) of each other together.</summary>
    public TimeSpan ReleaseTolerance { get; set; } = TimeSpan.FromMilliseconds(1);

    /// <summary>The widest send window a saturated gateway opens for plain connections (<see cref="Connections.SendPressure"/>):
    /// each message then goes up to half of it early or late, and a wake-up and send carry several. <c>00:00:00</c> turns
    /// it off.</summary>
    public TimeSpan PressureWindow { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>The 2016 prototype's endpoint, off by default.</summary>
    public PrototypeOptions Prototype { get; set; } = new();
}

/// <summary>Compatibility with the 2016 Node.js prototype's clients, bound from <c>Tivo:Gateway:Prototype</c>.</summary>
public sealed class PrototypeOptions
{
    /// <summary>When set, a WebSocket upgrade at <c>/</c> plays this channel in the prototype's message shapes
    /// (each event its bare payload; <c>{type: PLAY|STOP|END_LOOP|END_NOLOOP, text}</c>). Empty (default): off.</summary>
    public string? Channel { get; set; }
}

/// <summary>Validates <see cref="GatewayOptions"/> with messages naming the setting.</summary>
public sealed class GatewayOptionsValidator : IValidateOptions<GatewayOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayOptions o)
    {
        var errors = new List<string>();
        if (o.MaxMessageBytes is < 1024 or > 16 * 1024 * 1024)
        {
            errors.Add($"Tivo:Gateway:MaxMessageBytes is {o.MaxMessageBytes}; use 1024 to 16777216 (default 65536).");
        }

        if (o.SendQueueLimit < 100)
        {
            errors.Add($"Tivo:Gateway:SendQueueLimit is {o.SendQueueLimit}; use at least 100 (default 20000).");
        }

        if (o.SlowConsumerLag < TimeSpan.FromSeconds(1))
        {
            errors.Add($"Tivo:Gateway:SlowConsumerLag is {o.SlowConsumerLag}; use at least 00:00:01 (default 00:00:10).");
        }

        if (!(o.CommandsPerSecond >= 1 && o.CommandsPerSecond <= 100_000) || o.CommandBurst is < 1 or > 100_000 || o.RateLimitedCloseAfter < 1)
        {
            errors.Add($"Tivo:Gateway:CommandsPerSecond ({o.CommandsPerSecond}), CommandBurst ({o.CommandBurst}) and RateLimitedCloseAfter ({o.RateLimitedCloseAfter}) must be 1 to 100000 (defaults 50, 100, 100).");
        }

        if (o.KeepAliveInterval <= TimeSpan.Zero || o.KeepAliveTimeout <= TimeSpan.Zero)
        {
            errors.Add("Tivo:Gateway:KeepAliveInterval and KeepAliveTimeout must be positive durations such as 00:00:15.");
        }

        if (o.ControlTimeout < TimeSpan.FromSeconds(1))
        {
            errors.Add($"Tivo:Gateway:ControlTimeout is {o.ControlTimeout}; use at least 00:00:01.");
        }

        if (o.PressureWindow < TimeSpan.Zero || o.PressureWindow > TimeSpan.FromSeconds(1))
        {
            errors.Add($"Tivo:Gateway:PressureWindow ({o.PressureWindow}) must be 0 (off) to 00:00:01.");
        }

        if (o.LateReportThreshold < TimeSpan.Zero || o.LateReportInterval < TimeSpan.FromMilliseconds(50))
        {
            errors.Add($"Tivo:Gateway:LateReportThreshold ({o.LateReportThreshold}) must be 0 (off) or more, and LateReportInterval ({o.LateReportInterval}) at least 00:00:00.050.");
        }

        if (o.SessionSilence < TimeSpan.FromMilliseconds(500))
        {
            errors.Add($"Tivo:Gateway:SessionSilence is {o.SessionSilence}; use at least 00:00:00.500 (clock ticks come every 250 ms).");
        }

        if (o.RenewInterval < TimeSpan.FromSeconds(1))
        {
            errors.Add($"Tivo:Gateway:RenewInterval is {o.RenewInterval}; use at least 00:00:01.");
        }

        for (var i = 0; i < o.Tokens.Count; i++)
        {
            var t = o.Tokens[i];
            if (t.Token.Length < 16)
            {
                errors.Add($"Tivo:Gateway:Tokens:{i}:Token is {t.Token.Length} characters; use at least 16 random characters (e.g. openssl rand -hex 24).");
            }

            if (!Enum.IsDefined(t.Role))
            {
                errors.Add($"Tivo:Gateway:Tokens:{i}:Role is '{t.Role}'; use controller or viewer.");
            }
        }

        if (o.Tokens.GroupBy(t => t.Token, StringComparer.Ordinal).Any(g => g.Count() > 1))
        {
            errors.Add("Tivo:Gateway:Tokens lists the same token twice; each token must be unique.");
        }

        foreach (var origin in o.AllowedOrigins)
        {
            if (origin != "*" && !Uri.TryCreate(origin, UriKind.Absolute, out _))
            {
                errors.Add($"Tivo:Gateway:AllowedOrigins entry '{origin}' is not an absolute origin such as https://viz.example.com (or * for any origin).");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
