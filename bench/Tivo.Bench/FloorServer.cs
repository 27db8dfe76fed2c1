using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;

namespace Tivo.Bench;

/// <summary>
/// The floor of plain delivery on this machine: what one WebSocket frame per event costs a server that does nothing
/// else. Run as its own process (<c>Tivo.Bench floor-peer --port P --channel NAME=FILE…</c>, started by
/// <see cref="PeerServer.StartFloorAsync"/>) and driven by the same driver as Tivo and the naive peer. It answers the
/// WebSocket handshake by hand and reads the client's frames with the runtime's <see cref="System.Net.WebSockets.WebSocket"/>;
/// on <c>play</c> each event of the window becomes due as the naive peer's do (the play's arrival + stream offset ÷ speed),
/// and a thread per core, each sleeping to the next due of its plays, writes each event's frame into one buffer and hands
/// it to the kernel with one blocking <c>send</c>. No store, no grains, no queues, no pipes, no thread hop per event,
/// nothing allocated per event: the kernel's send path (on loopback it also runs the receiver's TCP processing) and one
/// timer wake-up per millisecond are what is left. No server that sends a frame per event goes below it here.
/// </summary>
internal static class FloorServer
{
    public const string Command = "floor-peer";
    public const string Ready = "floor peer listening";

    private static readonly byte[] WebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"u8.ToArray();

    /// <summary>One stored event: its stream time and the bytes of its message between <c>seq</c> and <c>due</c>'s
    /// number, pre-encoded at start.</summary>
    private sealed record Event(long Ms, byte[] Head, byte[] Tail);

    public static async Task<int> RunAsync(string[] args)
    {
        var port = 0;
        var channels = new Dictionary<string, Event[]>(StringComparer.Ordinal);
        for (var i = 1; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--port":
                    port = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                case "--channel":
                    var nameAndFile = args[i + 1].Split('=', 2); // NAME=FILE
                    channels[nameAndFile[0]] = (await File.ReadAllLinesAsync(nameAndFile[1])).Where(l => l.Length > 0).Select(l => Load(nameAndFile[0], l)).ToArray();
                    break;
            }
        }

        // One sending thread per core, each with its share of the plays: one thread alone gets a third of the cores when the
        // driver's threads want both (73,328 of 100,000 events/s, p99 2.8 s at 1,000 sessions), which would measure the
        // scheduler, not the sends.
        var senders = Enumerable.Range(0, Environment.ProcessorCount).Select(_ => new Sender()).ToArray();
        foreach (var (sender, i) in senders.Select((s, i) => (s, i)))
        {
            new Thread(sender.Run) { IsBackground = true, Name = $"floor sender {i}" }.Start();
        }

