using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using Tivo.Events;
using Tivo.GrainInterfaces;

namespace Tivo.Gateway.Protocol;

/// <summary>
/// The event message — the one written per event and connection — straight as UTF-8, byte for byte what
/// <see cref="ServerMessageWriter.WriteEventWithWriter"/> writes through <see cref="Utf8JsonWriter"/>, in a third of the time:
/// the fixed text is copied, the channel name copied as ASCII, the payload transcoded once (vectorized) and the numbers
/// formatted in place. The JSON writer checks and escapes every string; through it the event messages were 12.9% of a lead
/// row's gateway samples (247 against 81 ns per message). A message the direct path does not take — a channel name with a
/// character JSON escapes, a payload that is not valid UTF-16, a due before 1970, or over <see cref="MaxDirectBytes"/> —
/// goes through the JSON writer (the <c>TryWrite</c> methods say false).
/// </summary>
internal static class EventMessageWriter
{
    /// <summary>An event message that could be larger than this (a payload of about a third as many characters) goes through
    /// the JSON writer, which grows its buffer as it writes, instead of asking for its largest size up front.</summary>
    internal const int MaxDirectBytes = 64 * 1024;

    /// <summary>The fixed text of an event message, its timestamp (28), seq (20) and due (24) at their longest, and slack.</summary>
    private const int FixedBytes = 192;

    /// <summary>Characters a channel name may have for the direct path to write it as it is: printable ASCII that JSON
    /// strings need not escape (the JSON writer's relaxed encoder escapes none of them either).</summary>
    private static readonly SearchValues<char> PlainChannelChars =
        SearchValues.Create(string.Concat(Enumerable.Range(0x20, 0x7F - 0x20).Select(c => (char)c).Where(c => c is not ('"' or '\\'))));

    /// <summary>Where a lead frame's event messages are written before the frame's writer copies them in (grown to the
    /// largest one the thread wrote, at most <see cref="MaxDirectBytes"/>).</summary>
    [ThreadStatic]
    private static byte[]? t_scratch;

    /// <summary>Writes the message of <paramref name="e"/> to <paramref name="buffer"/>; false, having written nothing, when
    /// the direct path does not take it.</summary>
    public static bool TryWrite(IBufferWriter<byte> buffer, SessionEvent e)
    {
        if (Bound(e) is not (var bound and <= MaxDirectBytes) || !TryWrite(e, buffer.GetSpan((int)bound), out var written))
        {
            return false;
        }

        buffer.Advance(written);
        return true;
    }

    /// <summary>Writes the message of <paramref name="e"/> as the next value of <paramref name="w"/> (a lead frame's
    /// messages array): into this thread's scratch, then copied in (the writer adds the comma, and the frame's layout
    /// offsets still come from it). False, having written nothing, when the direct path does not take it.</summary>
    public static bool TryWrite(Utf8JsonWriter w, SessionEvent e)
    {
        if (Bound(e) is not (var bound and <= MaxDirectBytes))
        {
            return false;
        }

        var scratch = t_scratch is { } s && s.Length >= bound ? s : t_scratch = new byte[Math.Max((int)bound, 1024)];
        if (!TryWrite(e, scratch, out var written))
        {
            return false;
        }

        w.WriteRawValue(scratch.AsSpan(0, written), skipInputValidation: true);
        return true;
    }

    /// <summary>The most bytes the direct path can write for <paramref name="e"/> (64-bit: a payload of over ~700 million
    /// characters would overflow 32).</summary>
    private static long Bound(SessionEvent e) =>
        FixedBytes + e.Channel.Length + (e.Data.Length + 1L) * 3; // UTF-8 takes at most 3 bytes per UTF-16 unit

    /// <summary>The message into <paramref name="destination"/> (at least <see cref="Bound"/> long); false, having written
    /// nothing that counts, when the direct path does not take it.</summary>
    private static bool TryWrite(SessionEvent e, Span<byte> destination, out int written)
    {
        written = 0;
        if (e.Channel.AsSpan().ContainsAnyExcept(PlainChannelChars))
        {
            return false;
        }

        var at = Append(destination, 0, "{\"type\":\"event\",\"channel\":\""u8);
        at += Encoding.ASCII.GetBytes(e.Channel, destination[at..]);
        at = Append(destination, at, "\",\"ts\":\""u8);
        if (!TimeUtil.TryFormatIso(e.Ticks, destination[at..], out var length))
        {
            return false;
        }

        at = Append(destination, at + length, "\",\"seq\":"u8);
        if (!e.Seq.TryFormat(destination[at..], out length, default, CultureInfo.InvariantCulture))
        {
            return false;
        }

        at = Append(destination, at + length, ",\"due\":"u8);
        if (!TimeUtil.TryFormatEpochMs(e.DueTicks, destination[at..], out length))
        {
            return false; // before 1970: the JSON writer's path writes it as a double
        }

        at = Append(destination, at + length, ",\"data\":"u8);
        if (Utf8.FromUtf16(e.Data, destination[at..], out _, out length, replaceInvalidSequences: false) != OperationStatus.Done)
        {
            return false; // the JSON writer's path says what is wrong with it
        }

        at += length;
        if (e.Snapshot)
        {
            at = Append(destination, at, ",\"snapshot\":true"u8);
        }

        destination[at++] = (byte)'}';
        written = at;
        return true;
    }

    private static int Append(Span<byte> destination, int at, ReadOnlySpan<byte> text)
    {
        text.CopyTo(destination[at..]);
        return at + text.Length;
    }
}
