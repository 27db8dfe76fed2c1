using Tivo.Events;
using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Tivo.GrainInterfaces;

namespace Tivo.Gateway.Protocol;

/// <summary>
/// How a connection writes what it sends: protocol v1 (<see cref="V1"/>) or the 2016 prototype's shapes
/// (<see cref="PrototypeWireFormat"/>). A method that writes nothing means the message has no counterpart in
/// that format and is not sent. One instance per connection (a format may remember what it said).
/// </summary>
internal abstract class WireFormat
{
    /// <summary>Protocol v1: every message, as docs/protocol.md describes. Stateless, so shared.</summary>
    public static readonly WireFormat V1 = new V1Format();

    public abstract void WriteHello(IBufferWriter<byte> buffer, string session, IReadOnlyList<string> channels, ParticipantRole role, SessionState state);

    public abstract void WriteAck(IBufferWriter<byte> buffer, string? idJson, string action);

    public abstract void WriteError(IBufferWriter<byte> buffer, string? idJson, string code, string message);

    public abstract void WriteState(IBufferWriter<byte> buffer, SessionState state);

    public abstract void WriteEvent(IBufferWriter<byte> buffer, SessionEvent e);

    public abstract void WriteClock(IBufferWriter<byte> buffer, long playheadTicks, double speed, int iteration);

    public abstract void WriteLoop(IBufferWriter<byte> buffer, int iteration);

    public abstract void WriteGap(IBufferWriter<byte> buffer, long fromSeq, long toSeq, string message);

    /// <summary>A signal the session pushed (clock, loop, error, gap, state), as its own message.</summary>
    public void WriteSignal(IBufferWriter<byte> buffer, SessionSignal signal)
    {
        switch (signal)
        {
            case ClockSignal clock:
                WriteClock(buffer, clock.PlayheadTicks, clock.Speed, clock.Iteration);
                break;
            case LoopSignal loop:
                WriteLoop(buffer, loop.Iteration);
                break;
            case ErrorSignal error:
                WriteError(buffer, null, error.Code, error.Message);
                break;
            case GapSignal gap:
                WriteGap(buffer, gap.FromSeq, gap.ToSeq, gap.Message);
                break;
            case StateSignal state:
                WriteState(buffer, state.State);
                break;
        }
    }

    /// <summary>Whether the format has lead mode's frames (<see cref="WriteBatch"/>, <see cref="WriteRecall"/>).</summary>
    public virtual bool SupportsLead => false;

    /// <summary>A lead connection's frame: shared messages sent ahead, each with its due, and the gateway's clock.</summary>
    public virtual void WriteBatch(IBufferWriter<byte> buffer, IReadOnlyList<Delivery<ReadOnlyMemory<byte>>> items, long nowTicks) => throw new NotSupportedException();

    /// <summary>Tells a lead connection to drop what it holds due after <paramref name="afterTicks"/>.</summary>
    public virtual void WriteRecall(IBufferWriter<byte> buffer, long afterTicks) => throw new NotSupportedException();

    private sealed class V1Format : WireFormat
    {
        public override void WriteHello(IBufferWriter<byte> buffer, string session, IReadOnlyList<string> channels, ParticipantRole role, SessionState state) =>
            ServerMessageWriter.WriteHello(buffer, session, channels, role, state);

        public override void WriteAck(IBufferWriter<byte> buffer, string? idJson, string action) => ServerMessageWriter.WriteAck(buffer, idJson, action);

        public override void WriteError(IBufferWriter<byte> buffer, string? idJson, string code, string message) => ServerMessageWriter.WriteError(buffer, idJson, code, message);

        public override void WriteState(IBufferWriter<byte> buffer, SessionState state) => ServerMessageWriter.WriteState(buffer, state);

        public override void WriteEvent(IBufferWriter<byte> buffer, SessionEvent e) => ServerMessageWriter.WriteEvent(buffer, e);

        public override void WriteClock(IBufferWriter<byte> buffer, long playheadTicks, double speed, int iteration) =>
            ServerMessageWriter.WriteClock(buffer, playheadTicks, speed, iteration);

