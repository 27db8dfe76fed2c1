using Tivo.GrainInterfaces;

namespace Tivo.Gateway.Protocol;

/// <summary>The names protocol v1 gives the grains' enums; the only place they are spelled.</summary>
internal static class WireNames
{
    public const string Controller = "controller";
    public const string Viewer = "viewer";

    public static string Of(SessionStatus status) => status switch
    {
        SessionStatus.Playing => "playing",
        SessionStatus.Paused => "paused",
        SessionStatus.Stopped => "stopped",
        SessionStatus.Ended => "ended",
        SessionStatus.Buffering => "buffering",
        _ => "idle",
    };

    public static string Of(ParticipantRole role) => role == ParticipantRole.Viewer ? Viewer : Controller;

    /// <summary>Reads <c>controller</c> or <c>viewer</c> (exactly, as on the wire).</summary>
    public static bool TryParseRole(string text, out ParticipantRole role)
    {
        (var ok, role) = text switch
        {
            Controller => (true, ParticipantRole.Controller),
            Viewer => (true, ParticipantRole.Viewer),
            _ => (false, ParticipantRole.Viewer),
        };
        return ok;
    }

    /// <summary>Every status name, for documents that list them (docs/asyncapi.yaml).</summary>
    public static IEnumerable<string> Statuses => Enum.GetValues<SessionStatus>().Select(Of);
}
