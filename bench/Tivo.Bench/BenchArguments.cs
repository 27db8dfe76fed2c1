using System.Globalization;

namespace Tivo.Bench;

/// <summary>
/// The benchmark's command line checked before anything runs: each benchmark's options, what kind of value each takes, and a
/// message naming what is wrong. Options used to be looked up by name and the rest ignored, so a misspelt one
/// (<c>--session 1000</c>) or a stray <c>--help</c> after the benchmark's name ran minutes of the defaults instead.
/// </summary>
internal static class BenchArguments
{
    private enum Kind
    {
        Flag,
        Integer,
        Numbers,
        Text,
    }

    private static readonly Dictionary<string, Kind> Common = new()
    {
        ["--smoke"] = Kind.Flag,
        ["--out"] = Kind.Text,
    };

    private static readonly Dictionary<string, Dictionary<string, Kind>> Benchmarks = new()
    {
        ["delivery"] = new()
        {
            ["--sessions"] = Kind.Numbers, ["--speeds"] = Kind.Numbers, ["--seconds"] = Kind.Integer, ["--no-peers"] = Kind.Flag,
            ["--lead"] = Kind.Integer, ["--js-clients-per-process"] = Kind.Integer, ["--js-node-options"] = Kind.Text, ["--runs"] = Kind.Integer,
        },
        ["first-event"] = new() { ["--repetitions"] = Kind.Integer },
        ["sharing"] = new(),
        ["memory"] = new() { ["--sessions"] = Kind.Integer },
        ["drift"] = new() { ["--seconds"] = Kind.Integer, ["--speed"] = Kind.Integer },
        ["hostile"] = new() { ["--flood-seconds"] = Kind.Integer, ["--fuzz-frames"] = Kind.Integer, ["--fuzz-requests"] = Kind.Integer },
        ["failover"] = new() { ["--sessions"] = Kind.Integer },
        ["live"] = new() { ["--posts"] = Kind.Integer },
        ["export"] = new() { ["--events"] = Kind.Integer, ["--repetitions"] = Kind.Integer },
        ["stores"] = new() { ["--events"] = Kind.Integer, ["--dynamo-events"] = Kind.Integer, ["--repetitions"] = Kind.Integer },
        ["micro"] = new(), // BenchmarkDotNet's own options go after "--"
    };

    /// <summary>Benchmarks <c>all</c> runs (it takes their options: <c>--sessions</c> is each one's session count).</summary>
    private static readonly string[] InAll = ["delivery", "first-event", "sharing", "memory", "drift", "hostile", "export", "live", "failover"];

    /// <summary>True when <paramref name="args"/> asks for the usage anywhere (before a <c>--</c>).</summary>
    public static bool AsksForHelp(string[] args) => args.TakeWhile(a => a != "--").Any(a => a is "-h" or "--help");

    /// <summary>What is wrong with <paramref name="args"/> (a benchmark's name, then its options), or null.</summary>
    public static string? Problem(string[] args)
    {
        var benchmark = args[0];
        if (OptionsOf(benchmark) is not { } options)
        {
            return $"unknown benchmark '{benchmark}'";
        }

        for (var i = 1; i < args.Length; i++)
        {
            var name = args[i];
            if (name == "--" && benchmark == "micro")
            {
                return null; // the rest is BenchmarkDotNet's
            }

            if (!options.TryGetValue(name, out var kind))
            {
                var known = options.Keys.Order(StringComparer.Ordinal);
                return $"unknown option '{name}' for {benchmark} (its options: {string.Join(", ", known)})";
            }

            if (kind == Kind.Flag)
            {
                continue;
            }

            if (++i == args.Length)
            {
                return $"option '{name}' needs a value";
            }

            var value = args[i];
            var readable = kind switch
            {
                Kind.Integer => int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _),
                Kind.Numbers => value.Split(',').All(n => double.TryParse(n, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)),
                _ => true,
            };
            if (!readable)
            {
                return kind == Kind.Integer
                    ? $"option '{name}' takes a whole number, not '{value}'"
                    : $"option '{name}' takes numbers separated by commas (e.g. 1,100,1000), not '{value}'";
            }
        }

        return null;
    }

    private static Dictionary<string, Kind>? OptionsOf(string benchmark)
    {
        if (benchmark == "all")
        {
            var all = new Dictionary<string, Kind>(Common);
            foreach (var (name, kind) in InAll.SelectMany(b => Benchmarks[b]))
            {
                // One value serves every benchmark that reads the option: a list where each takes a list, else one number
                // (--sessions is delivery's list and memory's count).
                all[name] = all.TryGetValue(name, out var other) && other == Kind.Integer ? other : kind;
            }

            return all;
        }

        return Benchmarks.TryGetValue(benchmark, out var own) ? new Dictionary<string, Kind>(own.Concat(Common)) : null;
    }
}
