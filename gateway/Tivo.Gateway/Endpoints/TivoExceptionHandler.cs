using Microsoft.AspNetCore.Diagnostics;
using Tivo.Gateway.Protocol;
using Tivo.GrainInterfaces;

namespace Tivo.Gateway.Endpoints;

/// <summary>
/// The one place an HTTP request's unhandled exception becomes a response in the protocol's error shape
/// (<c>{"code","message"}</c>): a store outage is 503 <c>store_unavailable</c>, a request Kestrel or binding
/// refused is 400 <c>bad_request</c> with its reason, anything else 500 <c>internal</c> (logged, never echoed).
/// </summary>
internal sealed partial class TivoExceptionHandler(ILogger<TivoExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (context.Response.HasStarted)
        {
            return false;
        }

        var result = exception switch
        {
            StoreUnavailableGrainException e => TivoHttpErrors.Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.StoreUnavailable,
                $"The event store is unavailable ({e.Message}); try again shortly."),
            BadHttpRequestException e => TivoHttpErrors.Error(e.StatusCode, e.StatusCode == StatusCodes.Status413PayloadTooLarge ? ErrorCodes.TooLarge : ErrorCodes.BadRequest,
                ClientMessageParser.Shorten(e.Message)),
            _ => null,
        };
        if (result is null)
        {
            LogUnhandled(logger, context.Request.Method, context.Request.Path, exception);
            result = TivoHttpErrors.Error(StatusCodes.Status500InternalServerError, ErrorCodes.Internal,
                $"The server failed to answer {context.Request.Method} {ClientMessageParser.Shorten(context.Request.Path.Value ?? "")}; the failure is logged. Try again; if it persists, report it.");
        }

        await result.ExecuteAsync(context);
        return true;
    }

    /// <summary>Gives an error status that has no body yet (an unknown route, a wrong method) the protocol's shape.</summary>
    public static async Task WriteEmptyStatusAsync(HttpContext context)
    {
        var code = context.Response.StatusCode < 400 ? StatusCodes.Status500InternalServerError : context.Response.StatusCode;
        var (errorCode, message) = code switch
        {
            StatusCodes.Status404NotFound => (ErrorCodes.BadRequest, $"No such route: {context.Request.Method} {ClientMessageParser.Shorten(context.Request.Path.Value ?? "")}. See GET /openapi/v1.json or docs/protocol.md."),
            StatusCodes.Status405MethodNotAllowed => (ErrorCodes.BadRequest, $"{context.Request.Method} is not allowed on {ClientMessageParser.Shorten(context.Request.Path.Value ?? "")}."),
            StatusCodes.Status401Unauthorized => (ErrorCodes.Unauthorized, "A valid token is needed."),
            StatusCodes.Status403Forbidden => (ErrorCodes.Forbidden, "This request is not allowed."),
            StatusCodes.Status413PayloadTooLarge => (ErrorCodes.TooLarge, "The request is too large."),
            StatusCodes.Status415UnsupportedMediaType => (ErrorCodes.BadRequest,
                $"Content-Type '{ClientMessageParser.Shorten(context.Request.ContentType ?? "")}' is not accepted by {context.Request.Method} {ClientMessageParser.Shorten(context.Request.Path.Value ?? "")}: ingest takes application/json (an array) or application/x-ndjson (one event per line); GET /openapi/v1.json lists every route's."),
            StatusCodes.Status429TooManyRequests => (ErrorCodes.RateLimited, "Too many requests; slow down."),
            >= 500 => (ErrorCodes.Internal, "The server failed to answer; try again."),
            _ => (ErrorCodes.BadRequest, $"The request was refused (HTTP {code})."),
        };
        await TivoHttpErrors.Error(code, errorCode, message).ExecuteAsync(context);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled exception answering {Method} {Path}")]
    private static partial void LogUnhandled(ILogger logger, string method, PathString path, Exception exception);
}
