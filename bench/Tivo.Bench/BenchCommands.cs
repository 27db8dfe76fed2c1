using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.Json;

namespace Tivo.Bench;

/// <summary>
/// The benchmark's command line, on System.CommandLine as the <c>tivo</c> client's is: one command per benchmark, each with
/// its own options, its help (<c>--help</c>) and its parse errors. An option a benchmark does not take, a value that is not a
/// number or out of range, or a missing value stops it before it starts, naming the option (exit code 1). The options used
/// to be looked up by name in the arguments and the rest ignored, so a misspelt one (<c>--session 1000</c>) or a
/// <c>--help</c> after a benchmark's name ran minutes of the defaults.
/// </summary>
internal static class BenchCommands
{
    private static readonly Option<bool> Smoke = new("--smoke")
    {
        Description = "Seconds-long runs that still produce every figure (what CI runs; the figures mean nothing).",
        Recursive = true,
    };

    private static readonly Option<string?> Out = new("--out")
    {
        Description = "Where to write the results as JSON (default: artifacts/bench/<benchmark>.json).",
        HelpName = "FILE",
        Recursive = true,
    };

    public static RootCommand Build()
    {
        var root = new RootCommand("Tivo's benchmarks: each prints its figures as it goes, then a table of them beside the design's targets (docs/performance.md). Never pass/fail tests.")
        {
            Smoke, Out,
        };

        // delivery
        var sessions = Numbers("--sessions", "Session counts, a row each.", "1,100,1000 (smoke: 1,10)");
        var speeds = Numbers("--speeds", "Playback speeds, a row each.", "1,60");
        var seconds = Whole("--seconds", "Length of each row's counted window, in seconds.", "15 (smoke: 3)");
        var noPeers = new Option<bool>("--no-peers") { Description = "Tivo's rows only: not the naive peer, the floor or NATS JetStream." };
        var lead = Whole("--lead", "The lead of the lead and JS-client rows, in ms (0: no lead rows).", "500", min: 0, max: 1000);
        var jsClients = Whole("--js-clients-per-process", "JS clients per Node.js process in the JS-client rows.", $"{JsClientProcesses.DefaultClientsPerProcess}");
        var nodeOptions = new Option<string?>("--js-node-options")
        {
            Description = $"How the JS clients' Node.js processes start (\"\": no options). Default: \"{JsClientProcesses.DefaultNodeOptions}\".",
            HelpName = "OPTIONS",
        };
        var runs = Whole("--runs", "Each Tivo row this many times in turn: the summary gives each figure's range and median.", "1 (smoke: 2)");
        var rowKinds = RowKinds("--rows", "Which of Tivo's rows run: plain, lead (at arrival), js (the JS client), separated by commas.", "plain,lead,js");
        var delivery = Benchmark("delivery", "|arrival − due| and events/s at 1, 100 and 1,000 sessions, speed 1 and 60, beside the peers. Before its rows, each server plays its largest row once, kept apart: its cold row, a fresh server's first plays.",
            [sessions, speeds, seconds, noPeers, lead, jsClients, nodeOptions, runs, rowKinds],
            async (p, results) =>
            {
                var smoke = p.GetValue(Smoke);
                var delivered = await DeliveryBenchmark.RunAsync(
                    [.. (Given(p, sessions) ?? (smoke ? [1, 10] : [1, 100, 1000])).Select(n => (int)n)],
                    Given(p, speeds) ?? [1, 60],
                    Given(p, seconds) ?? (smoke ? 3 : 15),
                    peers: !Given(p, noPeers),
                    lead: Given(p, lead) ?? 500,
                    jsClients: new JsClientProcesses(
                        Given(p, jsClients) ?? JsClientProcesses.DefaultClientsPerProcess,
                        (Given(p, nodeOptions) ?? JsClientProcesses.DefaultNodeOptions).Split(' ', StringSplitOptions.RemoveEmptyEntries)),
                    runs: DeliveryRuns(p, runs),
                    kinds: Given(p, rowKinds) ?? DeliveryRowKinds.All);
                results["delivery"] = delivered.Rows;
                results["deliveryCold"] = delivered.Cold;
                if (delivered.PeerFailures.Count > 0)
                {
                    results["deliveryPeerFailures"] = delivered.PeerFailures;
                }
            },
            runs);

        var repetitions = Whole("--repetitions", "Plays of each kind.", "5 (smoke: 2)");
        var firstEvent = Benchmark("first-event", "Play → first event: warm, cold embedded, cold PostgreSQL.", [repetitions],
            async (p, results) => results["firstEvent"] = await FirstEventBenchmark.RunAsync(Given(p, repetitions) ?? (p.GetValue(Smoke) ? 2 : 5)));

        var sharing = Benchmark("sharing", "Store queries per chunk when 1, 10 and 100 sessions play the same window.", [],
            async (p, results) => results["sharing"] = await SharingBenchmark.RunAsync(p.GetValue(Smoke) ? [1, 10] : [1, 10, 100]));

        var memorySessions = Whole("--sessions", "Sessions measured.", "1000 (smoke: 50)");
        var memory = Benchmark("memory", "Heap per idle session, per playing session, per connection; the cache's bound under a sweep.", [memorySessions],
            async (p, results) => results["memory"] = await MemoryBenchmark.RunAsync(Given(p, memorySessions) ?? (p.GetValue(Smoke) ? 50 : 1000), p.GetValue(Smoke)));

        var driftSeconds = Whole("--seconds", "Length of the run (long mode: 3600 with --speed 1).", "120 (smoke: 4)");
        var driftSpeed = Whole("--speed", "Playback speed.", "10");
        var drift = Benchmark("drift", "The playhead against wall time × speed over a long run.", [driftSeconds, driftSpeed],
            async (p, results) => results["drift"] = await DriftBenchmark.RunAsync(Given(p, driftSeconds) ?? (p.GetValue(Smoke) ? 4 : 120), Given(p, driftSpeed) ?? 10));

        var floodSeconds = Whole("--flood-seconds", "Length of the status flood, in seconds.", "20 (smoke: 3)");
        var fuzzFrames = Whole("--fuzz-frames", "Frames the fuzzer sends.", "100000 (smoke: 2000)");
        var fuzzRequests = Whole("--fuzz-requests", "HTTP requests the fuzzer sends.", "10000 (smoke: 200)");
        var hostile = Benchmark("hostile", "The hardening probes: answer and RSS around each hostile play and a status flood; the fuzzer.", [floodSeconds, fuzzFrames, fuzzRequests],
            async (p, results) =>
            {
                var smoke = p.GetValue(Smoke);
                results["hostile"] = await HostileBenchmark.RunAsync(TimeSpan.FromSeconds(Given(p, floodSeconds) ?? (smoke ? 3 : 20)),
                    Given(p, fuzzFrames) ?? (smoke ? 2_000 : 100_000), Given(p, fuzzRequests) ?? (smoke ? 200 : 10_000));
            });

        var failoverSessions = Whole("--sessions", "Sessions playing through the failures.", "20 (smoke: 2)");
        var failover = Benchmark("failover", "3 silos and 2 gateways as processes on PostgreSQL: kill -9 and a rolling restart; next event, lost, repeated.", [failoverSessions],
            async (p, results) => results["failover"] = await FailoverBenchmark.RunAsync(Given(p, failoverSessions) ?? (p.GetValue(Smoke) ? 2 : 20)));

        var posts = Whole("--posts", "Events POSTed.", "50 (smoke: 10)");
        var live = Benchmark("live", "Live ingest → socket latency; the first event of a play on a fresh server, arrival − due.", [posts],
            async (p, results) => results["live"] = await LiveBenchmark.RunAsync(Given(p, posts) ?? (p.GetValue(Smoke) ? 10 : 50)));

        var exportEvents = Whole("--events", "Events in the exported window.", "1000000 (smoke: 10000)");
        var exportRepetitions = Whole("--repetitions", "Exports of each kind.", "3 (smoke: 1)");
        var export = Benchmark("export", "GET /channels/{channel}/events of a window, embedded and PostgreSQL, beside raw Npgsql.", [exportEvents, exportRepetitions],
            async (p, results) => results["export"] = await ExportBenchmark.RunAsync(Given(p, exportEvents) ?? (p.GetValue(Smoke) ? 10_000 : 1_000_000),
                Given(p, exportRepetitions) ?? (p.GetValue(Smoke) ? 1 : 3)));

        var parts = new (string Name, Func<ParseResult, Dictionary<string, object>, Task> Run)[]
        {
            ("delivery", delivery.Run), ("first event after play", firstEvent.Run), ("sharing", sharing.Run), ("memory", memory.Run),
            ("clock drift", drift.Run), ("hostile clients", hostile.Run), ("export", export.Run), ("live and the first play", live.Run),
            ("cluster failover", failover.Run),
        };
        var all = Benchmark("all", "Every end-to-end benchmark (not stores or micro) with its defaults: one table, one JSON file.", [runs],
            async (p, results) =>
            {
                Console.WriteLine($"Tivo benchmark suite{(p.GetValue(Smoke) ? " (smoke: short runs, figures not meaningful)" : "")}: {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}");
                foreach (var (name, run) in parts)
                {
                    Console.WriteLine($"\n## {name}");
                    await run(p, results);
                }
            },
            runs);

        var storeEvents = Whole("--events", "Events in the one-hour window.", "360000 (smoke: 3600)");
        var dynamoEvents = Whole("--dynamo-events", "Events in DynamoDB's window (dynalite is slow to load).", "360000 (smoke: 1200)");
        var storeRepetitions = Whole("--repetitions", "Reads of each backend (the best and the median are given).", "5 (smoke: 1)");
        var stores = new Command("stores", "A one-hour window read from every backend.") { storeEvents, dynamoEvents, storeRepetitions };
        stores.SetAction((p, _) =>
        {
            var smoke = p.GetValue(Smoke);
            return StoreBenchmark.RunAsync(Given(p, storeEvents) ?? (smoke ? 3_600 : 360_000), Given(p, dynamoEvents) ?? (smoke ? 1_200 : 360_000),
                Given(p, storeRepetitions) ?? (smoke ? 1 : 5), OutPath(p, "stores"));
        });

        var benchmarkDotNet = new Argument<string[]>("BenchmarkDotNet options") { Description = "After --: BenchmarkDotNet's own options (default: --filter *).", Arity = ArgumentArity.ZeroOrMore };
        var micro = new Command("micro", "BenchmarkDotNet: warp, message writing, delivery queue, control parsing.") { benchmarkDotNet };
        micro.SetAction(p => MicroBenchmarks.Run(p.GetValue(benchmarkDotNet) ?? [], p.GetValue(Smoke)));

        foreach (var command in new[] { all.Command, delivery.Command, firstEvent.Command, sharing.Command, memory.Command, drift.Command, hostile.Command, failover.Command, live.Command, export.Command, stores, micro })
        {
            root.Subcommands.Add(command);
        }

        return root;
    }

