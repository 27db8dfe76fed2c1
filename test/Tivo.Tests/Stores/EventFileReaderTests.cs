using Tivo.Events;
using System.Text;
using System.Text.Json;
using Tivo.Stores;
using Tivo.Events.Ingest;
using Xunit;

namespace Tivo.Tests.Stores;

/// <summary>Reading ingest input: CSV with a chosen time column, NDJSON and JSON arrays, with line numbers for bad lines.</summary>
public sealed class EventFileReaderTests
{
    [Fact]
    public void Csv_uses_the_chosen_time_column_and_types_the_other_columns()
    {
        const string csv = "id,when,name,score,ok\n1,2016-01-15T14:32:24.5Z,\"Smith, \"\"J\"\"\",3.5,true\n2,1452868345000,,-2,false\n";
        var events = EventFileReader.ReadCsv(new StringReader(csv), "when");
        Assert.Equal(2, events.Count);
        TimeUtil.TryParseIso("2016-01-15T14:32:24.5Z", out var t0);
        Assert.Equal(t0, events[0].Ticks);
        Assert.Equal("{\"id\":1,\"name\":\"Smith, \\u0022J\\u0022\",\"score\":3.5,\"ok\":true}", events[0].Data);
        Assert.Equal(TimeUtil.UnixEpochTicks + 1452868345000 * TimeSpan.TicksPerMillisecond, events[1].Ticks);
        Assert.Contains("\"name\":null", events[1].Data, StringComparison.Ordinal);
    }

    [Fact]
    public void Csv_errors_name_the_line_and_the_columns()
    {
        var missing = Assert.Throws<IngestFormatException>(() => EventFileReader.ReadCsv(new StringReader("a,b\n1,2\n"), "ts"));
        Assert.Contains("the columns are: a, b", missing.Message, StringComparison.Ordinal);
        var bad = Assert.Throws<IngestFormatException>(() => EventFileReader.ReadCsv(new StringReader("ts,v\n2016-01-01T00:00:00Z,1\nsoon,2\n"), "ts"));
        Assert.Equal(3, bad.Line);
    }

    [Fact]
    public void Json_array_items_report_the_line_they_start_on()
    {
        var body = "[\n  {\"ts\":\"2016-01-01T00:00:00Z\",\"data\":1},\n  {\"ts\":\"2016-01-01T00:00:01Z\",\"data\":2},\n  {\"data\":3}\n]";
        var error = Assert.Throws<IngestFormatException>(() => EventFileReader.ReadJson(Encoding.UTF8.GetBytes(body)));
        Assert.Equal(4, error.Line);
        Assert.Contains("item 3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Ndjson_skips_blank_lines_and_keeps_payloads_verbatim()
    {
        var events = EventFileReader.ReadJson(Encoding.UTF8.GetBytes("\n{\"ts\":\"2016-01-01T00:00:00Z\",\"data\":{\"a\": [1, {\"b\": null}]}}\r\n\n{\"ts\":0,\"data\":\"x\"}\n"));
        Assert.Equal(2, events.Count);
        Assert.Equal("{\"a\": [1, {\"b\": null}]}", events[0].Data);
        Assert.Equal(TimeUtil.UnixEpochTicks, events[1].Ticks);
    }

    [Theory]
    [InlineData("2016-01-15T14:32:24Z", "2016-01-15T14:32:24Z")]
    [InlineData("2016-01-15T14:32:24.1234567Z", "2016-01-15T14:32:24.1234567Z")]
    [InlineData("2016-01-15 09:32:24-05:00", "2016-01-15T14:32:24Z")]
    [InlineData("2016-01-15T16:32+02:00", "2016-01-15T14:32:00Z")]
    [InlineData("2016-01-15T14:32:24+0000", "2016-01-15T14:32:24Z")]
    public void Times_with_an_offset_or_Z_are_read_as_the_instant_they_name(string text, string expected)
    {
        Assert.True(TimeUtil.TryParseIso(text, out var ticks));
        Assert.Equal(expected, TimeUtil.ToIso(ticks));
    }

    [Theory]
    [InlineData("12:00:00")]                 // .NET alone would read this as today
    [InlineData("2016-01-15T14:32:24")]      // no offset: which instant?
    [InlineData("2016-01-15")]
    [InlineData("15/01/2016 14:32:24Z")]
    [InlineData("2016-01-15T14:32:24Z\n")]
    [InlineData("")]
    public void Times_that_do_not_name_an_instant_are_refused(string text) => Assert.False(TimeUtil.TryParseIso(text, out _));

    [Fact]
    public void Csv_values_become_numbers_only_when_nothing_about_them_would_change()
    {
        // Before: zip codes 02134 and 00501 became 2134 and 501, and TRUE stayed a string while true became a boolean.
        const string Csv = "when,zip,zip2,card,plus,exp,price,neg,zero,small,a,b,c,d,empty,name\n" +
                           "2016-01-15T00:00:00Z,02134,00501,4111111111111111,+1,1e5,12.50,-3,0,0.25,TRUE,false,True,FALSE,,Zoë\n";
        var data = JsonDocument.Parse(EventFileReader.ReadCsv(new StringReader(Csv), "when").Single().Data).RootElement;
        Assert.Equal("02134", data.GetProperty("zip").GetString());
        Assert.Equal("00501", data.GetProperty("zip2").GetString());
        Assert.Equal("4111111111111111", data.GetProperty("card").GetString()); // 16 digits: a double would change it
        Assert.Equal("+1", data.GetProperty("plus").GetString());
        Assert.Equal("1e5", data.GetProperty("exp").GetString());
        Assert.Equal("12.50", data.GetProperty("price").GetRawText()); // a number, written exactly as in the file
        Assert.Equal(-3, data.GetProperty("neg").GetInt32());
        Assert.Equal(0, data.GetProperty("zero").GetInt32());
        Assert.Equal(0.25, data.GetProperty("small").GetDouble());
        Assert.True(data.GetProperty("a").GetBoolean());
        Assert.False(data.GetProperty("b").GetBoolean());
        Assert.True(data.GetProperty("c").GetBoolean());
        Assert.False(data.GetProperty("d").GetBoolean());
        Assert.Equal(JsonValueKind.Null, data.GetProperty("empty").ValueKind);
        Assert.Equal("Zoë", data.GetProperty("name").GetString());

        var strings = JsonDocument.Parse(EventFileReader.ReadCsv(new StringReader(Csv), "when", keepStrings: true).Single().Data).RootElement;
        Assert.All(strings.EnumerateObject(), p => Assert.Equal(JsonValueKind.String, p.Value.ValueKind));
        Assert.Equal("12.50", strings.GetProperty("price").GetString());
        Assert.Equal("", strings.GetProperty("empty").GetString());
    }
}
