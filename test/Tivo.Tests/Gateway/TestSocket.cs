using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace Tivo.Tests.Gateway;

/// <summary>A real WebSocket client for tests: a background loop collects every server message.</summary>
internal sealed class TestSocket : IAsyncDisposable
{
    private readonly ClientWebSocket _socket = new();
    private readonly Channel<JsonElement> _messages = Channel.CreateUnbounded<JsonElement>();
    private readonly CancellationTokenSource _stop = new();
    private Task? _receiver;

    public WebSocketCloseStatus? CloseStatus { get; private set; }

    public List<JsonElement> Received { get; } = [];

    public static async Task<TestSocket> ConnectAsync(Uri uri, string? bearerToken = null)
    {
        var socket = new TestSocket();
        if (bearerToken is not null)
        {
            socket._socket.Options.SetRequestHeader("Authorization", "Bearer " + bearerToken);
        }

        await socket._socket.ConnectAsync(uri, CancellationToken.None);
        socket._receiver = socket.ReceiveLoopAsync();
        return socket;
    }

    public Task SendAsync(string text) => SendRawAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);

    public Task SendAsync(object message) => SendAsync(JsonSerializer.Serialize(message));

    public Task SendRawAsync(byte[] bytes, WebSocketMessageType type) =>
        _socket.SendAsync(bytes, type, endOfMessage: true, CancellationToken.None);

    /// <summary>The next message of <paramref name="type"/>, skipping clock ticks and anything else.</summary>
    public async Task<JsonElement> NextAsync(string type, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(15));
        while (true)
        {
            JsonElement message;
            try
            {
                message = await _messages.Reader.ReadAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"No '{type}' message arrived. Received so far: {string.Join(" | ", Received.TakeLast(5))}");
            }
            catch (ChannelClosedException)
            {
                throw new InvalidOperationException($"The socket closed ({CloseStatus}) before a '{type}' message arrived.");
            }

            if (message.GetProperty("type").GetString() == type)
            {
                return message;
            }
        }
    }

    /// <summary>The next message after hello, whatever its type.</summary>
    public async Task<JsonElement> NextAnyAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(15));
        while (true)
        {
            var message = await _messages.Reader.ReadAsync(cts.Token);
            if (message.GetProperty("type").GetString() != "hello")
            {
                return message;
            }
        }
    }

    /// <summary>The next message (after hello) that <paramref name="match"/> accepts, skipping the others.</summary>
    public async Task<JsonElement> NextAnyUntilAsync(Func<JsonElement, bool> match, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(15));
        while (true)
        {
            var message = await _messages.Reader.ReadAsync(cts.Token);
            if (match(message))
            {
                return message;
            }
        }
    }

    /// <summary>The next message that is not a clock tick.</summary>
    public async Task<JsonElement> NextNonClockAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(15));
        while (true)
        {
            var message = await _messages.Reader.ReadAsync(cts.Token);
            if (message.GetProperty("type").GetString() != "clock")
            {
                return message;
            }
        }
    }

    /// <summary>Waits until the server closes the socket.</summary>
    public async Task<WebSocketCloseStatus?> WaitForCloseAsync(TimeSpan? timeout = null)
    {
        await _receiver!.WaitAsync(timeout ?? TimeSpan.FromSeconds(15));
        return CloseStatus;
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[1 << 16];
        var message = new MemoryStream();
        try
        {
            while (true)
            {
                var result = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    CloseStatus = result.CloseStatus;
                    // Answer the close handshake as a well-behaved client does.
                    await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
                    return;
                }

                message.Write(buffer, 0, result.Count);
                if (result.EndOfMessage)
                {
                    var element = JsonDocument.Parse(message.ToArray()).RootElement.Clone();
                    lock (Received)
                    {
                        Received.Add(element);
                    }

                    _messages.Writer.TryWrite(element);
                    message.SetLength(0);
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
        }
        finally
        {
            _messages.Writer.TryComplete();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_socket.State == WebSocketState.Open)
        {
            try
            {
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception ex) when (ex is WebSocketException or TimeoutException)
            {
            }
        }

        await _stop.CancelAsync();
        if (_receiver is not null)
        {
            await _receiver.WaitAsync(TimeSpan.FromSeconds(5));
        }

        _socket.Dispose();
        _stop.Dispose();
    }
}

/// <summary>For raw <see cref="ClientWebSocket"/>s that stop reading on purpose (slow consumers, floods).</summary>
internal static class RawSocket
{
    /// <summary>Reads until the server closes the socket: the types of the messages (clock ticks left out),
    /// the codes of the errors, the last error's message and the close status.</summary>
    public static async Task<(List<string> Types, List<string> Codes, string? LastError, WebSocketCloseStatus? Close)> DrainAsync(ClientWebSocket socket)
    {
        var types = new List<string>();
        var codes = new List<string>();
        string? lastError = null;
        var buffer = new byte[1 << 16];
        var message = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, timeout.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return (types, codes, lastError, result.CloseStatus);
            }

            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                var json = JsonDocument.Parse(message.ToArray()).RootElement;
                var type = json.GetProperty("type").GetString()!;
                if (type != "clock")
                {
                    types.Add(type);
                }

                if (type == "error")
                {
                    codes.Add(json.GetProperty("code").GetString()!);
                    lastError = json.GetProperty("message").GetString();
                }

                message.SetLength(0);
            }
        }
    }
}
