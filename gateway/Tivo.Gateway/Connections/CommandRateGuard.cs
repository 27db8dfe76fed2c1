using System.Threading.RateLimiting;

namespace Tivo.Gateway.Connections;

/// <summary>What <see cref="CommandRateGuard.Check"/> decided about one client message.</summary>
internal enum CommandVerdict
{
    /// <summary>Within the rate: handle it.</summary>
    Allowed,

    /// <summary>Over the rate: answer <c>rate_limited</c>, change nothing.</summary>
    Refused,

    /// <summary>Refused too often within <see cref="CommandRateGuard.AbuseWindow"/>: close the socket with 1008.</summary>
    Abusive,
}

/// <summary>
/// The per-connection command rate limit: a token bucket (System.Threading.RateLimiting) of
/// <see cref="GatewayOptions.CommandBurst"/> commands refilled at <see cref="GatewayOptions.CommandsPerSecond"/>,
/// replenished on demand (no timer per connection), and a count of refusals that turns sustained abuse
/// into a close. One instance per connection, used by its receive loop only.
/// </summary>
internal sealed class CommandRateGuard : IDisposable
{
    /// <summary>Refusals are counted over this window for <see cref="GatewayOptions.RateLimitedCloseAfter"/>.</summary>
    public static readonly TimeSpan AbuseWindow = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(100);

    private readonly TokenBucketRateLimiter _bucket;
    private readonly TimeProvider _time;
    private readonly int _closeAfter;
    private long _windowStart;
    private int _refusals;

    public CommandRateGuard(GatewayOptions options, TimeProvider time)
    {
        _time = time;
        _closeAfter = options.RateLimitedCloseAfter;
        _bucket = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = options.CommandBurst,
            TokensPerPeriod = Math.Max(1, (int)Math.Round(options.CommandsPerSecond * Period.TotalSeconds)),
            ReplenishmentPeriod = Period,
            QueueLimit = 0,
            AutoReplenishment = false, // replenished below, when a command arrives: idle sockets cost no timer
        });
    }

    /// <summary>Counts one command against the limit.</summary>
    public CommandVerdict Check()
    {
        _bucket.TryReplenish();
        using var lease = _bucket.AttemptAcquire();
        if (lease.IsAcquired)
        {
            return CommandVerdict.Allowed;
        }

        var now = _time.GetTimestamp();
        if (_refusals == 0 || _time.GetElapsedTime(_windowStart, now) > AbuseWindow)
        {
            _windowStart = now;
            _refusals = 0;
        }

        return ++_refusals > _closeAfter ? CommandVerdict.Abusive : CommandVerdict.Refused;
    }

    public void Dispose() => _bucket.Dispose();
}