        var connections = 0;
        var listener = new TcpListener(IPAddress.Loopback, port);
        listener.Start(4096);
        Console.WriteLine($"{Ready} on {port}");
        while (true)
        {
            var socket = await listener.AcceptSocketAsync();
            var sender = senders[connections++ % senders.Length];
            _ = Task.Run(() => ServeAsync(socket, channels, sender));
        }
    }

    private static Event Load(string channel, string line)
    {
        using var json = JsonDocument.Parse(line);
        var ts = json.RootElement.GetProperty("ts").GetString()!;
        var data = json.RootElement.GetProperty("data").GetRawText();
        var head = Encoding.UTF8.GetBytes($$"""{"type":"event","channel":{{JsonSerializer.Serialize(channel)}},"ts":"{{ts}}","seq":""");
        var tail = Encoding.UTF8.GetBytes($$""","data":{{data}}}""");
        return new Event(DateTime.Parse(ts, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal).Ticks / TimeSpan.TicksPerMillisecond, head, tail);
    }

    /// <summary>The handshake, then the client's frames: a <c>play</c> starts the window's events; a close or a reset ends
    /// the connection (the sender drops a play whose send fails).</summary>
    private static async Task ServeAsync(Socket socket, Dictionary<string, Event[]> channels, Sender sender)
    {
        socket.NoDelay = true;
        try
        {
            var buffer = new byte[8192];
            var request = await ReadRequestAsync(socket, buffer);
            var channel = Query(request, "channel");
            var key = Header(request, "Sec-WebSocket-Key");
            if (key is null || channel is null || !channels.TryGetValue(channel, out var events))
            {
                await socket.SendAsync("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray());
                return;
            }

            var accept = Convert.ToBase64String(SHA1.HashData([.. Encoding.ASCII.GetBytes(key), .. WebSocketGuid]));
            await socket.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"));
            // The runtime's WebSocket reads the client's frames; the senders write each event's frame to the socket themselves.
            // This WebSocket never writes: no keep-alive, and the driver aborts its sockets rather than closing them.
            using var webSocket = WebSocket.CreateFromStream(new NetworkStream(socket), new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = TimeSpan.Zero });
            while (true)
            {
                var received = await webSocket.ReceiveAsync(buffer, CancellationToken.None);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                if (received.EndOfMessage && Play.From(socket, events, buffer.AsMemory(0, received.Count)) is { } play)
                {
                    sender.Add(play);
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or IOException or WebSocketException or JsonException or FormatException or ObjectDisposedException)
        {
        }
        finally
        {
            socket.Dispose();
        }
    }

    private static async Task<string> ReadRequestAsync(Socket socket, byte[] buffer)
    {
        var read = 0;
        while (true)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read));
            if (n == 0)
            {
                throw new IOException("closed before the handshake");
            }

            read += n;
            var end = buffer.AsSpan(0, read).IndexOf("\r\n\r\n"u8);
            if (end >= 0)
            {
                return Encoding.ASCII.GetString(buffer, 0, end); // a client sends nothing more before the 101
            }

            if (read == buffer.Length)
            {
                throw new IOException("handshake too long");
            }
        }
    }

    private static string? Query(string request, string name)
    {
        var target = request[..request.IndexOf('\n')].Split(' ')[1];
        return QueryHelpers.ParseQuery(target.Contains('?') ? target[target.IndexOf('?')..] : "").TryGetValue(name, out var value) ? value.ToString() : null;
    }

    private static string? Header(string request, string name) =>
        request.Split("\r\n").Select(l => l.Split(':', 2)).Where(p => p.Length == 2 && p[0].Trim().Equals(name, StringComparison.OrdinalIgnoreCase)).Select(p => p[1].Trim()).FirstOrDefault();

    private static double NowMs() => (DateTime.UtcNow - DateTime.UnixEpoch).TotalMilliseconds;

    /// <summary>One play: the window's events in order, the next one's due.</summary>
    private sealed class Play(Socket socket, Event[] events, int from, int to, double t0, long startMs, double speed)
    {
        private int _next = from;
        private long _seq;

        public double NextDue => t0 + ((events[_next].Ms - startMs) / speed);

        public static Play? From(Socket socket, Event[] events, ReadOnlyMemory<byte> payload)
        {
            using var json = JsonDocument.Parse(payload);
            var root = json.RootElement;
            if (root.GetProperty("action").GetString() != "play")
            {
                return null;
            }

            static long Ms(JsonElement e) => e.GetDateTime().ToUniversalTime().Ticks / TimeSpan.TicksPerMillisecond;
            var (start, end) = (Ms(root.GetProperty("start")), Ms(root.GetProperty("end")));
            var speed = root.TryGetProperty("speed", out var s) ? s.GetDouble() : 1;
            var from = Array.FindIndex(events, e => e.Ms >= start);
            var to = Array.FindIndex(events, e => e.Ms >= end);
            from = from < 0 ? events.Length : from;
            to = to < 0 ? events.Length : to;
            return from < to ? new Play(socket, events, from, to, NowMs(), start, speed) : null;
        }

        /// <summary>Sends the next event as one frame with one <c>send</c>; false when the play is over or its client gone.</summary>
        public bool SendNext(byte[] frame)
        {
            var e = events[_next];
            var due = NextDue;
            var body = frame.AsSpan(4); // room for the longest header a frame this size needs
            e.Head.CopyTo(body);
            var n = e.Head.Length;
            Utf8Formatter.TryFormat(++_seq, body[n..], out var w);
            n += w;
            ",\"due\":"u8.CopyTo(body[n..]);
            n += 7;
            Utf8Formatter.TryFormat(Math.Round(due, 3), body[n..], out w);
            n += w;
            e.Tail.CopyTo(body[n..]);
            n += e.Tail.Length;
            var header = n < 126 ? 2 : 4;
            var start = 4 - header;
            frame[start] = 0x81; // FIN, text
            if (n < 126)
            {
                frame[start + 1] = (byte)n;
            }
            else
            {
                frame[start + 1] = 126;
                frame[start + 2] = (byte)(n >> 8);
                frame[start + 3] = (byte)n;
            }

            try
            {
                socket.Send(frame.AsSpan(start, header + n));
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                return false;
            }

            return ++_next < to;
        }
    }

    /// <summary>A sending thread: its plays by next due; sleeps to the earliest (a new play wakes it).</summary>
    private sealed class Sender
    {
        private readonly ConcurrentQueue<Play> _incoming = new();
        private readonly AutoResetEvent _wake = new(false);
        private readonly PriorityQueue<Play, double> _plays = new();
        private readonly byte[] _frame = new byte[1 << 16];

        public void Add(Play play)
        {
            _incoming.Enqueue(play);
            _wake.Set();
        }

        public void Run()
        {
            while (true)
            {
                while (_incoming.TryDequeue(out var play))
                {
                    _plays.Enqueue(play, play.NextDue);
                }

                var now = NowMs();
                while (_plays.TryPeek(out var play, out var due) && due <= now)
                {
                    _plays.Dequeue();
                    if (play.SendNext(_frame))
                    {
                        _plays.Enqueue(play, play.NextDue);
                    }
                }

                if (!_plays.TryPeek(out _, out var next))
                {
                    _wake.WaitOne();
                }
                else if (next - NowMs() is var wait and > 0)
                {
                    _wake.WaitOne((int)Math.Ceiling(wait));
                }
            }
        }
    }
}