        public override void WriteLoop(IBufferWriter<byte> buffer, int iteration) => ServerMessageWriter.WriteLoop(buffer, iteration);

        public override void WriteGap(IBufferWriter<byte> buffer, long fromSeq, long toSeq, string message) => ServerMessageWriter.WriteGap(buffer, fromSeq, toSeq, message);

        public override bool SupportsLead => true;

        public override void WriteBatch(IBufferWriter<byte> buffer, IReadOnlyList<Delivery<ReadOnlyMemory<byte>>> items, long nowTicks) =>
            ServerMessageWriter.WriteBatch(buffer, items, nowTicks);

        public override void WriteRecall(IBufferWriter<byte> buffer, long afterTicks) => ServerMessageWriter.WriteRecall(buffer, afterTicks);
    }
}

/// <summary>
/// The 2016 Node.js prototype's message shapes, for its clients unmodified (<c>Tivo:Gateway:Prototype:Channel</c>):
/// each event is its stored payload as-is, and status messages are <c>{"type":"PLAY"|"STOP"|"END_LOOP"|"END_NOLOOP",
/// "text":"…"}</c>; errors are <c>{"type":"ERROR","text":"code: message"}</c> so a page that shows <c>.text</c> shows
/// them. Protocol v1's hello, acks and clock ticks have no counterpart and are not sent.
/// </summary>
internal sealed class PrototypeWireFormat : WireFormat
{
    private SessionStatus? _lastStatus;

    public override void WriteHello(IBufferWriter<byte> buffer, string session, IReadOnlyList<string> channels, ParticipantRole role, SessionState state) =>
        _lastStatus = state.Status;

    public override void WriteAck(IBufferWriter<byte> buffer, string? idJson, string action)
    {
    }

    public override void WriteError(IBufferWriter<byte> buffer, string? idJson, string code, string message) =>
        Write(buffer, "ERROR", $"{code}: {message}");

    public override void WriteState(IBufferWriter<byte> buffer, SessionState state)
    {
        var previous = _lastStatus;
        _lastStatus = state.Status;
        switch (state.Status)
        {
            case SessionStatus.Playing when previous is not (SessionStatus.Playing or SessionStatus.Buffering):
                var window = state.WindowStartTicks is { } s && state.WindowEndTicks is { } e ? $" {TimeUtil.ToIso(s)} to {TimeUtil.ToIso(e)}" : "";
                Write(buffer, "PLAY", $"Playing{window} at speed {state.Speed.ToString(CultureInfo.InvariantCulture)}{(state.Loop ? ", looping" : "")}.");
                break;
            case SessionStatus.Stopped when previous != SessionStatus.Stopped:
                Write(buffer, "STOP", "Stopped.");
                break;
            case SessionStatus.Ended when previous != SessionStatus.Ended:
                Write(buffer, "END_NOLOOP", "Reached the end of the window; not looping, so playback has ended.");
                break;
        }
    }

    public override void WriteEvent(IBufferWriter<byte> buffer, SessionEvent e)
    {
        var span = buffer.GetSpan(e.Data.Length * 3);
        var written = System.Text.Encoding.UTF8.GetBytes(e.Data, span);
        buffer.Advance(written);
    }

    public override void WriteClock(IBufferWriter<byte> buffer, long playheadTicks, double speed, int iteration)
    {
    }

    public override void WriteLoop(IBufferWriter<byte> buffer, int iteration) =>
        Write(buffer, "END_LOOP", $"Reached the end of the window; looping (pass {iteration + 1}).");

    public override void WriteGap(IBufferWriter<byte> buffer, long fromSeq, long toSeq, string message) => Write(buffer, "ERROR", message);

    private static void Write(IBufferWriter<byte> buffer, string type, string text)
    {
        using var w = new Utf8JsonWriter(buffer);
        w.WriteStartObject();
        w.WriteString("type", type);
        w.WriteString("text", text);
        w.WriteEndObject();
    }
}
