using Tivo.Events;
using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using System.Xml;
using Tivo.GrainInterfaces;

namespace Tivo.Gateway.Protocol;

/// <summary>A parsed, validated client command of wire protocol v1: one record per action, produced only by
/// <see cref="ClientMessageParser"/>. <see cref="IdJson"/> is the message's <c>id</c> as raw JSON, echoed in the reply.</summary>
internal abstract record ClientCommand(string? IdJson)
{
    /// <summary>Every action of protocol v1, as written on the wire.</summary>
    public static readonly IReadOnlyList<string> Actions = ["play", "pause", "resume", "stop", "status", "seek", "speed"];

    /// <summary>The action as written on the wire.</summary>
    public abstract string Action { get; }

    /// <summary>False for the commands a viewer may send (only <c>status</c>).</summary>
    public virtual bool Controls => true;
}

/// <summary><c>play</c>: a window (null ends: the channels' extent, or live without an end) at a speed, pacing and loop.</summary>
internal sealed record PlayCommand(
    string? IdJson, long? Start, long? End, double Speed, bool Loop, double? Duration, double? Rate, double? MaxGap, ImmutableArray<string> Channels,
    TimeSpan? Lead = null)
    : ClientCommand(IdJson)
{
    public override string Action => "play";

    /// <summary>The session's play; <paramref name="lead"/> is the sending connection's lead in force (the session hands events
    /// on further ahead for it).</summary>
    public PlayRequest ToRequest(TimeSpan lead) => new(Channels.IsDefault ? [] : Channels, Start, End, Speed, Loop, Duration, Rate, MaxGap, lead.TotalMilliseconds);
}

internal sealed record PauseCommand(string? IdJson) : ClientCommand(IdJson)
{
    public override string Action => "pause";
}

internal sealed record ResumeCommand(string? IdJson) : ClientCommand(IdJson)
{
    public override string Action => "resume";
}

internal sealed record StopCommand(string? IdJson) : ClientCommand(IdJson)
{
    public override string Action => "stop";
}

/// <summary><c>status</c>: the session's state, answered to this connection only; viewers may ask.</summary>
internal sealed record StatusCommand(string? IdJson) : ClientCommand(IdJson)
{
    public override string Action => "status";

    public override bool Controls => false;
}

/// <summary><c>seek</c>: move the playhead to stream time <see cref="To"/> (UTC ticks).</summary>
internal sealed record SeekCommand(string? IdJson, long To) : ClientCommand(IdJson)
{
    public override string Action => "seek";
}

/// <summary><c>speed</c>: change the speed factor from now on.</summary>
internal sealed record SpeedCommand(string? IdJson, double Speed) : ClientCommand(IdJson)
{
    public override string Action => "speed";
}

/// <summary>Why a client message was refused: an error code, a sentence a person can act on, and the id if one was readable.</summary>
internal sealed record ClientMessageError(string Code, string Message, string? IdJson);

