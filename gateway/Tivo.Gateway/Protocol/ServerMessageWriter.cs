using Tivo.Events;
using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Tivo.GrainInterfaces;

namespace Tivo.Gateway.Protocol;

/// <summary>
/// Writes server → client messages of protocol v1. Event payloads are copied through as the stored
/// raw JSON text, never parsed again; everything else is small and written field by field so the
/// wire shape is visible in one place (docs/protocol.md mirrors it). The event message, written once per event and
/// connection, is written straight as UTF-8 (<see cref="EventMessageWriter"/>), byte for byte what the JSON writer writes.
/// </summary>
internal static class ServerMessageWriter
{
    public const int ProtocolVersion = 1;

    // Messages go to WebSocket clients, never into HTML, so quotes and apostrophes need no escaping.
    private static readonly JsonWriterOptions Options = new() { SkipValidation = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    // Every message reuses one writer per thread (none awaits: see Writer) and the event path formats its timestamp on
    // the stack: no allocation per event message.
    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    public static void WriteEvent(IBufferWriter<byte> buffer, SessionEvent e)
    {
        if (!EventMessageWriter.TryWrite(buffer, e))
        {
            WriteEventWithWriter(buffer, e);
        }
    }

    /// <summary>The event message as <see cref="Utf8JsonWriter"/> writes it: what a channel name or payload the direct
    /// path does not take goes through (and what tests hold the direct path's bytes to).</summary>
    internal static void WriteEventWithWriter(IBufferWriter<byte> buffer, SessionEvent e)
    {
        var w = Writer(buffer);
        WriteEvent(w, e);
        w.Flush();
    }

    /// <summary>The calling thread's writer, reset to <paramref name="buffer"/> (which also clears whatever state an earlier
    /// failed write left). Every message here is written without awaiting, so one writer per thread serves them all: a
    /// writer made per message (each clock tick to each connection) was 2% of the gateway's allocations.</summary>
    private static Utf8JsonWriter Writer(IBufferWriter<byte> buffer)
    {
        var w = t_writer ??= new Utf8JsonWriter(buffer, Options);
        w.Reset(buffer);
        return w;
    }

    private static void WriteEvent(Utf8JsonWriter w, SessionEvent e)
    {
        Span<char> ts = stackalloc char[40];
        TimeUtil.TryFormatIso(e.Ticks, ts, out var tsLength);
        w.WriteStartObject();
        w.WriteString("type", "event");
        w.WriteString("channel", e.Channel);
        w.WriteString("ts", ts[..tsLength]);
        w.WriteNumber("seq", e.Seq);
        WriteEpochMs(w, "due"u8, e.DueTicks);
        w.WritePropertyName("data");
        w.WriteRawValue(e.Data, skipInputValidation: true);
        if (e.Snapshot)
        {
            w.WriteBoolean("snapshot", true);
        }

        w.WriteEndObject();
    }

    public static void WriteHello(IBufferWriter<byte> buffer, string session, IReadOnlyList<string> channels, ParticipantRole role, SessionState state)
    {
        var w = Writer(buffer);
        w.WriteStartObject();
        w.WriteString("type", "hello");
        w.WriteNumber("protocol", ProtocolVersion);
        w.WriteString("session", session);
        WriteStrings(w, "channels", channels);
        w.WriteString("role", WireNames.Of(role));
        w.WritePropertyName("state");
        w.WriteStartObject();
        WriteStateFields(w, state);
        w.WriteEndObject();
        w.WriteEndObject();
        w.Flush();
    }

    public static void WriteState(IBufferWriter<byte> buffer, SessionState state)
    {
        var w = Writer(buffer);
        WriteState(w, state, null);
        w.Flush();
    }

    private static void WriteState(Utf8JsonWriter w, SessionState state, long? dueTicks)
    {
        w.WriteStartObject();
        w.WriteString("type", "state");
        WriteStateFields(w, state);
        WriteDue(w, dueTicks);
        w.WriteEndObject();
    }

    public static void WriteClock(IBufferWriter<byte> buffer, long playheadTicks, double speed, int iteration)
    {
        var w = Writer(buffer);
        WriteClock(w, playheadTicks, speed, iteration, null);
        w.Flush();
    }

    private static void WriteClock(Utf8JsonWriter w, long playheadTicks, double speed, int iteration, long? dueTicks)
    {
        w.WriteStartObject();
        w.WriteString("type", "clock");
        w.WriteString("playhead", TimeUtil.ToIso(playheadTicks));
        w.WriteNumber("speed", speed);
        w.WriteNumber("iteration", iteration);
        WriteDue(w, dueTicks);
        w.WriteEndObject();
    }

    public static void WriteLoop(IBufferWriter<byte> buffer, int iteration)
    {
        var w = Writer(buffer);
        WriteLoop(w, iteration, null);
        w.Flush();
    }

    private static void WriteLoop(Utf8JsonWriter w, int iteration, long? dueTicks)
    {
        w.WriteStartObject();
        w.WriteString("type", "loop");
        w.WriteNumber("iteration", iteration);
        WriteDue(w, dueTicks);
        w.WriteEndObject();
    }

    /// <summary>Events <paramref name="fromSeq"/>..<paramref name="toSeq"/> will not come to this connection, and why.</summary>
    public static void WriteGap(IBufferWriter<byte> buffer, long fromSeq, long toSeq, string message)
    {
        var w = Writer(buffer);
        WriteGap(w, fromSeq, toSeq, message, null);
        w.Flush();
    }

    private static void WriteGap(Utf8JsonWriter w, long fromSeq, long toSeq, string message, long? dueTicks)
    {
        w.WriteStartObject();
        w.WriteString("type", "gap");
        w.WriteNumber("fromSeq", fromSeq);
        w.WriteNumber("toSeq", toSeq);
        w.WriteString("message", message);
        WriteDue(w, dueTicks);
        w.WriteEndObject();
    }

    /// <summary>Messages of a lead frame whose dues fall within this of the first of them make one part of its
    /// <c>layout</c>: what a client parses at once when the part falls due. 64 ms: with parts of 16 ms (1.6 events at 100
    /// events/s) the JS client's parse calls cost 10–15% more of a core at 1,000 sessions than one parse per frame, and its
    /// release p99 was no better; with 64 ms its CPU was the same as parsing frames whole and its p99 lower in each of 5
    /// alternated runs (docs/performance.md).</summary>
    internal const long LayoutPartTicks = 64 * TimeSpan.TicksPerMillisecond;

    /// <summary>
    /// A lead connection's frame: the session's messages (events and signals) in release order, each carrying its
    /// <c>due</c>, sent up to the connection's lead ahead of it for the client to release then. <c>now</c> is the
    /// gateway's clock as the frame is written, so a client can release by the server's clock, not its own.
    /// <c>layout</c>, the frame's last field, says where its messages lie: the highest event seq in it (<c>lastSeq</c>), and
    /// <c>parts</c> — for each run of messages due within <see cref="LayoutPartTicks"/> of its first, its earliest due,
    /// the UTF-8 byte range of its messages in the frame and how many they are. A client can then hold the frame as bytes and parse each part
    /// only when it falls due (parsed messages held for the whole lead are what a JS engine's young collections copy).
    /// </summary>
    public static void WriteBatch(IBufferWriter<byte> buffer, IReadOnlyList<Delivery<ReadOnlyMemory<byte>>> items, long nowTicks)
    {
        var w = Writer(buffer);
        w.WriteStartObject();
        w.WriteString("type", "batch");
        WriteEpochMs(w, "now"u8, nowTicks);
        w.WritePropertyName("messages");
        w.WriteStartArray();
        // Each part as (earliest due, first byte, end byte, messages); messages come in release order, so a part ends at the
        // first message due LayoutPartTicks or more after the part's first.
        const int Fields = 4;
        var parts = ArrayPool<long>.Shared.Rent(Fields * Math.Max(1, items.Count));
        var (partCount, lastSeq) = (0, -1L);
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            var due = item.ReleaseTicks;
            var from = w.BytesCommitted + w.BytesPending + (i > 0 ? 1 : 0); // the writer puts a comma before all but the first
            WriteBatchItem(w, item);
            var to = w.BytesCommitted + w.BytesPending;
            if (item.Event is { Snapshot: false } e && e.Seq > lastSeq)
            {
                lastSeq = e.Seq;
            }

            var last = Fields * (partCount - 1);
            if (partCount > 0 && due - parts[last] < LayoutPartTicks && due >= parts[last])
            {
                parts[last + 2] = to;
                parts[last + 3]++;
                continue;
            }

            var next = Fields * partCount++;
            (parts[next], parts[next + 1], parts[next + 2], parts[next + 3]) = (due, from, to, 1);
        }

        w.WriteEndArray();
        w.WritePropertyName("layout");
        w.WriteStartObject();
        if (lastSeq >= 0)
        {
            w.WriteNumber("lastSeq", lastSeq);
        }

        w.WritePropertyName("parts");
        w.WriteStartArray();
        for (var p = 0; p < Fields * partCount; p += Fields)
        {
            w.WriteStartArray();
            WriteEpochMsValue(w, parts[p]);
            w.WriteNumberValue(parts[p + 1]);
            w.WriteNumberValue(parts[p + 2]);
            w.WriteNumberValue(parts[p + 3]);
            w.WriteEndArray();
        }

        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
        w.Flush();
        ArrayPool<long>.Shared.Return(parts);
    }

