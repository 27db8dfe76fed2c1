using Tivo.Events;
using System.CommandLine;
using System.Globalization;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Spectre.Console;
using Tivo.Events.Ingest;

namespace Tivo.Cli;

/// <summary>
/// <c>tivo</c>: a command-line client of a Tivo gateway, on System.CommandLine (help, completion and parse errors
/// come from it). <c>channels</c> lists channels; <c>play</c> prints a window's events at their dilated times;
/// <c>import</c> sends a CSV or NDJSON file to the ingest route; <c>export</c> writes a window's stored rows as
/// NDJSON or CSV. Progress bars (Spectre.Console) appear on a terminal only, never when output is piped.
/// </summary>
public static class CliProgram
{
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

    /// <summary>Runs one command; returns the exit code (0 done, 1 bad arguments or refused, 2 server unreachable, 130 cancelled).</summary>
    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var cli = new Cli(output, error);
        return cli.Root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellationToken);
    }

    /// <summary>The command tree and what each command does.</summary>
    private sealed class Cli
    {
        private readonly TextWriter _output;
        private readonly TextWriter _error;

        // Options every command takes (Recursive: accepted after the command name).
        private readonly Option<string> _server = new("--server")
        {
            Description = "The gateway's URL (default: TIVO_SERVER, else http://localhost:8080).",
            Recursive = true,
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("TIVO_SERVER") is { Length: > 0 } s ? s : "http://localhost:8080",
        };

        private readonly Option<string?> _token = new("--token")
        {
            Description = "Access token when the server requires one (default: TIVO_TOKEN).",
            Recursive = true,
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("TIVO_TOKEN") is { Length: > 0 } t ? t : null,
        };

        public Cli(TextWriter output, TextWriter error)
        {
            _output = output;
            _error = error;
            Root = new RootCommand("tivo: a client of a Tivo gateway — list channels, play a window at dilated times, import and export events.")
            {
                _server, _token, Channels(), Play(), Import(), Export(),
            };
        }

        public RootCommand Root { get; }

        private bool Interactive => ReferenceEquals(_error, Console.Error) && !Console.IsErrorRedirected;

        private Command Channels()
        {
            var command = new Command("channels", "List every channel with its first and last event and its count.");
            command.SetAction((parse, ct) => WithServerAsync(parse, ct, async (http, _, _) =>
            {
                var channels = await http.GetFromJsonAsync<JsonElement>("channels", ct);
                await _output.WriteLineAsync($"{"channel",-24} {"first",-30} {"last",-30} {"events",12}");
                foreach (var c in channels.EnumerateArray())
                {
                    await _output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"{c.GetProperty("name").GetString(),-24} {c.GetProperty("first").GetString(),-30} {c.GetProperty("last").GetString(),-30} {c.GetProperty("count").GetInt64(),12:N0}"));
                }

                return 0;
            }));
            return command;
        }

        private Command Play()
        {
            var channel = new Option<string[]>("--channel", "-c") { Description = "A channel to play (repeat for several on one clock).", Required = true, AllowMultipleArgumentsPerToken = false };
            var start = new Option<string?>("--start") { Description = "Window start, ISO-8601 with Z or an offset (default: the first event)." };
            var end = new Option<string?>("--end") { Description = "Window end (exclusive); omitted: follow live data." };
            var speed = new Option<double?>("--speed") { Description = "Speed factor (1 = real time)." };
            var duration = new Option<string?>("--duration") { Description = "Fit the window into this many seconds (or an ISO-8601 duration such as PT1M)." };
            var rate = new Option<double?>("--rate") { Description = "Pace to about this many events per second." };
            var maxGap = new Option<double?>("--max-gap") { Description = "No idle stretch plays longer than this many seconds." };
            var loop = new Option<bool>("--loop") { Description = "Play the window again and again." };
            var session = new Option<string?>("--session") { Description = "Join (or name) a shared session." };
            var format = new Option<string>("--format") { Description = "How to print events.", DefaultValueFactory = _ => "text" };
            format.AcceptOnlyFromAmong("text", "ndjson");
            var command = new Command("play", "Play a window: each event is printed at its due time (the server releases it then).")
            {
                channel, start, end, speed, duration, rate, maxGap, loop, session, format,
            };
            command.SetAction((parse, ct) => WithServerAsync(parse, ct, async (_, server, token) =>
            {
                var play = new Dictionary<string, object?> { ["action"] = "play", ["id"] = "cli", ["speed"] = parse.GetValue(speed) ?? 1, ["loop"] = parse.GetValue(loop) };
                if (parse.GetValue(start) is { } s) play["start"] = s;
                if (parse.GetValue(end) is { } e) play["end"] = e;
                if (parse.GetValue(duration) is { } d) play["duration"] = double.TryParse(d, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) ? seconds : d;
                if (parse.GetValue(rate) is { } r) play["rate"] = r;
                if (parse.GetValue(maxGap) is { } g) play["maxGap"] = g;
                return await PlayAsync(server, token, parse.GetValue(channel)!, parse.GetValue(session), play, parse.GetValue(format) == "ndjson", ct);
            }));
            return command;
        }

        private Command Import()
        {
            var file = new Argument<FileInfo>("file") { Description = "A CSV file (header row) or NDJSON/JSON of {\"ts\",\"data\"}." };
            var channel = new Option<string>("--channel", "-c") { Description = "The channel to add the events to (created if new).", Required = true };
            var timeColumn = new Option<string>("--time-column") { Description = "CSV: the column holding ISO-8601 times or epoch milliseconds.", DefaultValueFactory = _ => "ts" };
            var format = new Option<string?>("--format") { Description = "csv, ndjson or json (default: from the file's extension)." };
            format.AcceptOnlyFromAmong("csv", "ndjson", "json");
            var strings = new Option<bool>("--strings")
            {
                Description = "CSV: keep every value a string. Otherwise a value becomes a number only if nothing about it would change " +
                    "(not 02134, +1, 1e5 or long digit strings) and true/false in any case become booleans.",
            };
            var command = new Command("import", "Send a file's events to the server's ingest route, 50,000 per request (a progress bar on a terminal).")
            {
                file, channel, timeColumn, format, strings,
            };
            command.SetAction((parse, ct) => WithServerAsync(parse, ct, (http, _, _) =>
                ImportAsync(http, parse.GetValue(file)!, parse.GetValue(channel)!, parse.GetValue(timeColumn)!, parse.GetValue(format), parse.GetValue(strings), ct)));
            return command;
        }

        private Command Export()
        {
            var channel = new Argument<string>("channel") { Description = "The channel to export." };
            var start = new Option<string?>("--start") { Description = "Window start, ISO-8601 with Z or an offset (default: the channel's first event)." };
            var end = new Option<string?>("--end") { Description = "Window end, exclusive (default: just after the channel's last event)." };
            var format = new Option<string>("--format") { Description = "ndjson ({\"ts\",\"data\"} per line) or csv (the payload's fields as columns).", DefaultValueFactory = _ => "ndjson" };
            format.AcceptOnlyFromAmong("ndjson", "csv");
            var file = new Option<FileInfo?>("--output", "-o") { Description = "Write to this file (default: standard output)." };
            var command = new Command("export", "Write a window's stored events, streamed from the server's export route (a progress bar on a terminal when writing a file).")
            {
                channel, start, end, format, file,
            };
            command.SetAction((parse, ct) => WithServerAsync(parse, ct, (http, _, _) =>
                ExportAsync(http, parse.GetValue(channel)!, parse.GetValue(start), parse.GetValue(end), parse.GetValue(format)!, parse.GetValue(file), ct)));
            return command;
        }

        /// <summary>Runs a command against the server, turning the ways a server can fail into a sentence and an exit code.</summary>
        private async Task<int> WithServerAsync(ParseResult parse, CancellationToken cancellationToken, Func<HttpClient, Uri, string?, Task<int>> run)
        {
            var server = new Uri(parse.GetValue(_server)!.TrimEnd('/') + "/");
            var token = parse.GetValue(_token);
            using var http = new HttpClient { BaseAddress = server, Timeout = Timeout.InfiniteTimeSpan };
            if (!string.IsNullOrEmpty(token))
            {
                http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            }

            try
            {
                return await run(http, server, token);
            }
            catch (CliException ex)
            {
                await _error.WriteLineAsync($"tivo: {ex.Message}");
                return 1;
            }
            catch (HttpRequestException ex) when (ex.StatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden)
            {
                await _error.WriteLineAsync($"tivo: the server at {server} refused access ({(int)ex.StatusCode}): {(string.IsNullOrEmpty(token) ? "it requires an access token: pass --token T or set TIVO_TOKEN" : "the token is not valid or not allowed to do this")}.");
                return 1;
            }
            catch (Exception ex) when (ex is HttpRequestException or SocketException or WebSocketException { WebSocketErrorCode: WebSocketError.Faulted or WebSocketError.NotAWebSocket or WebSocketError.ConnectionClosedPrematurely })
            {
                await _error.WriteLineAsync($"tivo: cannot reach the Tivo server at {server} ({ex.Message}). Start one with `dotnet run --project server/Tivo.Server`, or pass --server URL.");
                return 2;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return 130;
            }
        }

        private async Task<int> PlayAsync(Uri server, string? token, string[] channels, string? session, Dictionary<string, object?> play, bool ndjson, CancellationToken cancellationToken)
        {
            var query = string.Join('&', channels.Select(c => "channel=" + Uri.EscapeDataString(c)));
            if (session is not null)
            {
                query += "&session=" + Uri.EscapeDataString(session);
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

            await socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes(play), WebSocketMessageType.Text, true, cancellationToken);
            var buffer = new byte[1 << 16];
            var message = new MemoryStream();
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, cancellationToken);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await _error.WriteLineAsync($"tivo: the server closed the connection ({result.CloseStatus}: {result.CloseStatusDescription}).");
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
                        await _output.WriteLineAsync(ndjson
                            ? text
                            : $"{root.GetProperty("ts").GetString()}  {root.GetProperty("channel").GetString()}  #{root.GetProperty("seq").GetInt64()}  {root.GetProperty("data").GetRawText()}");
                        break;
                    case "error":
                        await _error.WriteLineAsync($"tivo: {root.GetProperty("code").GetString()}: {root.GetProperty("message").GetString()}");
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

        private async Task<int> ImportAsync(HttpClient http, FileInfo file, string channel, string timeColumn, string? format, bool keepStrings, CancellationToken cancellationToken)
        {
            if (!file.Exists)
            {
                throw new CliException($"'{file.FullName}' does not exist.");
            }

            format ??= file.Extension.Equals(".csv", StringComparison.OrdinalIgnoreCase) ? "csv" : "ndjson";
            List<StoredEvent> events;
            try
            {
                events = format == "csv"
                    ? EventFileReader.ReadCsv(new StreamReader(file.FullName), timeColumn, keepStrings)
                    : EventFileReader.ReadJson(await File.ReadAllBytesAsync(file.FullName, cancellationToken));
            }
            catch (IngestFormatException ex)
            {
                throw new CliException($"nothing was sent: {file.Name}, {ex.Message}");
            }

            const int Batch = 50_000;
            var sent = 0;
            async Task SendAsync(Action<int> advanced)
            {
                foreach (var batch in events.Chunk(Batch))
                {
                    var body = new StringBuilder();
                    foreach (var e in batch)
                    {
                        body.Append("{\"ts\":\"").Append(TimeUtil.ToIso(e.Ticks)).Append("\",\"data\":").Append(e.Data).Append("}\n");
                    }

                    using var response = await http.PostAsync($"channels/{Uri.EscapeDataString(channel)}/events",
                        new StringContent(body.ToString(), Encoding.UTF8, "application/x-ndjson"), cancellationToken);
                    if (!response.IsSuccessStatusCode)
                    {
                        var problem = await response.Content.ReadAsStringAsync(cancellationToken);
                        throw new CliException($"the server refused batch {sent / Batch + 1} after {sent} events were stored: {problem}");
                    }

                    sent += batch.Length;
                    advanced(batch.Length);
                }
            }

            if (Interactive && events.Count > Batch)
            {
                await Progress().StartAsync(async context =>
                {
                    var task = context.AddTask($"import {Markup.Escape(channel)}", maxValue: events.Count);
                    await SendAsync(n => task.Increment(n));
                });
            }
            else
            {
                await SendAsync(_ => { });
            }

            await _output.WriteLineAsync($"Imported {sent} events into '{channel}'.");
            return 0;
        }

        private async Task<int> ExportAsync(HttpClient http, string channel, string? start, string? end, string format, FileInfo? file, CancellationToken cancellationToken)
        {
            var query = new List<string> { "format=" + format };
            if (start is not null) query.Add("start=" + Uri.EscapeDataString(start));
            if (end is not null) query.Add("end=" + Uri.EscapeDataString(end));
            using var response = await http.GetAsync($"channels/{Uri.EscapeDataString(channel)}/events?{string.Join('&', query)}", HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                var problem = await response.Content.ReadAsStringAsync(cancellationToken);
                if (response.StatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden)
                {
                    throw new HttpRequestException(problem, null, response.StatusCode);
                }

                throw new CliException(Describe(problem));
            }

            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            await using var target = file is null ? null : File.Create(file.FullName);
            var rows = 0L;
            var buffer = new byte[81920];
            async Task CopyAsync(Action<long> advanced)
            {
                int read;
                while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    var lines = buffer.AsSpan(0, read).Count((byte)'\n');
                    rows += lines;
                    if (target is not null)
                    {
                        await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    }
                    else
                    {
                        await _output.WriteAsync(Encoding.UTF8.GetString(buffer, 0, read));
                    }

                    advanced(lines);
                }
            }

            if (Interactive && target is not null)
            {
                // The total comes from the histogram when the window allows one (at most 31 days); else the bar counts up.
                var total = await TotalAsync(http, channel, start, end, cancellationToken);
                await Progress().StartAsync(async context =>
                {
                    var task = context.AddTask($"export {Markup.Escape(channel)}", maxValue: total ?? double.MaxValue);
                    task.IsIndeterminate = total is null;
                    await CopyAsync(n => task.Increment(n));
                    task.Value = task.MaxValue;
                });
            }
            else
            {
                await CopyAsync(_ => { });
            }

            if (target is not null)
            {
                await _error.WriteLineAsync($"Exported {(format == "csv" ? rows - 1 : rows)} rows of '{channel}' to {file!.FullName}.");
            }

            return 0;
        }

        private static async Task<long?> TotalAsync(HttpClient http, string channel, string? start, string? end, CancellationToken cancellationToken)
        {
            var query = string.Join('&', new[] { ("start", start), ("end", end) }.Where(p => p.Item2 is not null).Select(p => $"{p.Item1}={Uri.EscapeDataString(p.Item2!)}").Append("step=86400"));
            using var response = await http.GetAsync($"channels/{Uri.EscapeDataString(channel)}/histogram?{query}", cancellationToken);
            return response.IsSuccessStatusCode
                ? (await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken)).GetProperty("total").GetInt64()
                : null;
        }

        private Progress Progress() =>
            AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(_error) }).Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn());

        private static string Describe(string problem)
        {
            try
            {
                var root = JsonDocument.Parse(problem).RootElement;
                return $"{root.GetProperty("code").GetString()}: {root.GetProperty("message").GetString()}";
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                return problem;
            }
        }
    }

    /// <summary>A command that cannot go on, with the sentence to print.</summary>
    private sealed class CliException(string message) : Exception(message);
}
