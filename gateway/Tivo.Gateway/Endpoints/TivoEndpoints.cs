using Tivo.Events;
using System.Net.WebSockets;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Tivo.Gateway.Connections;
using Tivo.Gateway.Protocol;
using Tivo.Gateway.Security;
using Tivo.GrainInterfaces;
using Tivo.Events.Ingest;

namespace Tivo.Gateway.Endpoints;

/// <summary>Maps the WebSocket endpoints and the HTTP API of protocol v1.</summary>
internal static partial class TivoEndpoints
{
    /// <summary>Longest histogram window, in seconds (31 days).</summary>
    public const long MaxHistogramSeconds = 31L * 24 * 3600;

    public static IEndpointRouteBuilder MapTivo(this IEndpointRouteBuilder app)
    {
        // Sockets check their token themselves (a viewer token may watch); HTTP routes through filters. The socket's
        // protocol is described by docs/asyncapi.yaml, so its upgrade routes stay out of the OpenAPI document.
        app.Map("/ws", (HttpContext context) => AcceptAsync(context, null)).ExcludeFromDescription();
        var viewer = (EndpointFilterFactoryContext _, EndpointFilterDelegate next) => TokenAccess.Require(ParticipantRole.Viewer, next);

        app.MapGet("/channels", ListChannelsAsync)
            .WithName("ListChannels").WithTags("channels")
            .WithSummary("Every channel with its extent")
            .WithDescription("The channels the store holds, each with its first and last event (ISO-8601 UTC) and its event count.")
            .Produces<ChannelDto[]>().WithErrors(StatusCodes.Status401Unauthorized, StatusCodes.Status503ServiceUnavailable)
            .AddEndpointFilterFactory(viewer);

        // A Func rather than a lambda: as a RequestDelegate it would get no route-handler (OpenAPI) metadata. Handlers
        // take the route's raw channel only to document it; ChannelRoute decodes the name once from the raw path.
        Func<HttpContext, string, Task> channelRoute = (context, channel) =>
            context.WebSockets.IsWebSocketRequest ? AcceptAsync(context, ChannelRoute.Name(context)) : ChannelInfoAsync(context, ChannelRoute.Name(context));
        app.MapGet("/channels/{channel}", channelRoute)
            .WithName("GetChannel").WithTags("channels")
            .WithSummary("One channel's extent (a WebSocket upgrade here joins a playback session instead)")
            .WithDescription("The channel name is one path segment, percent-encoded (a/b is a%2Fb).")
            .Produces<ChannelDto>().WithErrors(StatusCodes.Status401Unauthorized, StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable);

        app.MapGet("/channels/{channel}/histogram", HistogramAsync)
            .WithName("GetHistogram").WithTags("channels")
            .WithSummary("Event counts of a window in bins of step seconds")
            .WithDescription("start and end (ISO-8601 with Z or an offset) default to the channel's extent; at most 31 days; step 1 to 86400 (default 1). Nonzero bins only.")
            .Produces<HistogramDto>().WithErrors(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable)
            .AddEndpointFilterFactory(viewer);

        app.MapGet("/channels/{channel}/events", async (HttpContext context, IClusterClient client, string channel, string? start, string? end, string? format, string? limit, string? after) =>
                await ExportEndpoint.HandleAsync(context, client, start, end, format, limit, after) ?? Results.Empty)
            .WithName("ExportEvents").WithTags("events")
            .WithSummary("Export a window's stored events, streamed")
            .WithDescription("The window's rows in time order, exactly as playback delivers them: NDJSON of {ts, data} (default) or CSV (format=csv: ts, then the payload's fields, flattened one level, columns from the first 1,000 rows). " +
                "start/end default to the channel's extent. limit caps the rows of one response; the next page starts after=TS~N (the last row's ts, and how many rows at exactly that ts were received).")
            .Produces<EventRowDto[]>(StatusCodes.Status200OK, "application/x-ndjson", "text/csv")
            .WithErrors(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable)
            .AddEndpointFilterFactory(viewer);

        app.MapPost("/channels/{channel}/events", IngestAsync)
            .WithName("IngestEvents").WithTags("events")
            .WithSummary("Ingest events into a channel (created if new)")
            .WithDescription("A JSON array or NDJSON of {ts, data}; the whole body is validated before one store write. At most Tivo:Gateway:MaxIngestBytes (16 MiB). Browser pages from other origins are refused unless Tivo:Gateway:AllowedOrigins lists them.")
            .Accepts<EventRowDto[]>("application/json", "application/x-ndjson")
            .Produces<IngestResultDto>()
            .Produces<IngestErrorDto>(StatusCodes.Status400BadRequest)
            .WithErrors(StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status503ServiceUnavailable)
            .AddEndpointFilterFactory((_, next) => TokenAccess.Require(ParticipantRole.Controller, next));

        app.MapHealthChecks("/healthz"); // ready: the cluster (and through it the store) answers
        app.MapHealthChecks("/livez", new Microsoft.AspNetCore.Diagnostics.HealthChecks.HealthCheckOptions { Predicate = _ => false }); // the process answers
        return app;
    }

