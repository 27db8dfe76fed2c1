using System.Buffers;
using System.Net.WebSockets;

namespace Tivo.Gateway.Connections;

/// <summary>What <see cref="FrameReader.ReadAsync"/> found: a whole message, a message over the limit, or the close.</summary>
internal enum FrameKind
{
    Message,
    TooLarge,
    Closed,
}

/// <summary>One client message: its frame type and bytes (valid until the next read).</summary>
internal readonly record struct Frame(FrameKind Kind, WebSocketMessageType Type, ReadOnlyMemory<byte> Utf8);

/// <summary>
/// Reads whole client messages from a socket. Waits for each with a zero-byte read, so an idle connection holds no
/// receive buffer; a message is assembled in buffers made for it and never beyond <c>maxMessageBytes</c> (the
/// rest is not read: the connection is to be closed with 1009).
/// </summary>
internal sealed class FrameReader(WebSocket socket, int maxMessageBytes)
{
    public async ValueTask<Frame> ReadAsync(CancellationToken cancellationToken)
    {
        var peek = await socket.ReceiveAsync(Memory<byte>.Empty, cancellationToken);
        if (peek.MessageType == WebSocketMessageType.Close)
        {
            return new Frame(FrameKind.Closed, peek.MessageType, default);
        }

        if (peek.EndOfMessage)
        {
            return new Frame(FrameKind.Message, peek.MessageType, ReadOnlyMemory<byte>.Empty); // an empty frame: the zero-byte read took it all
        }

        var message = new ArrayBufferWriter<byte>(256); // per message: controls are rare, idle connections hold nothing
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            ValueWebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(buffer.AsMemory(), cancellationToken);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return new Frame(FrameKind.Closed, result.MessageType, default);
                }

                if (message.WrittenCount + result.Count > maxMessageBytes)
                {
                    return new Frame(FrameKind.TooLarge, peek.MessageType, default);
                }

                message.Write(buffer.AsSpan(0, result.Count));
            }
            while (!result.EndOfMessage);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return new Frame(FrameKind.Message, peek.MessageType, message.WrittenMemory);
    }
}
