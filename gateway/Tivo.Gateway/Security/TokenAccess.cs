using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Tivo.Gateway.Endpoints;
using Tivo.Gateway.Protocol;
using Tivo.GrainInterfaces;

namespace Tivo.Gateway.Security;

/// <summary>A configured access token: what it may do (<c>controller</c> or <c>viewer</c>) and a name for logs.</summary>
public sealed class AccessToken
{
    public string Token { get; set; } = "";

    public ParticipantRole Role { get; set; } = ParticipantRole.Controller;

    public string? Name { get; set; }
}

/// <summary>
/// Token checks for sockets and HTTP routes. With no <c>Tivo:Gateway:Tokens</c> configured every client
/// is let in (a laptop, a trusted network). With tokens, a client presents one as <c>?token=</c> or
/// <c>Authorization: Bearer</c>; its role is the token's (a viewer token can never control), and a client
/// may ask for less (<c>role=viewer</c> with a controller token). Tokens are compared in constant time.
/// </summary>
internal sealed class TokenAccess
{
    private readonly List<(byte[] Token, ParticipantRole Role)> _tokens;

    public TokenAccess(IOptions<GatewayOptions> options) =>
        _tokens = [.. options.Value.Tokens.Select(t => (Encoding.UTF8.GetBytes(t.Token), t.Role))];

    public bool Enabled => _tokens.Count > 0;

    /// <summary>The role the request's token grants; null with an error sentence when it grants nothing.
    /// Without configured tokens every request is a controller.</summary>
    public ParticipantRole? Authenticate(HttpRequest request, out string? error)
    {
        error = null;
        if (!Enabled)
        {
            return ParticipantRole.Controller;
        }

        var presented = request.Query["token"].ToString();
        var header = request.Headers.Authorization.ToString();
        if (presented.Length == 0 && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            presented = header["Bearer ".Length..].Trim();
        }

        if (presented.Length == 0)
        {
            error = "This server requires an access token: add ?token=… to the URL or send Authorization: Bearer ….";
            return null;
        }

        var bytes = Encoding.UTF8.GetBytes(presented);
        ParticipantRole? role = null;
        foreach (var (token, tokenRole) in _tokens)
        {
            // Compare with every token, in constant time, so timing says nothing about which one matched.
            if (CryptographicOperations.FixedTimeEquals(token, bytes))
            {
                role = tokenRole;
            }
        }

        if (role is null)
        {
            error = "The access token is not valid for this server.";
        }

        return role;
    }

    public static bool Allows(ParticipantRole granted, ParticipantRole wanted) =>
        granted == ParticipantRole.Controller || wanted == ParticipantRole.Viewer;

    /// <summary>An endpoint filter: the route needs a token granting <paramref name="role"/>.</summary>
    public static EndpointFilterDelegate Require(ParticipantRole role, EndpointFilterDelegate next) => async context =>
    {
        var access = context.HttpContext.RequestServices.GetRequiredService<TokenAccess>();
        if (access.Authenticate(context.HttpContext.Request, out var error) is not { } granted)
        {
            return TivoHttpErrors.Error(StatusCodes.Status401Unauthorized, ErrorCodes.Unauthorized, error!);
        }

        if (!Allows(granted, role))
        {
            return TivoHttpErrors.Error(StatusCodes.Status403Forbidden, ErrorCodes.Forbidden, $"This token allows {WireNames.Of(granted)} access; this route needs a {WireNames.Of(role)} token.");
        }

        return await next(context);
    };
}
