using System.Globalization;
using System.Text.Json;
using Tivo.Bench;

// Tivo's benchmarks print figures; they are never pass/fail tests. See docs/performance.md.
//   dotnet run -c Release --project bench/Tivo.Bench -- all [--smoke] [--out FILE]
//   dotnet run -c Release --project bench/Tivo.Bench -- delivery|first-event|sharing|memory|drift|stores|micro [options]
const string Usage = """
    usage: Tivo.Bench <benchmark> [options]
      all           every end-to-end benchmark below except stores and micro, one table, one JSON file
      delivery      |arrival - due| and events/s at 1/100/1,000 sessions, speed 1 and 60, with peers  [--sessions 1,100,1000] [--speeds 1,60] [--seconds 15] [--no-peers] [--lead 500 (0: no lead rows)] [--js-clients-per-process 1000] [--js-node-options "--initial-old-space-size=128" ("": none)] [--runs 1 (each Tivo row that many times: ranges; 2 with --smoke)]
      first-event   play -> first event: warm, cold embedded, cold PostgreSQL                            [--repetitions 5]
      sharing       store queries per chunk when 1, 10, 100 sessions play the same window
      memory        heap per idle session, per playing session, per connection; cache bound under a sweep [--sessions 1000]
      drift         playhead against wall time x speed over a long run (long mode: --seconds 3600 --speed 1)  [--seconds 120] [--speed 10]
      hostile       the hardening probes: answer and RSS before/peak/after each hostile play and a status flood; the fuzzer  [--flood-seconds 20] [--fuzz-frames 100000] [--fuzz-requests 10000]
      failover      3 silos + 2 gateways as processes on PostgreSQL: kill -9 and a rolling restart, next event, lost, repeated  [--sessions 20]
      live          live ingest → socket latency; the first event of a play on a fresh server, arrival − due            [--posts 50]
      export        GET /channels/{channel}/events of an N-event window, embedded and PostgreSQL, against raw Npgsql  [--events 1000000] [--repetitions 3]
      stores        one-hour window read from every backend                                              [--events 360000] [--dynamo-events N] [--repetitions 5]
      micro         BenchmarkDotNet: warp, message writing, delivery queue, control parsing               [BenchmarkDotNet options after --]
    common: --smoke (seconds-long runs that still produce every figure), --out FILE (JSON results)
    """;

if (args is [FloorServer.Command, ..])
{
    return await FloorServer.RunAsync(args); // the floor peer's own process, started by the delivery benchmark
}

if (args.Length == 0 || BenchArguments.AsksForHelp(args))
{
    Console.WriteLine(Usage);
    return args.Length == 0 ? 1 : 0;
}

if (BenchArguments.Problem(args) is { } problem)
{
    Console.Error.WriteLine($"Tivo.Bench: {problem}\n{Usage}");
    return 2;
}

