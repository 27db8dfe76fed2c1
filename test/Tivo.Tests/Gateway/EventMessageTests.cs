using System.Buffers;
using System.Text;
using System.Text.Json;
using Tivo.Gateway.Protocol;
using Tivo.GrainInterfaces;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>The event message, the one written per event and connection: written straight as UTF-8, it must be byte for
/// byte what the JSON writer writes, whatever the channel, payload, timestamp or due.</summary>
public sealed class EventMessageTests
{
    private static readonly long T0 = new DateTime(2016, 1, 15, 14, 32, 24, DateTimeKind.Utc).Ticks;

    private static string Direct(SessionEvent e)
    {
        var buffer = new ArrayBufferWriter<byte>();
        ServerMessageWriter.WriteEvent(buffer, e);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static string ThroughWriter(SessionEvent e)
    {
        var buffer = new ArrayBufferWriter<byte>();
        ServerMessageWriter.WriteEventWithWriter(buffer, e);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static TheoryData<string, long, long, long, string, bool> Events => new()
    {
        // channel, ticks after T0, seq, due after T0 (ticks), payload, snapshot
        { "taxi", 1_234_567, 123_456, 10_000, """{"lat":40.7512,"lon":-73.9876,"fare":12.5,"kind":"pickup"}""", false },
        { "taxi", 0, 0, 0, "{}", true }, // a whole second (no fraction), seq 0, a snapshot
        { "a b-c.d_e~!#$%&'()*+,/:;<=>?@[]^`{|}", 5_000_000, long.MaxValue, 1, "[1,2,3]", false }, // every printable ASCII JSON leaves alone
        { "zürich", 1, 1, 1, "1", false }, // a character the direct path leaves to the writer
        { "say \"hi\"\\", 1, 1, 1, "1", false }, // and characters JSON escapes
        { "tab\there", 1, 1, 1, "1", false },
        { "taxi", 1, 2, 3, """{"name":"Zürich","note":"a \"quoted\" {brace}","v":"€ 😀"}""", false }, // two-, three- and four-byte UTF-8
        { "taxi", 1, 2, 9_999, "\"" + new string('x', 5_000) + "\"", false }, // longer than the frame writer's first scratch
        { "taxi", 1, 2, 3, "\"" + new string('é', 30_000) + "\"", false }, // over the direct path's largest message: the writer's path
    };

    [Theory]
    [MemberData(nameof(Events))]
    public void The_direct_message_is_the_writers_byte_for_byte(string channel, long ticks, long seq, long due, string data, bool snapshot)
    {
        var e = new SessionEvent(channel, T0 + ticks, seq, T0 + due, seq, data, snapshot);
        Assert.Equal(ThroughWriter(e), Direct(e));
    }

    [Fact]
    public void A_known_event_reads_as_protocol_v1_says()
    {
        var e = new SessionEvent("taxi", T0 + 1_234_500, 42, DateTime.UnixEpoch.Ticks + 1_700_000_000_123_4567, 42, """{"fare":12.5}""");
        Assert.Equal("""{"type":"event","channel":"taxi","ts":"2016-01-15T14:32:24.12345Z","seq":42,"due":1700000000123.4567,"data":{"fare":12.5}}""", Direct(e));
    }

    [Fact]
    public void A_due_before_1970_is_still_a_number()
    {
        var e = new SessionEvent("taxi", T0, 1, DateTime.UnixEpoch.Ticks - TimeSpan.TicksPerSecond, 1, "{}");
        var message = Direct(e);
        Assert.Equal(ThroughWriter(e), message);
        Assert.Equal(-1000, JsonDocument.Parse(message).RootElement.GetProperty("due").GetDouble());
    }

    [Fact]
    public void A_lead_frames_messages_are_the_event_messages()
    {
        var events = Events.Select(row => new SessionEvent((string)row[0], T0 + (long)row[1], (long)row[2], T0 + (long)row[3], (long)row[2], (string)row[4], (bool)row[5])).ToList();
        var buffer = new ArrayBufferWriter<byte>();
        ServerMessageWriter.WriteBatch(buffer, [.. events.Select(e => new Delivery<ReadOnlyMemory<byte>>(1, e, null, default, false))], T0);
        using var frame = JsonDocument.Parse(buffer.WrittenMemory);
        Assert.Equal(events.Select(ThroughWriter), frame.RootElement.GetProperty("messages").EnumerateArray().Select(m => m.GetRawText()));
    }
}