    /// <summary>Declares the protocol's error body (<see cref="HttpErrorDto"/>) for each of <paramref name="statuses"/>.</summary>
    private static RouteHandlerBuilder WithErrors(this RouteHandlerBuilder builder, params int[] statuses)
    {
        foreach (var status in statuses)
        {
            builder.Produces<HttpErrorDto>(status);
        }

        return builder;
    }

    /// <summary>The 2016 prototype's endpoint (<c>Tivo:Gateway:Prototype:Channel</c>): a WebSocket upgrade at
    /// <c>/</c> plays that channel in the prototype's message shapes. A plain GET of <c>/</c> still gets the demo page.</summary>
    public static IApplicationBuilder UsePrototypeEndpoint(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var channel = context.RequestServices.GetRequiredService<IOptions<GatewayOptions>>().Value.Prototype.Channel;
        if (!string.IsNullOrEmpty(channel) && context.Request.Path == "/" && context.WebSockets.IsWebSocketRequest)
        {
            await AcceptAsync(context, channel, new PrototypeWireFormat());
            return;
        }

        await next(context);
    });

    private static async Task AcceptAsync(HttpContext context, string? pathChannel, WireFormat? format = null)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await WriteError(context, StatusCodes.Status400BadRequest, ErrorCodes.BadRequest,
                "This endpoint speaks WebSocket: connect with ws://host/ws?channel=NAME (see docs/protocol.md).");
            return;
        }

        var options = context.RequestServices.GetRequiredService<IOptions<GatewayOptions>>().Value;
        if (context.RequestServices.GetRequiredService<OriginPolicy>().Check(context.Request) is { } refused)
        {
            await WriteError(context, StatusCodes.Status403Forbidden, ErrorCodes.Forbidden, refused);
            return;
        }

        var channels = new List<string>();
        if (pathChannel is not null)
        {
            channels.Add(pathChannel);
        }

        channels.AddRange(context.Request.Query["channel"].Where(c => c is not null)!);
        foreach (var channel in channels)
        {
            if (ClientMessageParser.ChannelNameError(channel) is { } problem)
            {
                await WriteError(context, StatusCodes.Status400BadRequest, ErrorCodes.BadRequest, problem);
                return;
            }
        }

        var session = context.Request.Query["session"].ToString();
        if (session.Length == 0)
        {
            session = "s-" + Guid.NewGuid().ToString("n");
        }
        else if (!SessionIdPattern().IsMatch(session))
        {
            await WriteError(context, StatusCodes.Status400BadRequest, ErrorCodes.BadRequest,
                "The session id must be 1–128 characters of letters, digits, '-', '_' or '.'.");
            return;
        }

        if (context.RequestServices.GetRequiredService<TokenAccess>().Authenticate(context.Request, out var denied) is not { } granted)
        {
            await WriteError(context, StatusCodes.Status401Unauthorized, ErrorCodes.Unauthorized, denied!);
            return;
        }

        var roleText = context.Request.Query["role"].ToString();
        var role = granted;
        if (roleText.Length > 0 && !WireNames.TryParseRole(roleText, out role))
        {
            await WriteError(context, StatusCodes.Status400BadRequest, ErrorCodes.BadRequest, "role must be controller or viewer.");
            return;
        }

        if (!TokenAccess.Allows(granted, role))
        {
            await WriteError(context, StatusCodes.Status403Forbidden, ErrorCodes.Forbidden, $"This token allows {WireNames.Of(granted)} access only; connect without role=controller.");
            return;
        }

        long? lastSeq = null;
        var lastSeqText = context.Request.Query["lastSeq"].ToString();
        if (lastSeqText.Length > 0)
        {
            if (!long.TryParse(lastSeqText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var parsed))
            {
                await WriteError(context, StatusCodes.Status400BadRequest, ErrorCodes.BadRequest, "lastSeq must be the seq of the last event received (a whole number ≥ 0).");
                return;
            }

            lastSeq = parsed;
        }

        var lead = TimeSpan.Zero;
        var leadText = context.Request.Query["lead"].ToString();
        if (leadText.Length > 0)
        {
            if (!double.TryParse(leadText, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var ms) || !double.IsFinite(ms))
            {
                await WriteError(context, StatusCodes.Status400BadRequest, ErrorCodes.BadRequest, "lead must be a number of milliseconds, 0 (off) to 1000.");
                return;
            }

            if (ClientMessageParser.LeadError(ms) is { } leadError)
            {
                await WriteError(context, StatusCodes.Status400BadRequest, ErrorCodes.BadRequest, leadError.Replace("\"lead\"", "lead", StringComparison.Ordinal));
                return;
            }

            lead = TimeSpan.FromMilliseconds(ms);
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            KeepAliveInterval = options.KeepAliveInterval,
            KeepAliveTimeout = options.KeepAliveTimeout,
        });
        var connection = context.RequestServices.GetRequiredService<PlaybackConnectionFactory>()
            .Create(socket, session, channels.Distinct(StringComparer.Ordinal).ToList(), role, lastSeq, format ?? WireFormat.V1);
        connection.UseLead(lead);
        var lifetime = context.RequestServices.GetRequiredService<IHostApplicationLifetime>();
        await connection.RunAsync(context.RequestAborted, lifetime.ApplicationStopping);
    }

    // A store outage anywhere below (StoreUnavailableGrainException) is answered once, by TivoExceptionHandler: 503 store_unavailable.
    private static async Task<IResult> ListChannelsAsync(IClusterClient client)
    {
        var channels = await client.GetGrain<ICatalogGrain>(0).ListChannels();
        return TypedResults.Json(channels.Select(ToDto).ToArray(), ProtocolJsonContext.Default.ChannelDtoArray);
    }

    private static async Task ChannelInfoAsync(HttpContext context, string channel)
    {
        if (context.RequestServices.GetRequiredService<TokenAccess>().Authenticate(context.Request, out var denied) is null)
        {
            await WriteError(context, StatusCodes.Status401Unauthorized, ErrorCodes.Unauthorized, denied!);
            return;
        }

        var client = context.RequestServices.GetRequiredService<IClusterClient>();
        var found = await client.GetGrain<ICatalogGrain>(0).FindChannel(channel);
        IResult result = found is null
            ? Error(StatusCodes.Status404NotFound, ErrorCodes.UnknownChannel, $"Unknown channel '{ClientMessageParser.Shorten(channel)}'. GET /channels lists them.")
            : TypedResults.Json(ToDto(found), ProtocolJsonContext.Default.ChannelDto);
        await result.ExecuteAsync(context);
    }

    private static async Task<IResult> HistogramAsync(HttpContext context, IClusterClient client, [FromRoute(Name = "channel")] string rawChannel, string? start, string? end, string? step)
    {
        var channel = ChannelRoute.Name(context);
        // step is read here rather than bound as int?, so "step=abc" gets this error body and not an empty 400.
        var stepSeconds = 1;
        if (step is not null && (!int.TryParse(step, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out stepSeconds) || stepSeconds is < 1 or > 86400))
        {
            return Error(StatusCodes.Status400BadRequest, ErrorCodes.BadRequest, $"step '{ClientMessageParser.Shorten(step)}' is not a whole number of seconds per bin from 1 to 86400.");
        }

        var window = WindowQuery.Parse(channel, await client.GetGrain<ICatalogGrain>(0).FindChannel(channel), start, end);
        if (window.Window is not var (startTicks, endTicks))
        {
            return window.Error!;
        }

        // Whole seconds: a window reaching into 9999-12-31's last second ends at the last whole second there is.
        var fromSecond = TimeUtil.SecondOf(startTicks);
        var toSecond = Math.Min(TimeUtil.SecondOf(endTicks - 1) + 1, TimeUtil.SecondOf(TimeUtil.MaxTicks));
        if (toSecond <= fromSecond)
        {
            return Error(StatusCodes.Status400BadRequest, ErrorCodes.BadRequest, $"The window must end before {TimeUtil.ToIso(TimeUtil.MaxTicks)}, the last whole second Tivo can bin.");
        }

        if (toSecond - fromSecond > MaxHistogramSeconds)
        {
            return Error(StatusCodes.Status400BadRequest, ErrorCodes.BadRequest, $"The window spans {toSecond - fromSecond} seconds; a histogram covers at most {MaxHistogramSeconds} (31 days). Narrow start/end.");
        }

        var bins = await client.GetGrain<IChannelGrain>(channel).GetHistogram(fromSecond, toSecond, stepSeconds);
        return TypedResults.Json(new HistogramDto(
            channel,
            TimeUtil.ToIso(TimeUtil.TicksOfSecond(fromSecond)),
            TimeUtil.ToIso(TimeUtil.TicksOfSecond(toSecond)),
            (int)(toSecond - fromSecond),
            bins.Sum(b => (long)b.Count),
            [.. bins.Select(b => new HistogramBinDto(TimeUtil.ToIso(TimeUtil.TicksOfSecond(b.Second)), b.Count))]),
            ProtocolJsonContext.Default.HistogramDto);
    }

    /// <summary>Ingest: a JSON array or NDJSON of {ts, data}; all validated before one store write.</summary>
    private static async Task<IResult> IngestAsync(HttpContext context, IClusterClient client, IOptions<GatewayOptions> options, OriginPolicy origins, [FromRoute(Name = "channel")] string rawChannel)
    {
        var channel = ChannelRoute.Name(context);
        if (origins.Check(context.Request) is { } refused)
        {
            return Error(StatusCodes.Status403Forbidden, ErrorCodes.Forbidden, refused);
        }

        // Only JSON bodies: a browser form or a text/plain "simple request" from another site cannot be one
        // (RFC 6838 media types, parameters such as charset allowed).
        var mediaType = context.Request.ContentType is { } contentType && Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var parsed)
            ? parsed.MediaType.Value
            : null;
        if (!string.Equals(mediaType, "application/json", StringComparison.OrdinalIgnoreCase) &&
            !string.Equals(mediaType, "application/x-ndjson", StringComparison.OrdinalIgnoreCase))
        {
            return Error(StatusCodes.Status415UnsupportedMediaType, ErrorCodes.BadRequest,
                $"Content-Type '{ClientMessageParser.Shorten(context.Request.ContentType ?? "")}' is not accepted: send application/json (an array) or application/x-ndjson (one event per line).");
        }

        if (ClientMessageParser.ChannelNameError(channel) is { } problem)
        {
            return Error(StatusCodes.Status400BadRequest, ErrorCodes.BadRequest, problem);
        }

        var limit = options.Value.MaxIngestBytes;
        if (context.Request.ContentLength > limit)
        {
            return Error(StatusCodes.Status413PayloadTooLarge, ErrorCodes.TooLarge, $"The body is {context.Request.ContentLength} bytes; at most {limit} are accepted per request (Tivo:Gateway:MaxIngestBytes). Split the upload.");
        }

        using var body = new MemoryStream();
        var buffer = new byte[81920];
        int read;
        while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
        {
            if (body.Length + read > limit)
            {
                return Error(StatusCodes.Status413PayloadTooLarge, ErrorCodes.TooLarge, $"The body exceeds {limit} bytes (Tivo:Gateway:MaxIngestBytes). Split the upload.");
            }

            body.Write(buffer, 0, read);
        }

        List<StoredEvent> events;
        try
        {
            events = EventFileReader.ReadJson(body.GetBuffer().AsSpan(0, (int)body.Length));
        }
        catch (IngestFormatException ex)
        {
            return TypedResults.Json(new IngestErrorDto(ErrorCodes.BadRequest, $"Nothing was written: {ex.Message}", ex.Line),
                ProtocolJsonContext.Default.IngestErrorDto, statusCode: StatusCodes.Status400BadRequest);
        }

        if (events.Count == 0)
        {
            return Error(StatusCodes.Status400BadRequest, ErrorCodes.BadRequest, "The body holds no events: send a JSON array or NDJSON of {\"ts\",\"data\"}.");
        }

        try
        {
            var written = await client.GetGrain<IChannelGrain>(channel).Append([.. events.Select(e => new ChunkEvent(e.Ticks, e.Data))]);
            return TypedResults.Json(new IngestResultDto(channel, written, TimeUtil.ToIso(events.Min(e => e.Ticks)), TimeUtil.ToIso(events.Max(e => e.Ticks))),
                ProtocolJsonContext.Default.IngestResultDto);
        }
        catch (NotSupportedException ex)
        {
            return Error(StatusCodes.Status400BadRequest, ErrorCodes.BadRequest, ex.Message);
        }
    }

    private static ChannelDto ToDto(ChannelSummary c) => new(c.Name, TimeUtil.ToIso(c.FirstTicks), TimeUtil.ToIso(c.LastTicks), c.Count);

    private static JsonHttpResult<HttpErrorDto> Error(int status, string code, string message) => TivoHttpErrors.Error(status, code, message);

    private static Task WriteError(HttpContext context, int status, string code, string message) =>
        Error(status, code, message).ExecuteAsync(context);

    [GeneratedRegex(@"\A[A-Za-z0-9._-]{1,128}\z")]
    private static partial Regex SessionIdPattern();
}

