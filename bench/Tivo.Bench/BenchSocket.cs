using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Tivo.Bench;

/// <summary>A benchmark client socket: sends controls and waits for messages, timing with a Stopwatch.</summary>
internal sealed class BenchSocket : IAsyncDisposable
{
    private readonly ClientWebSocket _socket = new();
    private readonly byte[] _buffer = new byte[1 << 16];

    public static async Task<BenchSocket> ConnectAsync(Uri uri)
    {
        var s = new BenchSocket();
        await s._socket.ConnectAsync(uri, CancellationToken.None);
        return s;
    }

    public Task SendAsync(string text) => _socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>Receives until a message satisfies <paramref name="match"/>; returns it with the stopwatch time of its arrival.</summary>
    public async Task<(JsonElement Message, TimeSpan At)> WaitForAsync(Func<JsonElement, bool> match, Stopwatch clock, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var message = new MemoryStream();
        while (true)
        {
            var result = await _socket.ReceiveAsync(_buffer, cancel.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new InvalidOperationException($"the server closed the socket: {_socket.CloseStatus} {_socket.CloseStatusDescription}");
            }

            message.Write(_buffer, 0, result.Count);
            if (!result.EndOfMessage)
            {
                continue;
            }

            var at = clock.Elapsed;
            var json = JsonDocument.Parse(message.ToArray()).RootElement.Clone();
            message.SetLength(0);
            if (json.GetProperty("type").GetString() == "error")
            {
                throw new InvalidOperationException($"the server answered with an error: {json}");
            }

            if (match(json))
            {
                return (json, at);
            }
        }
    }

    public static bool IsEvent(JsonElement m) => m.GetProperty("type").GetString() == "event";

    public static bool IsEnded(JsonElement m) => m.GetProperty("type").GetString() == "state" && m.GetProperty("status").GetString() == "ended";

    public static bool IsHello(JsonElement m) => m.GetProperty("type").GetString() == "hello";

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_socket.State == WebSocketState.Open)
            {
                using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cancel.Token);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
        }

        _socket.Dispose();
    }
}

internal static class Stats
{
    public static double Median(IReadOnlyList<double> values) => values.Count == 0 ? double.NaN : values.Order().ElementAt(values.Count / 2);

    public static double Max(IReadOnlyList<double> values) => values.Count == 0 ? double.NaN : values.Max();
}
