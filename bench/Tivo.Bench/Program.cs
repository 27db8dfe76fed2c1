using System.Globalization;
using Tivo.Bench;

// Tivo's benchmarks print figures; they are never pass/fail tests.
//   dotnet run -c Release --project bench/Tivo.Bench -- stores [--events 360000] [--dynamo-events 360000] [--repetitions 5] [--smoke]
//   dotnet run -c Release --project bench/Tivo.Bench -- delivery [--seconds 15] [--smoke]
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.WriteLine("usage: Tivo.Bench stores [--events N] [--dynamo-events N] [--repetitions N] [--smoke] [--out FILE]\n       Tivo.Bench delivery [--seconds N] [--smoke] [--out FILE]");
    return args.Length == 0 ? 1 : 0;
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
switch (args[0])
{
    case "stores":
        return await StoreBenchmark.RunAsync(
            Option("--events", smoke ? 3_600 : 360_000),
            Option("--dynamo-events", smoke ? 1_200 : 360_000),
            Option("--repetitions", smoke ? 1 : 5),
            OptionText("--out", Path.Combine("artifacts", "bench", "stores.json")));
    case "delivery":
        return await DeliveryBenchmark.RunAsync(
            Numbers("--sessions", smoke ? [1, 10] : [1, 100, 1000]).Select(n => (int)n).ToArray(),
            Numbers("--speeds", [1, 60]),
            Option("--seconds", smoke ? 3 : 15),
            OptionText("--out", Path.Combine("artifacts", "bench", "delivery.json")));
    default:
        Console.Error.WriteLine($"unknown benchmark '{args[0]}': use stores or delivery");
        return 1;
}
