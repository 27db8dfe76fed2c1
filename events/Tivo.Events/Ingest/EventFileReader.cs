using System.Globalization;
using System.Text;
using System.Text.Json;
using CsvHelper;
using CsvHelper.Configuration;

namespace Tivo.Events.Ingest;

/// <summary>A line of input that cannot be ingested; nothing of the input is written.</summary>
public sealed class IngestFormatException(int line, string message) : Exception($"line {line}: {message}")
{
    /// <summary>1-based line of the input (for a JSON array: the line where the item starts).</summary>
    public int Line { get; } = line;

    /// <summary>What is wrong, without the line prefix.</summary>
    public string Problem { get; } = message;
}

/// <summary>
/// Reads events to ingest: JSON (an array of <c>{ "ts", "data" }</c>, or NDJSON, one object per line)
/// and CSV (a header row; one column is the time, the others become the payload object). The whole
/// input is validated before anything is written, so a bad line never leaves half an import behind.
/// Used by the gateway's <c>POST /channels/{channel}/events</c> and by the silo's <c>import</c> command.
/// </summary>
public static partial class EventFileReader
{
    /// <summary>Parses a JSON array or NDJSON (the first non-blank character decides).</summary>
    /// <exception cref="IngestFormatException">A line is not an event; its number says which.</exception>
    public static List<StoredEvent> ReadJson(ReadOnlySpan<byte> utf8)
    {
        var text = utf8.Length >= 3 && utf8[0] == 0xEF && utf8[1] == 0xBB && utf8[2] == 0xBF ? utf8[3..] : utf8;
        var first = 0;
        while (first < text.Length && text[first] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            first++;
        }

        if (first == text.Length)
        {
            throw new IngestFormatException(1, "the body is empty: send a JSON array of {\"ts\",\"data\"} objects or NDJSON.");
        }

        return text[first] == (byte)'[' ? ReadArray(text) : ReadLines(text);
    }

    /// <summary>
    /// Reads CSV with a header row; <paramref name="timeColumn"/> holds ISO-8601 times or epoch milliseconds. The
    /// other columns become the payload. A value becomes a JSON number only when it is written the way JSON
    /// writes numbers and has at most 15 significant digits (it is then stored exactly as written, so
    /// <c>12.50</c> stays <c>12.50</c>); anything a number would change stays a string: leading zeros
    /// (<c>02134</c>), a sign (<c>+1</c>), an exponent (<c>1e5</c>), long digit strings (IDs, card numbers).
    /// <c>true</c>/<c>false</c> in any case are booleans; an empty field is null. With
    /// <paramref name="keepStrings"/> every value is a string (empty fields too).
    /// </summary>
    public static List<StoredEvent> ReadCsv(TextReader reader, string timeColumn, bool keepStrings = false)
    {
        var config = new CsvConfiguration(CultureInfo.InvariantCulture) { DetectDelimiter = true, BadDataFound = null };
        using var csv = new CsvReader(reader, config);
        if (!csv.Read() || !csv.ReadHeader())
        {
            throw new IngestFormatException(1, "the file has no header row.");
        }

        var header = csv.HeaderRecord!;
        var timeIndex = Array.IndexOf(header, timeColumn);
        if (timeIndex < 0)
        {
            throw new IngestFormatException(1, $"there is no column '{timeColumn}'; the columns are: {string.Join(", ", header)}. Choose the time column with --time-column.");
        }

        var events = new List<StoredEvent>();
        while (csv.Read())
        {
            var line = csv.Parser.RawRow;
            var ts = csv.GetField(timeIndex);
            if (!TryParseTime(ts, out var ticks))
            {
                throw new IngestFormatException(line, $"'{ts}' in column '{timeColumn}' is not an ISO-8601 time or epoch milliseconds.");
            }

            using var buffer = new MemoryStream();
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartObject();
                for (var i = 0; i < header.Length; i++)
                {
                    if (i == timeIndex)
                    {
                        continue;
                    }

                    var value = i < csv.Parser.Count ? csv.GetField(i) : null;
                    if (keepStrings)
                    {
                        writer.WriteString(header[i], value ?? "");
                    }
                    else if (string.IsNullOrEmpty(value))
                    {
                        writer.WriteNull(header[i]);
                    }
                    else if (IsFaithfulNumber(value))
                    {
                        writer.WritePropertyName(header[i]);
                        writer.WriteRawValue(value, skipInputValidation: true);
                    }
                    else if (bool.TryParse(value, out var flag))
                    {
                        writer.WriteBoolean(header[i], flag);
                    }
                    else
                    {
                        writer.WriteString(header[i], value);
                    }
                }

                writer.WriteEndObject();
            }

            events.Add(new StoredEvent(ticks, Encoding.UTF8.GetString(buffer.ToArray())));
        }

