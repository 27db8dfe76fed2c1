using System.Globalization;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Tivo.Stores;
using Tivo.Stores.Ingest;

namespace Tivo.Cli;

/// <summary>
/// <c>tivo</c>: a command-line client of a Tivo gateway. <c>channels</c> lists channels; <c>play</c> prints
/// a window's events at their dilated times (the server releases them when due); <c>import</c> sends a
/// CSV or NDJSON file to the ingest route.
/// </summary>
public static class CliProgram
{
    public const string Usage = """
        usage: tivo <command> [options]            (server: --server URL, or TIVO_SERVER; default http://localhost:8080;
                                                    access token: --token T, or TIVO_TOKEN, when the server requires one)
          tivo channels
          tivo play --channel NAME [--channel NAME…] [--start ISO] [--end ISO] [--speed X] [--duration S|PT1M]
                    [--rate EV/S] [--max-gap S] [--loop] [--session ID] [--format text|ndjson]
          tivo import FILE --channel NAME [--time-column COLUMN] [--format csv|ndjson|json] [--strings]
                    CSV: a value becomes a number only if nothing about it would change (not 02134, +1, 1e5 or long
                    digit strings); true/false in any case are booleans; --strings keeps every value a string
          tivo [command] --help                    this text
        """;

    public static async Task<int> Main(string[] args)
    {
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        return await RunAsync(args, Console.Out, Console.Error, cancel.Token);
    }

    /// <summary>Runs one command; returns the exit code (0 done, 1 bad arguments or refused, 2 server unreachable).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (args.Length > 0 && args.Skip(args[0].StartsWith('-') ? 0 : 1).Any(x => x is "-h" or "--help" or "-?"))
        {
            await output.WriteLineAsync(Usage);
            return 0;
        }

        Arguments a;
        try
        {
            a = Arguments.Parse(args);
        }
        catch (ArgumentException ex)
        {
            await error.WriteLineAsync($"tivo: {ex.Message}\n{Usage}");
            return 1;
        }