/// <summary>HTTP errors in the protocol's shape: <c>{"code","message"}</c> with a status.</summary>
internal static class TivoHttpErrors
{
    public static JsonHttpResult<HttpErrorDto> Error(int status, string code, string message) =>
        TypedResults.Json(new HttpErrorDto(code, message), ProtocolJsonContext.Default.HttpErrorDto, statusCode: status);
}

/// <summary>
/// The channel named by a <c>/channels/{channel}…</c> path, decoded exactly once. Kestrel decodes a path
/// except <c>%2F</c> (so route values keep <c>a%2Fb</c> encoded, and a second decode would turn <c>%252F</c>
/// into <c>/</c>): the segment is taken from the raw request target and unescaped here, so channel
/// <c>valve ß/2</c> is <c>/channels/valve%20%C3%9F%2F2</c> on every route.
/// </summary>
internal static class ChannelRoute
{
    public static string Name(HttpContext context)
    {
        var raw = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "";
        var path = raw.Split('?', 2)[0];
        var segments = path.Split('/');
        var at = Array.IndexOf(segments, "channels");
        var segment = at >= 0 && at + 1 < segments.Length ? segments[at + 1] : "";
        return Uri.UnescapeDataString(segment);
    }
}

/// <summary>The <c>start</c>/<c>end</c> of a channel route (histogram, export): ISO-8601 with Z or an offset,
/// defaulting to the channel's extent, refused with the same coded errors as playback.</summary>
internal readonly record struct WindowQuery((long Start, long End)? Window, IResult? Error)
{
    public static WindowQuery Parse(string channel, ChannelSummary? extent, string? start, string? end)
    {
        if (extent is null)
        {
            return Fail(StatusCodes.Status404NotFound, ErrorCodes.UnknownChannel, $"Unknown channel '{ClientMessageParser.Shorten(channel)}'. GET /channels lists them.");
        }

        long from = extent.FirstTicks, to = extent.LastTicks + 1;
        if (start is not null && !TimeUtil.TryParseIso(start, out from))
        {
            return Fail(StatusCodes.Status400BadRequest, ErrorCodes.BadRequest, $"start '{ClientMessageParser.Shorten(start)}' is not an ISO-8601 time with Z or an offset, such as 2016-01-15T14:00:00Z.");
        }

        if (end is not null && !TimeUtil.TryParseIso(end, out to))
        {
            return Fail(StatusCodes.Status400BadRequest, ErrorCodes.BadRequest, $"end '{ClientMessageParser.Shorten(end)}' is not an ISO-8601 time with Z or an offset, such as 2016-01-15T15:00:00Z.");
        }

        return to <= from
            ? Fail(StatusCodes.Status400BadRequest, ErrorCodes.BadRequest, $"end ({TimeUtil.ToIso(to)}) must be after start ({TimeUtil.ToIso(from)}): the window is [start, end).")
            : new WindowQuery((from, to), null);
    }

    private static WindowQuery Fail(int status, string code, string message) => new(null, TivoHttpErrors.Error(status, code, message));
}
