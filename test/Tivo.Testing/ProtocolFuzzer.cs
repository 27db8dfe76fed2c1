using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using CsCheck;

namespace Tivo.Testing;

/// <summary>What a fuzz run saw: every count a user of the server would check.</summary>
public sealed record FuzzReport(
    int FramesSent,
    int Replies,
    int Unanswered,
    IReadOnlyDictionary<string, int> ErrorCodes,
    IReadOnlyDictionary<string, int> Closes,
    int SilentCloses,
    int Requests,
    IReadOnlyDictionary<int, int> Statuses,
    int ServerErrors,
    int ErrorsWithoutBody,
    IReadOnlyList<string> Examples)
{
    /// <summary>Replies with code <c>internal</c>: the server failed on input it should have refused.</summary>
    public int Internal => ErrorCodes.GetValueOrDefault("internal");

    public override string ToString() =>
        $"{FramesSent} frames ({Replies} answers, {Unanswered} unanswered; errors {Join(ErrorCodes)}; closes {Join(Closes)}; silent closes {SilentCloses}), " +
        $"{Requests} HTTP requests (statuses {Join(Statuses)}; 5xx {ServerErrors}; errors without a coded body {ErrorsWithoutBody})" +
        (Examples.Count > 0 ? "; e.g. " + string.Join(" | ", Examples) : "");

    private static string Join<TKey>(IReadOnlyDictionary<TKey, int> counts) where TKey : notnull =>
        counts.Count == 0 ? "none" : string.Join(", ", counts.OrderBy(c => c.Key).Select(c => $"{c.Key}: {c.Value}"));
}

/// <summary>
/// A property-based fuzzer for a live gateway (CsCheck generators): protocol-shaped frames with hostile values
/// (denormals, huge and negative numbers, lone surrogates, times without offsets, wrong types, truncated JSON,
/// unknown actions) over several sockets, and generated HTTP requests against every route. Used by the test
/// suite (seconds) and by the benchmark's long mode. It never ingests into channels it did not make up.
/// </summary>
public static class ProtocolFuzzer
{
    private static readonly string[] Actions = ["play", "pause", "resume", "stop", "status", "seek", "speed", "PLAY", "Play", "", "rewind", "\\ud800", "<script>", "play\\u0000"];
    private static readonly string[] Fields = ["start", "end", "speed", "loop", "duration", "rate", "maxGap", "channels", "to", "id", "lead", "command", "action"];
    private static readonly string[] Channels = ["taxi", "sensors", "trades", "alerts", "nope", "", "a/b", "x%2Fy", "\\ud800", "valve ß/2", "'; DROP TABLE x; --"];

    private static readonly Gen<string> Number = Gen.Frequency(
        (4, Gen.Double.Select(d => double.IsFinite(d) ? d.ToString("R", CultureInfo.InvariantCulture) : "1e999")),
        (3, Gen.OneOf(Gen.Const("5e-324"), Gen.Const("1e-310"), Gen.Const("0"), Gen.Const("-0"), Gen.Const("-1"), Gen.Const("1e308"),
            Gen.Const("1e9"), Gen.Const("1e10"), Gen.Const("0.001"), Gen.Const("0.0009"), Gen.Const("100000"), Gen.Const("4.9e-324"), Gen.Const("NaN"))),
        (2, Gen.Int[-1000, 1000].Select(i => i.ToString(CultureInfo.InvariantCulture))));

