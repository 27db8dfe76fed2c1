using System.Globalization;

namespace Tivo.Stores;

/// <summary>Conversions between UTC ticks, Unix seconds and ISO-8601 text used across Tivo.</summary>
public static class TimeUtil
{
    /// <summary>Ticks per second (10,000,000).</summary>
    public const long TicksPerSecond = TimeSpan.TicksPerSecond;

    /// <summary>Ticks at the Unix epoch.</summary>
    public static readonly long UnixEpochTicks = DateTime.UnixEpoch.Ticks;

    /// <summary>The Unix second that contains <paramref name="ticks"/> (floor).</summary>
    public static long SecondOf(long ticks) => FloorDiv(ticks - UnixEpochTicks, TicksPerSecond);

    /// <summary>The UTC ticks at the start of Unix second <paramref name="second"/>.</summary>
    public static long TicksOfSecond(long second) => UnixEpochTicks + second * TicksPerSecond;

    private const string IsoFormat = "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'";

    /// <summary>Formats ticks as ISO-8601 UTC with every significant fraction digit (up to 7).</summary>
    public static string ToIso(long ticks) =>
        new DateTime(ticks, DateTimeKind.Utc).ToString(IsoFormat, CultureInfo.InvariantCulture);

    /// <summary><see cref="ToIso"/> into a span, without allocating (32 characters always suffice).</summary>
    public static bool TryFormatIso(long ticks, Span<char> destination, out int written) =>
        new DateTime(ticks, DateTimeKind.Utc).TryFormat(destination, out written, IsoFormat, CultureInfo.InvariantCulture);

    /// <summary>Unix epoch milliseconds (with fraction) for UTC ticks.</summary>
    public static double ToEpochMs(long ticks) => (ticks - UnixEpochTicks) / (double)TimeSpan.TicksPerMillisecond;

    /// <summary>Parses an ISO-8601 timestamp. A value without an offset is taken as UTC.</summary>
    public static bool TryParseIso(string? text, out long ticks)
    {
        ticks = 0;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value))
        {
            ticks = value.UtcTicks;
            return true;
        }

        return false;
    }

    private static long FloorDiv(long a, long b) => a >= 0 ? a / b : -((-a + b - 1) / b);
}
