using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tivo.Gateway.Protocol;

/// <summary>One entry of <c>GET /channels</c>.</summary>
internal sealed record ChannelDto(string Name, string First, string Last, long Count);

/// <summary>The answer of <c>GET /channels/{channel}/histogram</c>: nonzero seconds only.</summary>
internal sealed record HistogramDto(string Channel, string Start, string End, int Seconds, long Total, IReadOnlyList<HistogramBinDto> Bins);

/// <summary>One second of a histogram.</summary>
internal sealed record HistogramBinDto(string T, int Count);

/// <summary>An HTTP error body: the same code vocabulary as the socket's <c>error</c> messages.</summary>
internal sealed record HttpErrorDto(string Code, string Message);

/// <summary>The answer to a successful ingest.</summary>
internal sealed record IngestResultDto(string Channel, int Accepted, string First, string Last);

/// <summary>A refused ingest: the line at fault; nothing was written.</summary>
internal sealed record IngestErrorDto(string Code, string Message, int Line);

/// <summary>One event to ingest (a JSON array of these, or NDJSON with one per line): <c>ts</c> ISO-8601 with Z or an
/// offset (or epoch milliseconds), <c>data</c> any JSON value, stored verbatim. Also one row of the export.</summary>
internal sealed record EventRowDto(string Ts, JsonElement Data);

/// <summary>Source-generated JSON for the HTTP routes (camelCase, as on the socket).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ChannelDto[]))]
[JsonSerializable(typeof(ChannelDto))]
[JsonSerializable(typeof(HistogramDto))]
[JsonSerializable(typeof(HttpErrorDto))]
[JsonSerializable(typeof(IngestResultDto))]
[JsonSerializable(typeof(IngestErrorDto))]
[JsonSerializable(typeof(EventRowDto[]))]
internal sealed partial class ProtocolJsonContext : JsonSerializerContext;