/// <summary>
/// Parses client text frames. Written against <see cref="JsonDocument"/> rather than a bound DTO so
/// each refusal can name the field and what was wrong with it. Unknown fields are ignored so newer
/// clients keep working; unknown actions are refused.
/// </summary>
internal static class ClientMessageParser
{
    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 16 };

    public const int MaxChannelNameLength = 200;

    /// <summary>Smallest accepted <c>duration</c> and <c>maxGap</c> (seconds) and <c>rate</c> (events per second).
    /// Below it numbers stop being meaningful playback (and denormals such as 5e-324 overflow the pacing arithmetic).</summary>
    public const double MinPacingValue = 0.001;

    /// <summary>Largest accepted <c>duration</c> and <c>maxGap</c> (seconds, ≈ 31 years) and <c>rate</c> (events per second).</summary>
    public const double MaxPacingValue = 1e9;

    internal const string LoneSurrogateMessage =
        "The message holds a string with an invalid \\u escape (a lone UTF-16 surrogate such as \\ud800); send valid Unicode text.";

    public static bool TryParse(ReadOnlyMemory<byte> utf8, out ClientCommand? message, out ClientMessageError? error)
    {
        message = null;
        error = null;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8, DocumentOptions);
        }
        catch (JsonException ex)
        {
            error = new(ErrorCodes.BadRequest, $"The message is not valid JSON ({Shorten(ex.Message)}). Send one JSON object per text frame, e.g. {{\"action\":\"status\"}}.", null);
            return false;
        }

        using (document)
        {
            try
            {
                return TryParseRoot(document.RootElement, out message, out error);
            }
            catch (InvalidOperationException)
            {
                // JsonElement.GetString refuses escapes that are not valid UTF-16 (a lone surrogate such as \ud800).
                error = new(ErrorCodes.BadRequest, LoneSurrogateMessage, null);
                return false;
            }
        }
    }

    private static bool TryParseRoot(JsonElement root, out ClientCommand? message, out ClientMessageError? error)
    {
        message = null;
        error = null;
        if (root.ValueKind != JsonValueKind.Object)
        {
            error = new(ErrorCodes.BadRequest, $"The message must be a JSON object with an \"action\", not a {Kind(root)}.", null);
            return false;
        }

        string? id = null;
        if (root.TryGetProperty("id", out var idElement))
        {
            if (idElement.ValueKind is not (JsonValueKind.String or JsonValueKind.Number))
            {
                error = new(ErrorCodes.BadRequest, $"\"id\" must be a string or a number, not a {Kind(idElement)}.", null);
                return false;
            }

            if (idElement.ValueKind == JsonValueKind.String && idElement.GetString()!.Length > 200)
            {
                error = new(ErrorCodes.BadRequest, "\"id\" is longer than 200 characters.", null);
                return false;
            }

            id = idElement.GetRawText();
        }

        try
        {
            message = ParseAction(root, id);
            return true;
        }
        catch (FieldException ex)
        {
            error = new(ErrorCodes.BadRequest, ex.Message, id);
            return false;
        }
        catch (InvalidOperationException)
        {
            // JsonElement.GetString refuses escapes that are not valid UTF-16 (a lone surrogate such as \ud800).
            error = new(ErrorCodes.BadRequest, LoneSurrogateMessage, id);
            return false;
        }
    }

    private static ClientCommand ParseAction(JsonElement root, string? id)
    {
        var hasAction = root.TryGetProperty("action", out var actionElement) || root.TryGetProperty("command", out actionElement);
        if (!hasAction)
        {
            throw new FieldException("The message has no \"action\". Use one of: play, pause, resume, seek, speed, stop, status.");
        }

        if (actionElement.ValueKind != JsonValueKind.String)
        {
            throw new FieldException($"\"action\" must be a string such as \"play\", not a {Kind(actionElement)}.");
        }

        var name = actionElement.GetString()!;
        switch (name.ToLowerInvariant())
        {
            case "play":
                var start = OptionalTime(root, "start");
                var end = OptionalTime(root, "end");
                if (start is { } s && end is { } e && e <= s)
                {
                    throw new FieldException($"\"end\" ({TimeUtil.ToIso(e)}) must be after \"start\" ({TimeUtil.ToIso(s)}): the window is [start, end).");
                }

                var duration = OptionalDuration(root, "duration");
                var rate = OptionalPositive(root, "rate", "events per second");
                var maxGap = OptionalDuration(root, "maxGap");
                return new PlayCommand(id, start, end, OptionalNumber(root, "speed") ?? 1, OptionalBool(root, "loop") ?? false,
                    duration, rate, maxGap, OptionalChannels(root), OptionalLead(root));
            case "seek":
                return new SeekCommand(id, OptionalTime(root, "to") ?? throw new FieldException("seek needs \"to\": the stream time to move to, e.g. \"2016-01-15T14:33:00Z\"."));
            case "speed":
                return new SpeedCommand(id, OptionalNumber(root, "speed") ?? throw new FieldException("The speed action needs \"speed\": a number such as 2 (twice real time)."));
            case "pause":
                return new PauseCommand(id);
            case "resume":
                return new ResumeCommand(id);
            case "stop":
                return new StopCommand(id);
            case "status":
                return new StatusCommand(id);
            default:
                throw new FieldException($"Unknown action \"{Shorten(name)}\". Use one of: play, pause, resume, seek, speed, stop, status.");
        }
    }

    /// <summary>Largest <c>lead</c> (ms) a connection may ask for.</summary>
    public const double MaxLeadMs = 1000;

    private static TimeSpan? OptionalLead(JsonElement root)
    {
        var value = OptionalNumber(root, "lead");
        if (value is { } ms && LeadError(ms) is { } error)
        {
            throw new FieldException(error);
        }

        return value is { } lead ? TimeSpan.FromMilliseconds(lead) : null;
    }

    /// <summary>Why <paramref name="ms"/> is no lead (null: it is one). The connect query's <c>lead</c> says the same.</summary>
    public static string? LeadError(double ms) => ms is >= 0 and <= MaxLeadMs
        ? null
        : $"\"lead\" is how many milliseconds ahead of their due events may be sent (the client releases them then): 0 (off) to {MaxLeadMs.ToString(CultureInfo.InvariantCulture)}; got {ms.ToString("R", CultureInfo.InvariantCulture)}.";

    private static long? OptionalTime(JsonElement root, string field)
    {
        if (!root.TryGetProperty(field, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (element.ValueKind != JsonValueKind.String)
        {
            throw new FieldException($"\"{field}\" must be an ISO-8601 time string such as \"2016-01-15T14:32:24Z\", not a {Kind(element)}.");
        }

        var text = element.GetString();
        if (!TimeUtil.TryParseIso(text, out var ticks))
        {
            throw new FieldException($"\"{field}\" is not a time I can read: \"{Shorten(text ?? "")}\". Use ISO-8601, e.g. \"2016-01-15T14:32:24Z\".");
        }

        return ticks;
    }

    private static double? OptionalNumber(JsonElement root, string field)
    {
        if (!root.TryGetProperty(field, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (element.ValueKind != JsonValueKind.Number || !element.TryGetDouble(out var value) || !double.IsFinite(value))
        {
            throw new FieldException($"\"{field}\" must be a finite number, not a {Kind(element)}{(element.ValueKind == JsonValueKind.String ? $" (\"{Shorten(element.GetString()!)}\")" : "")}.");
        }

        return value;
    }

    private static double? OptionalPositive(JsonElement root, string field, string unit)
    {
        var value = OptionalNumber(root, field);
        if (value is < MinPacingValue or > MaxPacingValue)
        {
            throw new FieldException($"\"{field}\" must be from {MinPacingValue.ToString(CultureInfo.InvariantCulture)} to 1e9 ({unit}); got {value.Value.ToString("R", CultureInfo.InvariantCulture)}.");
        }

        return value;
    }

    /// <summary>Seconds as a number, or an ISO-8601 duration string such as PT1M.</summary>
    private static double? OptionalDuration(JsonElement root, string field)
    {
        if (!root.TryGetProperty(field, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        double seconds;
        if (element.ValueKind == JsonValueKind.String)
        {
            var text = element.GetString()!;
            try
            {
                seconds = XmlConvert.ToTimeSpan(text).TotalSeconds;
            }
            catch (FormatException)
            {
                throw new FieldException($"\"{field}\" is not a duration I can read: \"{Shorten(text)}\". Use seconds (60) or ISO-8601 (\"PT1M\").");
            }
            catch (OverflowException)
            {
                // Found by the fuzzer: "P99999999D" overflowed TimeSpan and the exception ended the connection.
                throw new FieldException($"\"{field}\" is longer than any duration Tivo can play: \"{Shorten(text)}\". Use at most 1e9 seconds.");
            }
        }
        else if (element.ValueKind == JsonValueKind.Number && element.TryGetDouble(out var number) && double.IsFinite(number))
        {
            seconds = number;
        }
        else
        {
            throw new FieldException($"\"{field}\" must be seconds (a number) or an ISO-8601 duration string such as \"PT1M\", not a {Kind(element)}.");
        }

        if (!(seconds >= MinPacingValue && seconds <= MaxPacingValue))
        {
            throw new FieldException($"\"{field}\" must be from {MinPacingValue.ToString(CultureInfo.InvariantCulture)} to 1e9 seconds; got {seconds.ToString("R", CultureInfo.InvariantCulture)}.");
        }

        return seconds;
    }

    /// <summary>A JSON boolean, or the strings "True"/"False" (any case) as the original prototype sent.</summary>
    private static bool? OptionalBool(JsonElement root, string field)
    {
        if (!root.TryGetProperty(field, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return element.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.String when bool.TryParse(element.GetString(), out var b) => b,
            _ => throw new FieldException($"\"{field}\" must be true or false (or the strings \"True\"/\"False\"), not {Describe(element)}."),
        };
    }

    private static ImmutableArray<string> OptionalChannels(JsonElement root)
    {
        if (!root.TryGetProperty("channels", out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        if (element.ValueKind != JsonValueKind.Array)
        {
            throw new FieldException($"\"channels\" must be an array of channel names such as [\"taxi\"], not a {Kind(element)}.");
        }

        var builder = ImmutableArray.CreateBuilder<string>();
        foreach (var item in element.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
            {
                throw new FieldException($"\"channels\" must hold channel names (strings), found a {Kind(item)}.");
            }

            var name = item.GetString()!;
            if (ChannelNameError(name) is { } problem)
            {
                throw new FieldException(problem);
            }

            builder.Add(name);
        }

        if (builder.Count > 64)
        {
            throw new FieldException($"\"channels\" names {builder.Count} channels; at most 64 can share one clock.");
        }

        return builder.ToImmutable();
    }

    /// <summary>Null when <paramref name="name"/> is an acceptable channel name, else why not.</summary>
    public static string? ChannelNameError(string name)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            return "A channel name is empty: name a channel, e.g. \"taxi\" (GET /channels lists them).";
        }

        if (name.Length > MaxChannelNameLength)
        {
            return $"A channel name is {name.Length} characters long; at most {MaxChannelNameLength} are allowed.";
        }

        if (name.Any(char.IsControl))
        {
            return "A channel name contains control characters; use printable characters only.";
        }

        return null;
    }

    private static string Kind(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => "value",
    };

    private static string Describe(JsonElement element) =>
        element.ValueKind == JsonValueKind.String ? $"the string \"{Shorten(element.GetString()!)}\"" : $"a {Kind(element)}";

    /// <summary>Echoes at most 60 characters of client text, without control characters.</summary>
    internal static string Shorten(string text)
    {
        var clean = new string(text.Select(c => char.IsControl(c) ? '?' : c).Take(60).ToArray());
        return text.Length > 60 ? clean + "…" : clean;
    }

    private sealed class FieldException(string message) : Exception(message);
}
