using System.Globalization;
using Tivo.Events;
using Xunit;

namespace Tivo.Tests.Events;

/// <summary>The wire's timestamps: every significant digit down to 100 ns, trailing zeros and a whole second's point left out.</summary>
public sealed class TimeUtilTests
{
    [Theory]
    [InlineData("2016-01-15T14:32:24.2073270Z", "2016-01-15T14:32:24.207327Z")]
    [InlineData("2016-01-15T14:32:24.0000000Z", "2016-01-15T14:32:24Z")]
    [InlineData("2016-01-15T14:32:24.0000001Z", "2016-01-15T14:32:24.0000001Z")]
    [InlineData("2016-01-15T14:32:24.5000000Z", "2016-01-15T14:32:24.5Z")]
    [InlineData("0001-01-01T00:00:00.0000000Z", "0001-01-01T00:00:00Z")]
    [InlineData("9999-12-31T23:59:59.9999999Z", "9999-12-31T23:59:59.9999999Z")]
    public void Timestamps_are_written_with_every_significant_digit(string instant, string expected)
    {
        var ticks = DateTime.Parse(instant, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal).Ticks;
        Assert.Equal(expected, TimeUtil.ToIso(ticks));
    }

    [Fact]
    public void The_fast_format_writes_what_the_custom_format_wrote()
    {
        var random = new Random(12);
        for (var i = 0; i < 100_000; i++)
        {
            var ticks = random.NextInt64(DateTime.MinValue.Ticks, DateTime.MaxValue.Ticks);
            ticks -= i % 4 switch { 0 => 0, 1 => ticks % 10, 2 => ticks % 10_000, _ => ticks % TimeSpan.TicksPerSecond };
            var expected = new DateTime(ticks, DateTimeKind.Utc).ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);
            Assert.Equal(expected, TimeUtil.ToIso(ticks));
        }
    }

    [Theory]
    [InlineData("2026-12-02T09:00:00.0000000Z", "1796202000000")]
    [InlineData("2026-12-02T09:00:00.1234567Z", "1796202000123.4567")]
    [InlineData("2026-12-02T09:00:00.0000100Z", "1796202000000.01")]
    [InlineData("2026-12-02T09:00:00.0010001Z", "1796202000001.0001")]
    [InlineData("1970-01-01T00:00:00.0000000Z", "0")]
    public void Epoch_milliseconds_are_written_exactly_from_the_ticks(string instant, string expected)
    {
        var ticks = DateTime.Parse(instant, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal).Ticks;
        Span<byte> utf8 = stackalloc byte[24];
        Assert.True(TimeUtil.TryFormatEpochMs(ticks, utf8, out var written));
        Assert.Equal(expected, System.Text.Encoding.UTF8.GetString(utf8[..written]));
    }

    [Fact]
    public void Epoch_milliseconds_are_the_exact_decimal_of_the_ticks()
    {
        var random = new Random(12);
        Span<byte> utf8 = stackalloc byte[24];
        for (var i = 0; i < 100_000; i++)
        {
            var ticks = random.NextInt64(TimeUtil.UnixEpochTicks, DateTime.MaxValue.Ticks);
            Assert.True(TimeUtil.TryFormatEpochMs(ticks, utf8, out var written));
            var text = System.Text.Encoding.UTF8.GetString(utf8[..written]);
            // What a JSON parser reads: the double nearest the exact value (the double division is off by up to an ulp, as
            // ticks since 1970 no longer fit a double's 53 bits exactly).
            Assert.Equal(TimeUtil.ToEpochMs(ticks), double.Parse(text, CultureInfo.InvariantCulture), Math.ScaleB(TimeUtil.ToEpochMs(ticks), -51));
            Assert.Equal((ticks - TimeUtil.UnixEpochTicks) / 10_000m, decimal.Parse(text, CultureInfo.InvariantCulture)); // exact
        }

        Assert.False(TimeUtil.TryFormatEpochMs(TimeUtil.UnixEpochTicks - 1, utf8, out _)); // before 1970: the caller writes the double
    }
}