int Option(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

string OptionText(string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

double[] Numbers(string name, double[] fallback) =>
    OptionText(name, "") is { Length: > 0 } text ? text.Split(',').Select(t => double.Parse(t, CultureInfo.InvariantCulture)).ToArray() : fallback;

var smoke = args.Contains("--smoke");
var outPath = OptionText("--out", Path.Combine("artifacts", "bench", $"{args[0]}.json"));
var results = new Dictionary<string, object>();
var deliveryRuns = Option("--runs", smoke ? 2 : 1); // the smoke run takes two, so CI exercises the ranges too

async Task Delivery()
{
    var delivery = await DeliveryBenchmark.RunAsync(
        Numbers("--sessions", smoke ? [1, 10] : [1, 100, 1000]).Select(n => (int)n).ToArray(),
        Numbers("--speeds", [1, 60]),
        Option("--seconds", smoke ? 3 : 15),
        peers: !args.Contains("--no-peers"),
        lead: Option("--lead", 500),
        jsClients: new JsClientProcesses(
            Option("--js-clients-per-process", JsClientProcesses.DefaultClientsPerProcess),
            OptionText("--js-node-options", JsClientProcesses.DefaultNodeOptions).Split(' ', StringSplitOptions.RemoveEmptyEntries)),
        runs: deliveryRuns);
    results["delivery"] = delivery.Rows;
    if (delivery.PeerFailures.Count > 0)
    {
        results["deliveryPeerFailures"] = delivery.PeerFailures;
    }
}

async Task FirstEvent() => results["firstEvent"] = await FirstEventBenchmark.RunAsync(Option("--repetitions", smoke ? 2 : 5));
async Task Sharing() => results["sharing"] = await SharingBenchmark.RunAsync(smoke ? [1, 10] : [1, 10, 100]);
async Task Memory() => results["memory"] = await MemoryBenchmark.RunAsync(Option("--sessions", smoke ? 50 : 1000), smoke);
async Task Hostile() => results["hostile"] = await HostileBenchmark.RunAsync(
    TimeSpan.FromSeconds(Option("--flood-seconds", smoke ? 3 : 20)), Option("--fuzz-frames", smoke ? 2_000 : 100_000), Option("--fuzz-requests", smoke ? 200 : 10_000));
async Task Export() => results["export"] = await ExportBenchmark.RunAsync(Option("--events", smoke ? 10_000 : 1_000_000), Option("--repetitions", smoke ? 1 : 3));
async Task Live() => results["live"] = await LiveBenchmark.RunAsync(Option("--posts", smoke ? 10 : 50));
async Task Failover() => results["failover"] = await FailoverBenchmark.RunAsync(Option("--sessions", smoke ? 2 : 20));
async Task Drift() => results["drift"] = await DriftBenchmark.RunAsync(Option("--seconds", smoke ? 4 : 120), Option("--speed", 10));

var started = DateTime.UtcNow;
switch (args[0])
{
    case "all":
        Console.WriteLine($"Tivo benchmark suite{(smoke ? " (smoke: short runs, figures not meaningful)" : "")}: {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}");
        Console.WriteLine("\n## delivery");
        await Delivery();
        Console.WriteLine("\n## first event after play");
        await FirstEvent();
        Console.WriteLine("\n## sharing");
        await Sharing();
        Console.WriteLine("\n## memory");
        await Memory();
        Console.WriteLine("\n## clock drift");
        await Drift();
        Console.WriteLine("\n## hostile clients");
        await Hostile();
        Console.WriteLine("\n## export");
        await Export();
        Console.WriteLine("\n## live and the first play");
        await Live();
        Console.WriteLine("\n## cluster failover");
        await Failover();
        break;
    case "failover":
        await Failover();
        break;
    case "delivery":
        await Delivery();
        break;
    case "first-event":
        await FirstEvent();
        break;
    case "sharing":
        await Sharing();
        break;
    case "memory":
        await Memory();
        break;
    case "drift":
        await Drift();
        break;
    case "hostile":
        await Hostile();
        break;
    case "export":
        await Export();
        break;
    case "live":
        await Live();
        break;
    case "stores":
        return await StoreBenchmark.RunAsync(
            Option("--events", smoke ? 3_600 : 360_000),
            Option("--dynamo-events", smoke ? 1_200 : 360_000),
            Option("--repetitions", smoke ? 1 : 5),
            outPath);
    case "micro":
        return MicroBenchmarks.Run(args.SkipWhile(a => a != "--").Skip(1).ToArray(), smoke);
    default:
        throw new InvalidOperationException($"benchmark '{args[0]}' passed the argument check but has no case");
}

var summary = Summary.Build(results, deliveryRuns, key => args[0] == "all" || args[0] == key || (args[0], key) is ("first-event", "firstEvent"));
Console.WriteLine();
Console.WriteLine(summary.Table);
if (summary.Missing.Count > 0)
{
    Console.Error.WriteLine($"figures missing: {string.Join(", ", summary.Missing)}");
}

results["machine"] = new { cores = Environment.ProcessorCount, os = System.Runtime.InteropServices.RuntimeInformation.OSDescription, dotnet = Environment.Version.ToString(), smoke, started, seconds = (DateTime.UtcNow - started).TotalSeconds };
Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
await File.WriteAllTextAsync(outPath, JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
Console.WriteLine($"results: {Path.GetFullPath(outPath)}");
return summary.Missing.Count == 0 ? 0 : 3;