    private static readonly Gen<string> Time = Gen.Frequency(
        (4, Gen.Long[new DateTime(2016, 1, 13, 0, 0, 0, DateTimeKind.Utc).Ticks, new DateTime(2016, 1, 18, 0, 0, 0, DateTimeKind.Utc).Ticks]
            .Select(t => new DateTime(t, DateTimeKind.Utc).ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture))),
        (2, Gen.Long[DateTime.MinValue.Ticks, DateTime.MaxValue.Ticks].Select(t => new DateTime(t, DateTimeKind.Utc).ToString("O", CultureInfo.InvariantCulture))),
        (2, Gen.OneOf(Gen.Const("12:00:00"), Gen.Const("2016-01-15T14:32:24"), Gen.Const("9999-12-31T23:59:59.9999999Z"), Gen.Const("0001-01-01T00:00:00Z"),
            Gen.Const("2016-02-30T00:00:00Z"), Gen.Const("yesterday"), Gen.Const("PT1M"), Gen.Const("-PT1S"), Gen.Const("P99999999D"))));

    private static readonly Gen<string> Text = Gen.Frequency(
        (3, Gen.String.Select(Escape)),
        (2, Gen.OneOf(Channels.Select(c => Gen.Const(c)).ToArray())),
        (1, Gen.Int[1, 6000].Select(n => new string('x', n))),
        (1, Gen.OneOf(Gen.Const("\\ud800"), Gen.Const("\\udfff\\ud800"), Gen.Const("\\u0000"), Gen.Const("True"), Gen.Const("False"), Gen.Const("maybe"))));

    private static readonly Gen<string> Value = Gen.Recursive<string>((depth, inner) => Gen.Frequency(
        (5, Number),
        (4, Time.Select(t => $"\"{t}\"")),
        (3, Text.Select(t => $"\"{t}\"")),
        (2, Gen.OneOf(Gen.Const("true"), Gen.Const("false"), Gen.Const("null"), Gen.Const("\"True\""), Gen.Const("\"False\""))),
        (depth < 3 ? 1 : 0, inner.Array[0, 4].Select(a => "[" + string.Join(",", a) + "]")),
        (depth < 3 ? 1 : 0, Gen.Select(Gen.OneOf(Fields.Select(f => Gen.Const(f)).ToArray()), inner).Array[0, 3]
            .Select(a => "{" + string.Join(",", a.Select(p => $"\"{p.Item1}\":{p.Item2}")) + "}"))));

    private static readonly Gen<string> Message = Gen.Select(
        Gen.OneOf(Actions.Select(a => Gen.Const(a)).ToArray()),
        Gen.Select(Gen.OneOf(Fields.Select(f => Gen.Const(f)).ToArray()), Value).Array[0, 8],
        Gen.Bool,
        (action, fields, useCommand) =>
            "{" + string.Join(",", fields.Select(f => $"\"{f.Item1}\":{f.Item2}").Prepend($"\"{(useCommand ? "command" : "action")}\":\"{action}\"")) + "}");

    /// <summary>Text frames: protocol-shaped messages, mostly; some truncated, some not JSON at all, some not objects.</summary>
    public static readonly Gen<string> Frame = Gen.Frequency(
        (12, Message),
        (2, Gen.Select(Message, Gen.Double[0, 1]).Select((m, cut) => m[..(int)(m.Length * cut)])),
        (1, Value),
        (1, Gen.String),
        (1, Gen.OneOf(Gen.Const(""), Gen.Const(" "), Gen.Const("{}"), Gen.Const("[]"), Gen.Const("{\"action\":}"), Gen.Const("{\"action\":\"status\"}"))));

    /// <summary>HTTP requests against every route: method, path and query, content type, body.</summary>
    public static readonly Gen<(string Method, string Path, string? ContentType, string? Body)> Request = Gen.Frequency(
        (4, Gen.Select(Gen.OneOf(Channels.Select(c => Gen.Const(c)).ToArray()), Time, Time, Gen.OneOf(Gen.Const("1"), Gen.Const("60"), Gen.Const("abc"), Gen.Const("0"), Gen.Const("-5"), Gen.Const("99999999999")))
            .Select((c, s, e, step) => ("GET", $"channels/{Uri.EscapeDataString(c)}/histogram?start={Uri.EscapeDataString(s)}&end={Uri.EscapeDataString(e)}&step={step}", (string?)null, (string?)null))),
        (2, Gen.OneOf(Channels.Select(c => Gen.Const(c)).ToArray()).Select(c => ("GET", $"channels/{Uri.EscapeDataString(c)}", (string?)null, (string?)null))),
        (1, Gen.OneOf(Gen.Const("channels"), Gen.Const("healthz"), Gen.Const("nope"), Gen.Const("channels/taxi/nope"), Gen.Const("ws"))
            .Select(p => ("GET", p, (string?)null, (string?)null))),
        (4, Gen.Select(Gen.Int[0, 99999], Gen.OneOf(Gen.Const("application/json"), Gen.Const("application/x-ndjson"), Gen.Const("text/plain"), Gen.Const("application/json; charset=utf-8"), Gen.Const("multipart/form-data")),
                Gen.Select(Time, Value).Array[0, 5], Gen.Bool)
            .Select((n, type, events, ndjson) => ("POST", $"channels/fuzz-{n}/events", (string?)type,
                (string?)(ndjson ? string.Join("\n", events.Select(e => $"{{\"ts\":\"{e.Item1}\",\"data\":{e.Item2}}}"))
                                 : "[" + string.Join(",", events.Select(e => $"{{\"ts\":\"{e.Item1}\",\"data\":{e.Item2}}}")) + "]")))),
        (1, Gen.Select(Gen.Int[0, 99999], Gen.String).Select((n, body) => ("POST", $"channels/fuzz-{n}/events", (string?)"application/json", (string?)body))));

    /// <summary>Runs <paramref name="frames"/> generated frames over <paramref name="sockets"/> connections and
    /// <paramref name="requests"/> generated HTTP requests against the gateway at <paramref name="httpBase"/>.</summary>
    public static async Task<FuzzReport> RunAsync(Uri httpBase, int frames, int requests, int sockets, ulong seed, CancellationToken cancellationToken)
    {
        var pcg = new PCG(1, seed);
        var frameList = Enumerable.Range(0, frames).Select(i => Frame.Generate(pcg, null, out _)).ToList();
        var requestList = Enumerable.Range(0, requests).Select(i => Request.Generate(pcg, null, out _)).ToList();
        var tally = new Tally();
        var wsBase = new Uri(httpBase.ToString().Replace("http://", "ws://", StringComparison.Ordinal));
        var socketTasks = Enumerable.Range(0, sockets)
            .Select(i => RunSocketAsync(new Uri(wsBase, "channels/taxi"), frameList.Where((_, k) => k % sockets == i).ToList(), tally, cancellationToken));
        var httpTask = RunHttpAsync(httpBase, requestList, tally, cancellationToken);
        await Task.WhenAll(socketTasks.Append(httpTask));
        return tally.Report(frames, requests);
    }

    /// <summary>Sends each frame and waits for its answer (every control is answered by one <c>ack</c> or one
    /// <c>error</c>), reconnecting when the server closes, so every frame is read and judged by the server.</summary>
    private static async Task RunSocketAsync(Uri uri, List<string> frames, Tally tally, CancellationToken cancellationToken)
    {
        var next = 0;
        while (next < frames.Count)
        {
            using var socket = new ClientWebSocket();
            await socket.ConnectAsync(uri, cancellationToken);
            using var answers = new SemaphoreSlim(0);
            var reader = ReadAsync(socket, tally, answers, cancellationToken);
            try
            {
                for (; next < frames.Count && socket.State == WebSocketState.Open; next++)
                {
                    await socket.SendAsync(Encoding.UTF8.GetBytes(frames[next]), WebSocketMessageType.Text, true, cancellationToken);
                    if (!await answers.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken) && socket.State == WebSocketState.Open)
                    {
                        tally.Unanswered(frames[next]);
                    }
                }

                if (socket.State == WebSocketState.Open)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "fuzzed", cancellationToken);
                }
            }
            catch (WebSocketException)
            {
                next++; // the server closed while we sent; the reader says why
            }

            await reader.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        }
    }

    private static async Task ReadAsync(ClientWebSocket socket, Tally tally, SemaphoreSlim answers, CancellationToken cancellationToken)
    {
        var buffer = new byte[1 << 16];
        var message = new MemoryStream();
        string? lastType = null;
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, cancellationToken);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    answers.Release(); // the frame that caused the close is answered by it
                    if (result.CloseStatus != WebSocketCloseStatus.NormalClosure || result.CloseStatusDescription != "bye")
                    {
                        tally.Close($"{(int?)result.CloseStatus} {result.CloseStatusDescription}", coded: lastType == "error");
                    }

                    return;
                }

                message.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage)
                {
                    continue;
                }

                var json = JsonDocument.Parse(message.ToArray()).RootElement;
                message.SetLength(0);
                lastType = json.GetProperty("type").GetString();
                if (lastType is "ack" or "error")
                {
                    tally.Reply(lastType == "error" ? json.GetProperty("code").GetString() : null, lastType == "error" ? json.GetProperty("message").GetString() : null);
                    // Errors the session pushes by itself answer no frame; every other ack or error answers one.
                    var pushed = lastType == "error" && json.GetProperty("code").GetString() is "slow_consumer" or "store_unavailable";
                    if (!pushed)
                    {
                        answers.Release();
                    }
                }
            }
        }
        catch (WebSocketException ex)
        {
            answers.Release();
            tally.Close($"aborted ({ex.WebSocketErrorCode})", coded: false);
        }
    }

    private static async Task RunHttpAsync(Uri httpBase, List<(string Method, string Path, string? ContentType, string? Body)> requests, Tally tally, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = httpBase };
        foreach (var (method, path, contentType, body) in requests)
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            if (body is not null)
            {
                request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
                request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            }

            using var response = await http.SendAsync(request, cancellationToken);
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            var coded = false;
            if ((int)response.StatusCode >= 400)
            {
                try
                {
                    coded = JsonDocument.Parse(text).RootElement.TryGetProperty("code", out _);
                }
                catch (JsonException)
                {
                }
            }

            tally.Status((int)response.StatusCode, coded, $"{method} {path} -> {(int)response.StatusCode} {text[..Math.Min(text.Length, 120)]}");
        }
    }

    private static string Escape(string s)
    {
        var builder = new StringBuilder(s.Length);
        foreach (var c in s)
        {
            builder.Append(c is '"' or '\\' || char.IsControl(c) || char.IsSurrogate(c) ? $"\\u{(int)c:x4}" : c.ToString());
        }

        return builder.ToString();
    }

    private sealed class Tally
    {
        private readonly Lock _lock = new();
        private readonly Dictionary<string, int> _errors = new();
        private readonly Dictionary<string, int> _closes = new();
        private readonly Dictionary<int, int> _statuses = new();
        private readonly List<string> _examples = [];
        private int _replies, _silent, _serverErrors, _uncoded, _unanswered;

        public void Unanswered(string frame)
        {
            lock (_lock)
            {
                _unanswered++;
                if (_examples.Count < 5)
                {
                    _examples.Add("unanswered " + frame[..Math.Min(frame.Length, 120)]);
                }
            }
        }

        public void Reply(string? errorCode, string? message)
        {
            lock (_lock)
            {
                _replies++;
                if (errorCode is not null)
                {
                    _errors[errorCode] = _errors.GetValueOrDefault(errorCode) + 1;
                    if (errorCode == "internal" && _examples.Count < 5)
                    {
                        _examples.Add(message ?? "");
                    }
                }
            }
        }

        public void Close(string how, bool coded)
        {
            lock (_lock)
            {
                _closes[how] = _closes.GetValueOrDefault(how) + 1;
                if (!coded)
                {
                    _silent++;
                    if (_examples.Count < 5)
                    {
                        _examples.Add("silent close " + how);
                    }
                }
            }
        }

        public void Status(int status, bool coded, string example)
        {
            lock (_lock)
            {
                _statuses[status] = _statuses.GetValueOrDefault(status) + 1;
                if (status >= 500)
                {
                    _serverErrors++;
                }

                if (status >= 400 && !coded)
                {
                    _uncoded++;
                }

                if ((status >= 500 || (status >= 400 && !coded)) && _examples.Count < 5)
                {
                    _examples.Add(example);
                }
            }
        }

        public FuzzReport Report(int frames, int requests)
        {
            lock (_lock)
            {
                return new FuzzReport(frames, _replies, _unanswered, new Dictionary<string, int>(_errors), new Dictionary<string, int>(_closes), _silent,
                    requests, new Dictionary<int, int>(_statuses), _serverErrors, _uncoded, [.. _examples]);
            }
        }
    }
}