    private static void WriteBatchItem(Utf8JsonWriter w, Delivery<ReadOnlyMemory<byte>> item)
    {
        if (item.Event is { } e)
        {
            if (!EventMessageWriter.TryWrite(w, e))
            {
                WriteEvent(w, e);
            }

            return;
        }

        var due = item.Signal!.ReleaseTicks;
        switch (item.Signal)
        {
            case ClockSignal clock:
                WriteClock(w, clock.PlayheadTicks, clock.Speed, clock.Iteration, due);
                break;
            case LoopSignal loop:
                WriteLoop(w, loop.Iteration, due);
                break;
            case GapSignal gap:
                WriteGap(w, gap.FromSeq, gap.ToSeq, gap.Message, due);
                break;
            case ErrorSignal error:
                WriteError(w, null, error.Code, error.Message, due);
                break;
            case StateSignal state:
                WriteState(w, state.State, due);
                break;
        }
    }

    /// <summary>Tells a lead connection to drop what it holds due after <paramref name="afterTicks"/>: a control cut the
    /// course there, after those messages were sent ahead.</summary>
    public static void WriteRecall(IBufferWriter<byte> buffer, long afterTicks)
    {
        var w = Writer(buffer);
        w.WriteStartObject();
        w.WriteString("type", "recall");
        WriteEpochMs(w, "after"u8, afterTicks);
        w.WriteEndObject();
        w.Flush();
    }