    /// <summary>A benchmark's command: runs <paramref name="run"/> into the results, then prints the table of figures and
    /// writes the JSON. Exit code 3 when a figure is missing.</summary>
    private static (Command Command, Func<ParseResult, Dictionary<string, object>, Task> Run) Benchmark(
        string name, string description, Option[] options, Func<ParseResult, Dictionary<string, object>, Task> run, Option<int?>? deliveryRuns = null)
    {
        var command = new Command(name, description);
        foreach (var option in options)
        {
            command.Options.Add(option);
        }

        command.SetAction(async (p, ct) =>
        {
            var started = DateTime.UtcNow;
            var results = new Dictionary<string, object>();
            await run(p, results);
            var summary = Summary.Build(results, DeliveryRuns(p, deliveryRuns), key => name == "all" || name == key || (name, key) is ("first-event", "firstEvent"));
            Console.WriteLine();
            Console.WriteLine(summary.Table);
            if (summary.Missing.Count > 0)
            {
                Console.Error.WriteLine($"figures missing: {string.Join(", ", summary.Missing)}");
            }

            var smoke = p.GetValue(Smoke);
            results["machine"] = new { cores = Environment.ProcessorCount, os = System.Runtime.InteropServices.RuntimeInformation.OSDescription, dotnet = Environment.Version.ToString(), smoke, started, seconds = (DateTime.UtcNow - started).TotalSeconds };
            var outPath = OutPath(p, name);
            Directory.CreateDirectory(Path.GetDirectoryName(outPath)!);
            await File.WriteAllTextAsync(outPath, JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }), ct);
            Console.WriteLine($"results: {outPath}");
            return summary.Missing.Count == 0 ? 0 : 3;
        });
        return (command, run);
    }

    private static int DeliveryRuns(ParseResult p, Option<int?>? runs) => (runs is null ? null : Given(p, runs)) ?? (p.GetValue(Smoke) ? 2 : 1);

    /// <summary>The value given on the command line, or null when it was not (a benchmark run by <c>all</c> is not given
    /// its own options: the parse result has none of them).</summary>
    private static T? Given<T>(ParseResult p, Option<T> option) => p.GetResult(option) is null ? default : p.GetValue(option);

    private static string OutPath(ParseResult p, string benchmark) => Path.GetFullPath(p.GetValue(Out) ?? Path.Combine("artifacts", "bench", $"{benchmark}.json"));

    /// <summary>An option taking a whole number from <paramref name="min"/> (1 unless given) to <paramref name="max"/>; null
    /// when not given (the benchmark's default, which may depend on --smoke, applies).</summary>
    private static Option<int?> Whole(string name, string description, string fallback, int min = 1, int max = int.MaxValue) => new(name)
    {
        Description = $"{description} Default: {fallback}.",
        HelpName = "N",
        Arity = ArgumentArity.ExactlyOne,
        CustomParser = result =>
        {
            var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
            if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
            {
                return value;
            }

            result.AddError(max == int.MaxValue ? $"{name} takes a whole number of at least {min}, not '{text}'." : $"{name} takes a whole number from {min} to {max}, not '{text}'.");
            return null;
        },
    };

    /// <summary>An option taking kinds of Tivo's delivery rows separated by commas (<c>plain,lead,js</c>); null when not given.</summary>
    private static Option<DeliveryRowKinds?> RowKinds(string name, string description, string fallback) => new(name)
    {
        Description = $"{description} Default: {fallback}.",
        HelpName = "ROW,ROW,…",
        Arity = ArgumentArity.ExactlyOne,
        CustomParser = result =>
        {
            var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
            var kinds = (DeliveryRowKinds)0;
            foreach (var part in text.Split(','))
            {
                DeliveryRowKinds? kind = part.Trim().ToLowerInvariant() switch
                {
                    "plain" => DeliveryRowKinds.Plain,
                    "lead" => DeliveryRowKinds.Lead,
                    "js" => DeliveryRowKinds.Js,
                    _ => null,
                };
                if (kind is null)
                {
                    result.AddError($"{name} takes plain, lead and js separated by commas, not '{part}'.");
                    return null;
                }

                kinds |= kind.Value;
            }

            return kinds;
        },
    };

    /// <summary>An option taking positive numbers separated by commas (<c>1,100,1000</c>); null when not given.</summary>
    private static Option<double[]?> Numbers(string name, string description, string fallback) => new(name)
    {
        Description = $"{description} Default: {fallback}.",
        HelpName = "N,N,…",
        Arity = ArgumentArity.ExactlyOne,
        CustomParser = result =>
        {
            var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
            var parts = text.Split(',');
            var values = new double[parts.Length];
            for (var i = 0; i < parts.Length; i++)
            {
                if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) || !double.IsFinite(values[i]) || values[i] <= 0)
                {
                    result.AddError($"{name} takes positive numbers separated by commas (e.g. 1,100,1000), not '{text}'.");
                    return null;
                }
            }

            return values;
        },
    };
}