        var server = new Uri((a.Server ?? Environment.GetEnvironmentVariable("TIVO_SERVER") ?? "http://localhost:8080").TrimEnd('/') + "/");
        using var http = new HttpClient { BaseAddress = server, Timeout = TimeSpan.FromSeconds(100) };
        var token = a.Token ?? Environment.GetEnvironmentVariable("TIVO_TOKEN");
        if (!string.IsNullOrEmpty(token))
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        try
        {
            return a.Command switch
            {
                "channels" => await ChannelsAsync(http, output, cancellationToken),
                "play" => await PlayAsync(server, token, a, output, error, cancellationToken),
                "import" => await ImportAsync(http, a, output, error, cancellationToken),
                _ => throw new ArgumentException($"unknown command '{a.Command}'"),
            };
        }
        catch (ArgumentException ex)
        {
            await error.WriteLineAsync($"tivo: {ex.Message}\n{Usage}");
            return 1;
        }
        catch (HttpRequestException ex) when (ex.StatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden)
        {
            await error.WriteLineAsync($"tivo: the server at {server} refused access ({(int)ex.StatusCode}): {(string.IsNullOrEmpty(token) ? "it requires an access token: pass --token T or set TIVO_TOKEN" : "the token is not valid or not allowed to do this")}.");
            return 1;
        }
        catch (Exception ex) when (ex is HttpRequestException or SocketException or WebSocketException { WebSocketErrorCode: WebSocketError.Faulted or WebSocketError.NotAWebSocket or WebSocketError.ConnectionClosedPrematurely })
        {
            await error.WriteLineAsync($"tivo: cannot reach the Tivo server at {server} ({ex.Message}). Start one with `dotnet run --project gateway/Tivo.Gateway`, or pass --server URL.");
            return 2;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return 130;
        }
    }

    private static async Task<int> ChannelsAsync(HttpClient http, TextWriter output, CancellationToken cancellationToken)
    {
        var channels = await http.GetFromJsonAsync<JsonElement>("channels", cancellationToken);
        await output.WriteLineAsync($"{"channel",-24} {"first",-30} {"last",-30} {"events",12}");
        foreach (var c in channels.EnumerateArray())
        {
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{c.GetProperty("name").GetString(),-24} {c.GetProperty("first").GetString(),-30} {c.GetProperty("last").GetString(),-30} {c.GetProperty("count").GetInt64(),12:N0}"));
        }

        return 0;
    }

    private static async Task<int> PlayAsync(Uri server, string? token, Arguments a, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (a.Channels.Count == 0)
        {
            throw new ArgumentException("play needs --channel NAME");
        }

        var query = string.Join('&', a.Channels.Select(c => "channel=" + Uri.EscapeDataString(c)));
        if (a.Session is not null)
        {
            query += "&session=" + Uri.EscapeDataString(a.Session);
        }

        var ws = new Uri(server.ToString().Replace("http://", "ws://", StringComparison.Ordinal).Replace("https://", "wss://", StringComparison.Ordinal) + "ws?" + query);
        using var socket = new ClientWebSocket();
        if (!string.IsNullOrEmpty(token))
        {
            socket.Options.SetRequestHeader("Authorization", "Bearer " + token);
        }

        socket.Options.CollectHttpResponseDetails = true;
        try
        {
            await socket.ConnectAsync(ws, cancellationToken);
        }
        catch (WebSocketException) when (socket.HttpStatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden)
        {
            throw new HttpRequestException("refused", null, socket.HttpStatusCode);
        }
        var play = new Dictionary<string, object?> { ["action"] = "play", ["id"] = "cli", ["speed"] = a.Speed ?? 1, ["loop"] = a.Loop };
        if (a.Start is not null) play["start"] = a.Start;
        if (a.End is not null) play["end"] = a.End;
        if (a.Duration is not null) play["duration"] = double.TryParse(a.Duration, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : a.Duration;
        if (a.Rate is not null) play["rate"] = a.Rate;
        if (a.MaxGap is not null) play["maxGap"] = a.MaxGap;
        await socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes(play), WebSocketMessageType.Text, true, cancellationToken);

        var buffer = new byte[1 << 16];
        var message = new MemoryStream();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                await error.WriteLineAsync($"tivo: the server closed the connection ({result.CloseStatus}: {result.CloseStatusDescription}).");
                return 1;
            }

            message.Write(buffer, 0, result.Count);
            if (!result.EndOfMessage)
            {
                continue;
            }

            var text = Encoding.UTF8.GetString(message.GetBuffer(), 0, (int)message.Length);
            message.SetLength(0);
            using var json = JsonDocument.Parse(text);
            var root = json.RootElement;
            switch (root.GetProperty("type").GetString())
            {
                case "event":
                    await output.WriteLineAsync(a.Format == "ndjson"
                        ? text
                        : $"{root.GetProperty("ts").GetString()}  {root.GetProperty("channel").GetString()}  #{root.GetProperty("seq").GetInt64()}  {root.GetProperty("data").GetRawText()}");
                    break;
                case "error":
                    await error.WriteLineAsync($"tivo: {root.GetProperty("code").GetString()}: {root.GetProperty("message").GetString()}");
                    if (root.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String && id.GetString() == "cli")
                    {
                        return 1;
                    }

                    break;
                case "state" when root.GetProperty("status").GetString() is "ended" or "stopped":
                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
                    return 0;
            }
        }
    }

    private static async Task<int> ImportAsync(HttpClient http, Arguments a, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (a.File is null || a.Channels.Count != 1)
        {
            throw new ArgumentException("import needs a FILE and one --channel NAME");
        }

        if (!File.Exists(a.File))
        {
            throw new ArgumentException($"'{a.File}' does not exist");
        }

        var format = a.Format ?? (Path.GetExtension(a.File).Equals(".csv", StringComparison.OrdinalIgnoreCase) ? "csv" : "ndjson");
        List<StoredEvent> events;
        try
        {
            events = format == "csv"
                ? EventFileReader.ReadCsv(new StreamReader(a.File), a.TimeColumn ?? "ts", a.KeepStrings)
                : EventFileReader.ReadJson(await File.ReadAllBytesAsync(a.File, cancellationToken));
        }
        catch (IngestFormatException ex)
        {
            await error.WriteLineAsync($"tivo: nothing was sent: {a.File}, {ex.Message}");
            return 1;
        }

        var sent = 0;
        foreach (var batch in events.Chunk(50_000))
        {
            var body = new StringBuilder();
            foreach (var e in batch)
            {
                body.Append("{\"ts\":\"").Append(TimeUtil.ToIso(e.Ticks)).Append("\",\"data\":").Append(e.Data).Append("}\n");
            }

            using var response = await http.PostAsync($"channels/{Uri.EscapeDataString(a.Channels[0])}/events",
                new StringContent(body.ToString(), Encoding.UTF8, "application/x-ndjson"), cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                var problem = await response.Content.ReadAsStringAsync(cancellationToken);
                await error.WriteLineAsync($"tivo: the server refused batch {sent / 50_000 + 1} after {sent} events were stored: {problem}");
                return 1;
            }

            sent += batch.Length;
        }

        await output.WriteLineAsync($"Imported {sent} events into '{a.Channels[0]}'.");
        return 0;
    }

    /// <summary>The parsed command line.</summary>
    private sealed record Arguments(string Command)
    {
        public string? Server { get; private set; }
        public string? Token { get; private set; }
        public List<string> Channels { get; } = [];
        public string? Start { get; private set; }
        public string? End { get; private set; }
        public double? Speed { get; private set; }
        public string? Duration { get; private set; }
        public double? Rate { get; private set; }
        public double? MaxGap { get; private set; }
        public bool Loop { get; private set; }
        public string? Session { get; private set; }
        public string? Format { get; private set; }
        public string? File { get; private set; }
        public string? TimeColumn { get; private set; }
        public bool KeepStrings { get; private set; }

        public static Arguments Parse(string[] args)
        {
            if (args.Length == 0 || args[0] is "-h" or "--help")
            {
                throw new ArgumentException("name a command");
            }

            var a = new Arguments(args[0]);
            if (a.Command is not ("channels" or "play" or "import"))
            {
                throw new ArgumentException($"unknown command '{a.Command}'");
            }

            for (var i = 1; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                double Number()
                {
                    var name = args[i];
                    var text = Value();
                    return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && double.IsFinite(n)
                        ? n
                        : throw new ArgumentException($"{name} must be a number, not '{text}'");
                }

                switch (args[i])
                {
                    case "--server": a.Server = Value(); break;
                    case "--token": a.Token = Value(); break;
                    case "--channel": a.Channels.Add(Value()); break;
                    case "--start": a.Start = Value(); break;
                    case "--end": a.End = Value(); break;
                    case "--speed": a.Speed = Number(); break;
                    case "--duration": a.Duration = Value(); break;
                    case "--rate": a.Rate = Number(); break;
                    case "--max-gap": a.MaxGap = Number(); break;
                    case "--loop": a.Loop = true; break;
                    case "--session": a.Session = Value(); break;
                    case "--format": a.Format = Value().ToLowerInvariant(); break;
                    case "--time-column": a.TimeColumn = Value(); break;
                    case "--strings": a.KeepStrings = true; break;
                    case var s when s.StartsWith("--", StringComparison.Ordinal): throw new ArgumentException($"unknown option {s}");
                    default:
                        if (a.Command != "import" || a.File is not null)
                        {
                            throw new ArgumentException($"unexpected argument '{args[i]}'");
                        }

                        a.File = args[i];
                        break;
                }
            }

            if (a.Format is not (null or "text" or "ndjson" or "csv" or "json"))
            {
                throw new ArgumentException($"--format '{a.Format}' is not one of text, ndjson (play) or csv, ndjson, json (import)");
            }

            return a;
        }
    }
}
