using Microsoft.Extensions.Options;

namespace Tivo.Gateway.Security;

/// <summary>
/// Which browser pages may open sockets and ingest: the gateway's own origin (the demo page it serves) and
/// those <see cref="GatewayOptions.AllowedOrigins"/> lists (<c>*</c>: any). A request without an <c>Origin</c>
/// header is not from a browser page on another site (CLI, scripts, servers) and is not restricted here;
/// tokens are what restrict those. This stops cross-site WebSocket hijacking and cross-site ingest (CSRF)
/// even when no tokens are configured.
/// </summary>
internal sealed class OriginPolicy(IOptions<GatewayOptions> options)
{
    private readonly bool _any = options.Value.AllowedOrigins.Contains("*");
    private readonly HashSet<string> _allowed = options.Value.AllowedOrigins
        .Where(o => o != "*")
        .Select(o => o.TrimEnd('/'))
        .ToHashSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>Null when <paramref name="request"/> may proceed; else the sentence to answer with 403.</summary>
    public string? Check(HttpRequest request)
    {
        var origin = request.Headers.Origin.ToString();
        if (origin.Length == 0 || _any || _allowed.Contains(origin))
        {
            return null;
        }

        // Same origin: the page was served by this gateway (scheme and host as the browser addressed it).
        var own = $"{request.Scheme}://{request.Host.Value}";
        if (string.Equals(origin, own, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        return $"Origin '{Protocol.ClientMessageParser.Shorten(origin)}' may not use this server: only pages from {own} and the origins in Tivo:Gateway:AllowedOrigins may (add it there, or * for any).";
    }
}