    private static void WriteDue(Utf8JsonWriter w, long? dueTicks)
    {
        if (dueTicks is { } due)
        {
            WriteEpochMs(w, "due"u8, due);
        }
    }

    /// <summary>An instant as epoch milliseconds (a JSON number), written exactly from its ticks.</summary>
    private static void WriteEpochMs(Utf8JsonWriter w, ReadOnlySpan<byte> name, long ticks)
    {
        w.WritePropertyName(name);
        WriteEpochMsValue(w, ticks);
    }

    private static void WriteEpochMsValue(Utf8JsonWriter w, long ticks)
    {
        Span<byte> number = stackalloc byte[24];
        if (TimeUtil.TryFormatEpochMs(ticks, number, out var length))
        {
            w.WriteRawValue(number[..length], skipInputValidation: true);
        }
        else
        {
            w.WriteNumberValue(TimeUtil.ToEpochMs(ticks)); // before 1970: not a due this server gives, but still a number
        }
    }

    public static void WriteAck(IBufferWriter<byte> buffer, string? idJson, string action)
    {
        var w = Writer(buffer);
        w.WriteStartObject();
        w.WriteString("type", "ack");
        WriteId(w, idJson);
        w.WriteString("action", action);
        w.WriteEndObject();
        w.Flush();
    }

    public static void WriteError(IBufferWriter<byte> buffer, string? idJson, string code, string message)
    {
        var w = Writer(buffer);
        WriteError(w, idJson, code, message, null);
        w.Flush();
    }

    private static void WriteError(Utf8JsonWriter w, string? idJson, string code, string message, long? dueTicks)
    {
        w.WriteStartObject();
        w.WriteString("type", "error");
        WriteId(w, idJson);
        w.WriteString("code", code);
        w.WriteString("message", message);
        WriteDue(w, dueTicks);
        w.WriteEndObject();
    }

    private static void WriteId(Utf8JsonWriter w, string? idJson)
    {
        w.WritePropertyName("id");
        if (idJson is null)
        {
            w.WriteNullValue();
        }
        else
        {
            // Validated as a JSON string or number by the parser.
            w.WriteRawValue(idJson, skipInputValidation: true);
        }
    }

    private static void WriteStateFields(Utf8JsonWriter w, SessionState s)
    {
        w.WriteString("status", WireNames.Of(s.Status));
        if (s.PlayheadTicks is { } playhead)
        {
            w.WriteString("playhead", TimeUtil.ToIso(playhead));
        }
        else
        {
            w.WriteNull("playhead");
        }

        w.WriteNumber("speed", s.Speed);
        w.WriteNumber("achievedSpeed", Math.Round(s.AchievedSpeed, 6));
        w.WriteBoolean("loop", s.Loop);
        if (s.WindowStartTicks is { } start)
        {
            w.WritePropertyName("window");
            w.WriteStartObject();
            w.WriteString("start", TimeUtil.ToIso(start));
            if (s.WindowEndTicks is { } end)
            {
                w.WriteString("end", TimeUtil.ToIso(end));
            }
            else
            {
                w.WriteNull("end"); // live: plays on into new data
            }

            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("window");
        }

        w.WriteNumber("iteration", s.Iteration);
        WriteStrings(w, "channels", s.Channels.IsDefault ? [] : s.Channels);
        w.WritePropertyName("pacing");
        w.WriteStartObject();
        WriteOptional(w, "duration", s.DurationSeconds);
        WriteOptional(w, "rate", s.Rate);
        WriteOptional(w, "maxGap", s.MaxGapSeconds);
        w.WriteEndObject();
        WriteOptional(w, "bufferAhead", s.BufferAheadSeconds);
        if (s.BehindLiveSeconds is { } behind)
        {
            w.WriteNumber("behindLive", Math.Round(behind, 3));
        }

        w.WritePropertyName("participants");
        w.WriteStartObject();
        w.WriteNumber("total", s.Participants);
        w.WriteNumber("controllers", s.Controllers);
        w.WriteEndObject();
        if (s.Host is { } host)
        {
            w.WriteString("host", host);
        }
    }

    private static void WriteOptional(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
        else
        {
            w.WriteNull(name);
        }
    }

    private static void WriteStrings(Utf8JsonWriter w, string name, IReadOnlyList<string> values)
    {
        w.WritePropertyName(name);
        w.WriteStartArray();
        foreach (var value in values)
        {
            w.WriteStringValue(value);
        }

        w.WriteEndArray();
    }
}
