using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Tivo.Testing;

/// <summary>
/// A participant that records what it receives: every event's payload counter (<c>data.i</c>), seq and arrival time,
/// and the last state's status and host. Used to count lost and repeated events across failures.
/// </summary>
public sealed class StreamWatcher : IAsyncDisposable
{
    private readonly ClientWebSocket _socket = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(long I, long Seq, long ArrivedAt)> _events = [];
    private readonly TaskCompletionSource _hello = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _loop = Task.CompletedTask;

    public string Name { get; }

    public string? Host { get; private set; }

    public string? Status { get; private set; }

    public WebSocketCloseStatus? CloseStatus { get; private set; }

    /// <summary>Acks received (one per control answered).</summary>
    public int Acks { get; private set; }

    private StreamWatcher(string name) => Name = name;

    public static async Task<StreamWatcher> ConnectAsync(string name, Uri uri)
    {
        var watcher = new StreamWatcher(name);
        await watcher._socket.ConnectAsync(uri, CancellationToken.None);
        watcher._loop = watcher.ReceiveAsync();
        // Joined once the hello came (on a starved machine the join can take longer than any fixed wait).
        await Task.WhenAny(watcher._hello.Task, watcher._loop).WaitAsync(TimeSpan.FromSeconds(30));
        return watcher._hello.Task.IsCompleted ? watcher : throw new InvalidOperationException($"{name}: the connection ended before its hello ({watcher.CloseStatus})");
    }

    /// <summary>The events received so far: payload counter, seq, arrival (Stopwatch timestamp).</summary>
    public List<(long I, long Seq, long ArrivedAt)> Events
    {
        get
        {
            lock (_events)
            {
                return [.. _events];
            }
        }
    }

    public int Count
    {
        get
        {
            lock (_events)
            {
                return _events.Count;
            }
        }
    }

    public Task SendAsync(string json) => _socket.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>Counters missing between the first and the last received, and counters received more than once.</summary>
    public (long First, long Last, int Lost, int Repeated) Tally()
    {
        var counters = Events.Select(e => e.I).ToList();
        if (counters.Count == 0)
        {
            return (0, -1, 0, 0);
        }

        var distinct = counters.Distinct().Count();
        var (first, last) = (counters.Min(), counters.Max());
        return (first, last, (int)(last - first + 1 - distinct), counters.Count - distinct);
    }

    /// <summary>Seconds from <paramref name="since"/> (a Stopwatch timestamp) to the first event that arrived more than
    /// <paramref name="after"/> seconds later: how long until events flow again after a failure at <paramref name="since"/>.</summary>
    public double SecondsToFlow(long since, double after = 0.5) =>
        (Events.First(e => e.ArrivedAt > since + (long)(after * Stopwatch.Frequency)).ArrivedAt - since) / (double)Stopwatch.Frequency;

    /// <summary>The longest gap between consecutive arrivals after <paramref name="since"/>, in seconds.</summary>
    public double LongestGap(long since)
    {
        var arrivals = Events.Select(e => e.ArrivedAt).Where(t => t >= since).ToList();
        return arrivals.Count < 2 ? 0 : arrivals.Zip(arrivals.Skip(1), (x, y) => (y - x) / (double)Stopwatch.Frequency).Max();
    }

    /// <summary>The counters missing between the first and the last received, as ranges ("120-139").</summary>
    public IEnumerable<string> Missing()
    {
        var seen = Events.Select(e => e.I).ToHashSet();
        if (seen.Count == 0)
        {
            yield break;
        }

        long? from = null;
        for (var i = seen.Min(); i <= seen.Max() + 1; i++)
        {
            if (!seen.Contains(i) && i <= seen.Max())
            {
                from ??= i;
            }
            else if (from is { } f)
            {
                yield return f == i - 1 ? $"{f}" : $"{f}-{i - 1}";
                from = null;
            }
        }
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[1 << 16];
        var message = new MemoryStream();
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var result = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    CloseStatus = result.CloseStatus;
                    return;
                }

                message.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage)
                {
                    continue;
                }

                var arrived = Stopwatch.GetTimestamp();
                using (var document = JsonDocument.Parse(message.ToArray()))
                {
                    var root = document.RootElement;
                    switch (root.GetProperty("type").GetString())
                    {
                        case "event" when root.GetProperty("data").TryGetProperty("i", out var i):
                            lock (_events)
                            {
                                _events.Add((i.GetInt64(), root.GetProperty("seq").GetInt64(), arrived));
                            }

                            break;
                        case "hello":
                            _hello.TrySetResult();
                            break;
                        case "ack":
                            Acks++;
                            break;
                        case "state":
                            Status = root.GetProperty("status").GetString();
                            Host = root.TryGetProperty("host", out var host) ? host.GetString() : Host;
                            break;
                    }
                }

                message.SetLength(0);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }

        _socket.Dispose();
        _stop.Dispose();
    }
}