        return events;
    }

    /// <summary>A JSON number as JSON writes it (no leading zeros, no '+', no exponent) with at most 15
    /// significant digits, so a double holds it exactly and nothing about it is lost or changed.</summary>
    private static bool IsFaithfulNumber(string value) =>
        FaithfulNumber().IsMatch(value) && value.Count(char.IsAsciiDigit) - LeadingZeros(value) <= 15;

    private static int LeadingZeros(string value) => value.TrimStart('-').TakeWhile(c => c is '0' or '.').Count(c => c == '0');

    [System.Text.RegularExpressions.GeneratedRegex(@"\A-?(0|[1-9][0-9]*)(\.[0-9]+)?\z")]
    private static partial System.Text.RegularExpressions.Regex FaithfulNumber();

    private static List<StoredEvent> ReadArray(ReadOnlySpan<byte> utf8)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8.ToArray(), new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException ex)
        {
            throw new IngestFormatException((int)(ex.LineNumber ?? 0) + 1, $"not valid JSON ({ex.Message.Split(" Path:")[0].Split(" LineNumber:")[0]})");
        }

        using (document)
        {
            var lineStarts = LineStarts(utf8);
            var events = new List<StoredEvent>(document.RootElement.GetArrayLength());
            var offset = 0;
            var index = 0;
            foreach (var item in document.RootElement.EnumerateArray())
            {
                index++;
                // Find where this item starts to report its line (items are searched in order).
                var raw = item.GetRawText();
                var at = utf8[offset..].IndexOf(Encoding.UTF8.GetBytes(raw));
                var start = at >= 0 ? offset + at : offset;
                offset = at >= 0 ? start + Encoding.UTF8.GetByteCount(raw) : offset;
                events.Add(ToEvent(item, LineOf(lineStarts, start), $"item {index}: "));
            }

            return events;
        }
    }

    private static List<StoredEvent> ReadLines(ReadOnlySpan<byte> utf8)
    {
        var events = new List<StoredEvent>();
        var line = 0;
        while (utf8.Length > 0)
        {
            line++;
            var end = utf8.IndexOf((byte)'\n');
            var current = end < 0 ? utf8 : utf8[..end];
            utf8 = end < 0 ? [] : utf8[(end + 1)..];
            if (current.Trim((byte)'\r').Trim((byte)' ').IsEmpty)
            {
                continue;
            }

            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(current.ToArray(), new JsonDocumentOptions { MaxDepth = 64 });
            }
            catch (JsonException ex)
            {
                throw new IngestFormatException(line, $"not valid JSON ({ex.Message.Split(" Path:")[0].Split(" LineNumber:")[0]})");
            }

            using (document)
            {
                events.Add(ToEvent(document.RootElement, line, ""));
            }
        }

        return events;
    }

    private static StoredEvent ToEvent(JsonElement item, int line, string prefix)
    {
        try
        {
            return ToEventUnchecked(item, line, prefix);
        }
        catch (InvalidOperationException)
        {
            // JsonElement.GetString refuses \u escapes that are not valid UTF-16 (a lone surrogate such as \ud800).
            throw new IngestFormatException(line, $"{prefix}a string holds an invalid \\u escape (a lone UTF-16 surrogate such as \\ud800); send valid Unicode.");
        }
    }

    private static StoredEvent ToEventUnchecked(JsonElement item, int line, string prefix)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            throw new IngestFormatException(line, $"{prefix}each event must be an object {{\"ts\": \"…\", \"data\": …}}, not {item.ValueKind.ToString().ToLowerInvariant()}.");
        }

        if (!item.TryGetProperty("ts", out var ts))
        {
            throw new IngestFormatException(line, $"{prefix}\"ts\" is missing: give the event's time as ISO-8601 (\"2016-01-15T14:32:24.5Z\") or epoch milliseconds.");
        }

        long ticks;
        if (ts.ValueKind == JsonValueKind.String && TimeUtil.TryParseIso(ts.GetString(), out var parsed))
        {
            ticks = parsed;
        }
        else if (ts.ValueKind == JsonValueKind.Number && ts.TryGetDouble(out var ms) && double.IsFinite(ms) && Math.Abs(ms) < 253_402_300_799_000)
        {
            ticks = TimeUtil.UnixEpochTicks + (long)Math.Round(ms * TimeSpan.TicksPerMillisecond);
        }
        else
        {
            throw new IngestFormatException(line, $"{prefix}\"ts\" ({ts.GetRawText()}) is not an ISO-8601 time or epoch milliseconds.");
        }

        if (!item.TryGetProperty("data", out var data))
        {
            throw new IngestFormatException(line, $"{prefix}\"data\" is missing: give the payload (any JSON value).");
        }

        var raw = data.GetRawText();
        if (raw.Contains("\\u", StringComparison.Ordinal))
        {
            EnsureValidUnicode(data); // a stored payload must be valid Unicode, or stores such as jsonb refuse it later
        }

        return new StoredEvent(ticks, raw);
    }

    /// <summary>Reads every string and property name of <paramref name="element"/>, which throws
    /// <see cref="InvalidOperationException"/> on an escape that is not valid UTF-16.</summary>
    private static void EnsureValidUnicode(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                _ = element.GetString();
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    EnsureValidUnicode(item);
                }

                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    _ = property.Name;
                    EnsureValidUnicode(property.Value);
                }

                break;
        }
    }

    private static bool TryParseTime(string? text, out long ticks)
    {
        if (TimeUtil.TryParseIso(text, out ticks) && !double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
        {
            return true;
        }

        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) && double.IsFinite(ms))
        {
            ticks = TimeUtil.UnixEpochTicks + (long)Math.Round(ms * TimeSpan.TicksPerMillisecond);
            return true;
        }

        return false;
    }

    private static List<int> LineStarts(ReadOnlySpan<byte> utf8)
    {
        var starts = new List<int> { 0 };
        for (var i = 0; i < utf8.Length; i++)
        {
            if (utf8[i] == (byte)'\n')
            {
                starts.Add(i + 1);
            }
        }

        return starts;
    }

    private static int LineOf(List<int> starts, int offset)
    {
        var i = starts.BinarySearch(offset);
        return (i >= 0 ? i : ~i - 1) + 1;
    }
}
