using System.Buffers;
using System.Text;
using System.Text.Json;
using Tivo.Gateway.Protocol;
using Tivo.GrainInterfaces;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>A lead frame's <c>layout</c>: the byte ranges a client parses part by part as they fall due.</summary>
public sealed class BatchLayoutTests
{
    private static readonly long T0 = new DateTime(2026, 12, 3, 12, 0, 0, DateTimeKind.Utc).Ticks;

    private static long Ms(double ms) => T0 + (long)(ms * TimeSpan.TicksPerMillisecond);

    private static Delivery<ReadOnlyMemory<byte>> Event(long seq, double dueMs, string data, bool snapshot = false) =>
        new(1, new SessionEvent("taxi", T0, seq, Ms(dueMs), seq, data, snapshot), null, default, false);

    private static Delivery<ReadOnlyMemory<byte>> Clock(double dueMs) =>
        new(1, null, new ClockSignal(Ms(dueMs), 0, T0, 1, 0), default, false);

    private static (byte[] Frame, JsonElement Root) Write(params Delivery<ReadOnlyMemory<byte>>[] items)
    {
        var buffer = new ArrayBufferWriter<byte>();
        ServerMessageWriter.WriteBatch(buffer, items, Ms(-400));
        var frame = buffer.WrittenSpan.ToArray();
        return (frame, JsonDocument.Parse(frame).RootElement.Clone());
    }

    [Fact]
    public void Each_part_is_the_bytes_of_the_messages_due_within_64_ms_of_its_first_and_the_parts_are_every_message_in_order()
    {
        // Payloads with characters of two, three and four UTF-8 bytes, and the JSON that strings escape: offsets are bytes.
        var (frame, root) = Write(
            Clock(0), Event(1, 0.5, """{"name":"Zürich","note":"a \"quoted\" {brace} [bracket]"}"""), Event(2, 40, """{"v":"€ 😀"}"""),
            Event(3, 63.9, "[1,2,{\"x\":[]}]"), Event(4, 64, "null"), Event(5, 160, "{}"), Event(0, 160.5, "\"snap\"", snapshot: true),
            Clock(400));

        var messages = root.GetProperty("messages").EnumerateArray().Select(m => m.GetRawText()).ToList();
        var layout = root.GetProperty("layout");
        Assert.Equal(5, layout.GetProperty("lastSeq").GetInt64()); // the highest event seq; a snapshot's does not count
        var parts = layout.GetProperty("parts").EnumerateArray().Select(p => (Due: p[0].GetDouble(), From: p[1].GetInt32(), To: p[2].GetInt32(), Count: p[3].GetInt32())).ToList();

        var fromParts = new List<string>();
        var dues = new List<List<double>>();
        foreach (var (due, from, to, count) in parts)
        {
            // What a client does: parse "[" + the part's bytes + "]".
            using var part = JsonDocument.Parse("[" + Encoding.UTF8.GetString(frame, from, to - from) + "]");
            Assert.Equal(count, part.RootElement.GetArrayLength());
            var partDues = part.RootElement.EnumerateArray().Select(m => m.GetProperty("due").GetDouble()).ToList();
            Assert.Equal(partDues[0], due);
            Assert.All(partDues, d => Assert.InRange(d - due, 0, 64 - 0.001));
            fromParts.AddRange(part.RootElement.EnumerateArray().Select(m => m.GetRawText()));
            dues.Add(partDues);
        }

        Assert.Equal(messages, fromParts);
        Assert.Equal(4, parts.Count); // 0–63.9 ms; 64 ms; 160–160.5 ms; 400 ms
        Assert.Equal([4, 1, 2, 1], dues.Select(d => d.Count));
        Assert.Equal("layout", root.EnumerateObject().Last().Name); // the frame's last field: a client finds it from the end
    }

    [Fact]
    public void A_message_due_before_the_first_of_its_part_starts_a_part_of_its_own()
    {
        var (frame, root) = Write(Event(1, 10, "1"), Event(2, 5, "2"), Event(3, 30, "3"));
        var parts = root.GetProperty("layout").GetProperty("parts").EnumerateArray().ToList();
        Assert.Equal([10.0, 5.0], parts.Select(p => p[0].GetDouble() - TimeSpan.FromTicks(T0 - DateTime.UnixEpoch.Ticks).TotalMilliseconds));
        var second = Encoding.UTF8.GetString(frame, parts[1][1].GetInt32(), parts[1][2].GetInt32() - parts[1][1].GetInt32());
        Assert.Equal(2, JsonDocument.Parse("[" + second + "]").RootElement.GetArrayLength());
    }

    [Fact]
    public void A_frame_without_events_has_no_last_seq()
    {
        var (_, root) = Write(Clock(0));
        Assert.False(root.GetProperty("layout").TryGetProperty("lastSeq", out _));
        Assert.Single(root.GetProperty("layout").GetProperty("parts").EnumerateArray());
    }
}
