using System.Globalization;

namespace Tivo.Events;

/// <summary>Conversions between UTC ticks, Unix seconds and ISO-8601 text used across Tivo.</summary>
public static partial class TimeUtil
{
    /// <summary>Ticks per second (10,000,000).</summary>
    public const long TicksPerSecond = TimeSpan.TicksPerSecond;

    /// <summary>Ticks at the Unix epoch.</summary>
    public static readonly long UnixEpochTicks = DateTime.UnixEpoch.Ticks;

    /// <summary>The start of the last whole second a timestamp can name (9999-12-31T23:59:59Z): windows end there at the latest.</summary>
    public static readonly long MaxTicks = DateTime.MaxValue.Ticks - DateTime.MaxValue.Ticks % TicksPerSecond;

    /// <summary>The Unix second that contains <paramref name="ticks"/> (floor).</summary>
    public static long SecondOf(long ticks) => FloorDiv(ticks - UnixEpochTicks, TicksPerSecond);

    /// <summary>The UTC ticks at the start of Unix second <paramref name="second"/>.</summary>
    public static long TicksOfSecond(long second) => UnixEpochTicks + second * TicksPerSecond;

    /// <summary>Formats ticks as ISO-8601 UTC with every significant fraction digit (up to 7).</summary>
    public static string ToIso(long ticks)
    {
        Span<char> text = stackalloc char[32];
        TryFormatIso(ticks, text, out var written);
        return new string(text[..written]);
    }

    /// <summary><see cref="ToIso"/> into a span, without allocating (32 characters always suffice): the round-trip format
    /// ("O", the runtime's fast path; <c>yyyy-MM-ddTHH:mm:ss.fffffffZ</c> for UTC), its fraction's trailing zeros trimmed
    /// (and the point, for a whole second) — what <c>.FFFFFFF</c> writes, at a fraction of the cost per event.</summary>
    public static bool TryFormatIso(long ticks, Span<char> destination, out int written)
    {
        Span<char> full = stackalloc char[28];
        var formatted = new DateTime(ticks, DateTimeKind.Utc).TryFormat(full, out var length, "O", CultureInfo.InvariantCulture);
        return TrimIso(full, formatted && length == 28, '0', 'Z', destination, out written);
    }

    /// <summary><see cref="TryFormatIso(long, Span{char}, out int)"/> in UTF-8 (32 bytes always suffice): the wire's
    /// event timestamp is written straight into the frame.</summary>
    public static bool TryFormatIso(long ticks, Span<byte> destination, out int written)
    {
        Span<byte> full = stackalloc byte[28];
        var formatted = new DateTime(ticks, DateTimeKind.Utc).TryFormat(full, out var length, "O", CultureInfo.InvariantCulture);
        return TrimIso(full, formatted && length == 28, (byte)'0', (byte)'Z', destination, out written);
    }

    /// <summary>Copies the round-trip text in <paramref name="full"/> (28 units) to <paramref name="destination"/> with its
    /// fraction's trailing zeros trimmed (and the point, for a whole second), then 'Z'.</summary>
    private static bool TrimIso<T>(Span<T> full, bool formatted, T zero, T z, Span<T> destination, out int written)
        where T : IEquatable<T>
    {
        written = 0;
        if (!formatted)
        {
            return false;
        }

        var end = 27; // after the fraction's last digit (index 26); 'Z' at 27
        while (end > 20 && full[end - 1].Equals(zero))
        {
            end--;
        }

        if (end == 20)
        {
            end = 19; // a whole second: no point either
        }

        if (destination.Length < end + 1)
        {
            return false;
        }

        full[..end].CopyTo(destination);
        destination[end] = z;
        written = end + 1;
        return true;
    }

    /// <summary>Unix epoch milliseconds (with fraction) for UTC ticks.</summary>
    public static double ToEpochMs(long ticks) => (ticks - UnixEpochTicks) / (double)TimeSpan.TicksPerMillisecond;

    /// <summary>
    /// <see cref="ToEpochMs"/> as a JSON number in UTF-8, written exactly from the ticks (whole milliseconds, then up to
    /// four fraction digits without trailing zeros) rather than by formatting the double: the same number to a parser
    /// (the decimal is exact, and the double is its nearest), at a fraction of the cost — the wire's <c>due</c> is
    /// written once per event and connection. False for an instant before 1970 or a destination too short (24 bytes
    /// always suffice).
    /// </summary>
    public static bool TryFormatEpochMs(long ticks, Span<byte> utf8, out int written)
    {
        var sinceEpoch = ticks - UnixEpochTicks;
        if (sinceEpoch < 0 || !(sinceEpoch / TimeSpan.TicksPerMillisecond).TryFormat(utf8, out written, default, CultureInfo.InvariantCulture))
        {
            written = 0;
            return false;
        }

        var fraction = (int)(sinceEpoch % TimeSpan.TicksPerMillisecond);
        if (fraction == 0)
        {
            return true;
        }

        var digits = 4;
        for (; fraction % 10 == 0; fraction /= 10)
        {
            digits--;
        }

        if (utf8.Length < written + 1 + digits)
        {
            written = 0;
            return false;
        }

        utf8[written] = (byte)'.';
        for (var i = digits; i > 0; i--, fraction /= 10)
        {
            utf8[written + i] = (byte)('0' + fraction % 10);
        }

        written += 1 + digits;
        return true;
    }

    /// <summary>
    /// Parses an ISO-8601 timestamp that says which instant it is: a date, a time and <c>Z</c> or an
    /// offset (<c>2016-01-15T14:32:24.5Z</c>, <c>2016-01-15 09:32:24-05:00</c>). Anything else (a bare
    /// time such as <c>12:00:00</c>, which .NET would read as today, or a time without an offset) is
    /// refused, so a stored event never lands at an instant its sender did not name.
    /// </summary>
    public static bool TryParseIso(string? text, out long ticks)
    {
        ticks = 0;
        if (string.IsNullOrEmpty(text) || text.Length > 40 || !IsoInstant().IsMatch(text))
        {
            return false;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal, out var value))
        {
            ticks = value.UtcTicks;
            return true;
        }

        return false;
    }

    /// <summary>Date, 'T' or a space, hours and minutes (seconds and up to 7 fraction digits optional), then Z or ±hh[:mm].</summary>
    [System.Text.RegularExpressions.GeneratedRegex(@"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{1,7})?)?(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)\z")]
    private static partial System.Text.RegularExpressions.Regex IsoInstant();

    private static long FloorDiv(long a, long b) => a >= 0 ? a / b : -((-a + b - 1) / b);
}
