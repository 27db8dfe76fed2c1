using Tivo.Events;
using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Tivo.Gateway.Protocol;
using Tivo.GrainInterfaces;

namespace Tivo.Gateway.Endpoints;

/// <summary>
/// <c>GET /channels/{channel}/events?start=&amp;end=&amp;format=ndjson|csv&amp;limit=&amp;after=</c>: a window's stored
/// rows in time order, exactly the rows playback would deliver, straight from the store (through a
/// <see cref="IExportGrain"/>, no session), streamed in constant memory.
/// </summary>
/// <remarks>
/// Paging: <c>limit</c> caps the rows of one response; the next page starts <c>after</c> the last row, written
/// <c>TS~N</c> where N is how many rows at exactly TS were already received (rows at equal times keep the store's
/// order), or just <c>TS</c> for "strictly after TS".
/// </remarks>
internal static class ExportEndpoint
{
    /// <summary>Rows read before the CSV header is fixed: its columns are the payload fields seen in them.</summary>
    public const int CsvHeaderRows = 1000;

    private const int FlushBytes = 64 * 1024;

    public static async Task<IResult?> HandleAsync(HttpContext context, IClusterClient client, string? start, string? end, string? format, string? limit, string? after)
    {
        var channel = ChannelRoute.Name(context);
        var csv = format switch
        {
            null or "ndjson" => false,
            "csv" => true,
            _ => (bool?)null,
        };
        if (csv is null)
        {
            return Error(StatusCodes.Status400BadRequest, ErrorCodes.BadRequest, $"format '{ClientMessageParser.Shorten(format!)}' is not ndjson (the default) or csv.");
        }

        var maxRows = long.MaxValue;
        if (limit is not null && (!long.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out maxRows) || maxRows < 1))
        {
            return Error(StatusCodes.Status400BadRequest, ErrorCodes.BadRequest, $"limit '{ClientMessageParser.Shorten(limit)}' is not a whole number of rows ≥ 1.");
        }

        long? afterTicks = null;
        var skip = int.MaxValue;
        if (after is not null)
        {
            var parts = after.Split('~', 2);
            if (!TimeUtil.TryParseIso(parts[0], out var at) || (parts.Length == 2 && !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out skip)))
            {
                return Error(StatusCodes.Status400BadRequest, ErrorCodes.BadRequest,
                    $"after '{ClientMessageParser.Shorten(after)}' is not a cursor: the last row's ts (ISO-8601), optionally ~N for how many rows at exactly that ts were received.");
            }

            afterTicks = at;
        }

        var window = WindowQuery.Parse(channel, await client.GetGrain<ICatalogGrain>(0).FindChannel(channel), start, end);
        if (window.Window is not var (from, to))
        {
            return window.Error;
        }

        var rows = client.GetGrain<IExportGrain>(Guid.NewGuid())
            .Read(new ExportRequest(channel, from, to, afterTicks, skip, maxRows))
            .WithBatchSize(1000);
        await using var enumerator = rows.GetAsyncEnumerator(context.RequestAborted);
        // The first rows are read before the response starts, so a store that is down is still a 503 with a body.
        var head = new List<ChunkEvent>();
        while (head.Count < (csv.Value ? CsvHeaderRows : 1) && await enumerator.MoveNextAsync())
        {
            head.Add(enumerator.Current);
        }

        context.Response.ContentType = csv.Value ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        var output = context.Response.BodyWriter;
        var columns = csv.Value ? CsvColumns(head) : null;
        if (columns is not null)
        {
            WriteCsvRow(output, ["ts", .. columns.Select(c => c.Name)]);
        }

        var pending = 0L;
        async Task WriteAsync(ChunkEvent row)
        {
            var before = output.UnflushedBytes;
            if (columns is null)
            {
                WriteNdjson(output, row);
            }
            else
            {
                WriteCsvRow(output, CsvValues(row, columns));
            }

            pending += output.UnflushedBytes - before;
            if (pending >= FlushBytes)
            {
                pending = 0;
                await output.FlushAsync(context.RequestAborted);
            }
        }

        foreach (var row in head)
        {
            await WriteAsync(row);
        }

        while (await enumerator.MoveNextAsync())
        {
            await WriteAsync(enumerator.Current);
        }

        await output.FlushAsync(context.RequestAborted);
        return null;
    }

    private static void WriteNdjson(IBufferWriter<byte> output, ChunkEvent row)
    {
        Span<char> ts = stackalloc char[40];
        TimeUtil.TryFormatIso(row.Ticks, ts, out var length);
        WriteUtf8(output, "{\"ts\":\"");
        WriteUtf8(output, ts[..length]);
        WriteUtf8(output, "\",\"data\":");
        WriteUtf8(output, row.Data);
        WriteUtf8(output, "}\n");
    }

    private static void WriteUtf8(IBufferWriter<byte> output, ReadOnlySpan<char> text)
    {
        var span = output.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        output.Advance(Encoding.UTF8.GetBytes(text, span));
    }

    /// <summary>A column of the CSV: a payload field (objects are flattened one level), or the whole payload
    /// (<c>data</c>) when the payloads are not objects.</summary>
    private sealed record CsvColumn(string Name, bool Whole);

    private static List<CsvColumn> CsvColumns(List<ChunkEvent> head)
    {
        var names = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var whole = false;
        foreach (var row in head)
        {
            using var document = JsonDocument.Parse(row.Data);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                whole = true;
                continue;
            }

            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (seen.Add(property.Name))
                {
                    names.Add(property.Name);
                }
            }
        }

        var columns = names.Select(n => new CsvColumn(n, false)).ToList();
        if (whole || columns.Count == 0)
        {
            columns.Add(new CsvColumn(seen.Contains("data") ? "_data" : "data", true));
        }

        return columns;
    }

    private static List<string> CsvValues(ChunkEvent row, List<CsvColumn> columns)
    {
        using var document = JsonDocument.Parse(row.Data);
        var root = document.RootElement;
        var values = new List<string>(columns.Count + 1) { TimeUtil.ToIso(row.Ticks) };
        foreach (var column in columns)
        {
            if (column.Whole)
            {
                values.Add(root.ValueKind == JsonValueKind.Object ? "" : Cell(root));
            }
            else
            {
                values.Add(root.ValueKind == JsonValueKind.Object && root.TryGetProperty(column.Name, out var value) ? Cell(value) : "");
            }
        }

        return values;
    }

    /// <summary>A JSON value as a CSV cell: strings as their text, null as empty, anything else as its JSON.</summary>
    private static string Cell(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.Null => "",
        _ => value.GetRawText(),
    };

    /// <summary>RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled; lines end CRLF.</summary>
    private static void WriteCsvRow(IBufferWriter<byte> output, IReadOnlyList<string> fields)
    {
        for (var i = 0; i < fields.Count; i++)
        {
            if (i > 0)
            {
                WriteUtf8(output, ",");
            }

            var field = fields[i];
            if (field.AsSpan().IndexOfAny(",\"\r\n") >= 0)
            {
                WriteUtf8(output, "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"");
            }
            else
            {
                WriteUtf8(output, field);
            }
        }

        WriteUtf8(output, "\r\n");
    }

    private static IResult Error(int status, string code, string message) => TivoHttpErrors.Error(status, code, message);
}
