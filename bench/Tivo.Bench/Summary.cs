using System.Globalization;
using System.Text;

namespace Tivo.Bench;

/// <summary>The run's figures as one Markdown table, with the design's targets beside them, and the list
/// of figures the run failed to produce (a smoke run checks that this list is empty).</summary>
internal sealed class Summary
{
    private readonly StringBuilder _table = new();

    public string Table => _table.ToString();

    public List<string> Missing { get; } = [];

    /// <summary>The p99 target for a Tivo delivery row (the design's and issue 12's), with the naive peer's p99 from the
    /// same run when there is one.</summary>
    private static string DeliveryTarget(DeliveryRow r, List<DeliveryRow> rows)
    {
        var atThousand = Limits(r with { Sessions = 1000 }).P99Ms;
        var target = (r.System, r.Sessions) switch
        {
            ("tivo-lead-js", _) => $"with lead, at the JS client: p99 ≤ {atThousand} ms at 1,000 sessions",
            ("tivo-lead", _) => "with lead: held to due by the client (late only if it came after its due)",
            (_, <= 1) => $"p99 ≤ {Limits(r).P99Ms} ms",
            (_, >= 2000) => $"p99 ≤ {Limits(r).P99Ms} ms (the clock slows instead)",
            _ => $"p99 ≤ {atThousand} ms at 1,000 sessions",
        };
        return target + Peers(r, rows, p => $"{p.P99Ms:F2} ms", floor: false);
    }

    /// <summary>The same row of the naive peer and, with <paramref name="floor"/>, of the floor (one send per event and nothing
    /// else, <see cref="FloorServer"/>: a floor of CPU per event, not of lateness — it sleeps in whole milliseconds) from the
    /// same run, as "; naive peer X; floor Y" (empty when the peers did not run).</summary>
    private static string Peers(DeliveryRow r, List<DeliveryRow> rows, Func<DeliveryRow, string> figure, bool floor = true)
    {
        DeliveryRow? Of(string system) => rows.FirstOrDefault(p => p.System == system && p.Sessions == r.Sessions && p.Speed == r.Speed);
        return (Of("naive-node-ws") is { } naive ? $"; naive peer {figure(naive)}" : "") +
            (floor && Of("floor-sends") is { } bare ? $"; floor {figure(bare)}" : "");
    }

    /// <summary>The limits a Tivo delivery row is held to where the design or issue 12 sets one: p99 (ms) and the server's
    /// CPU per event (µs).</summary>
    internal static (double? P99Ms, double? MicrosPerEvent) Limits(DeliveryRow r) => (r.System, r.Sessions) switch
    {
        ("tivo", <= 1) => (2, null),
        ("tivo", 1000) => (16, 5),
        ("tivo-lead", 1000) => (16, 2),
        ("tivo-lead-js", 1000) => (4, 2),
        ("tivo" or "tivo-lead" or "tivo-lead-js", >= 2000) => (50, null),
        _ => (null, null),
    };

    /// <summary>A row run more than once (<c>delivery --runs N</c>): each figure's range over the runs, its median, and in how
    /// many runs it was within its limit — one run on a shared machine says little. A Tivo row run fewer times than asked is a
    /// missing figure.</summary>
    private void AddRanges(List<DeliveryRow> rows, int expectedRuns)
    {
        var tivoRows = rows.Where(r => r.System.StartsWith("tivo", StringComparison.Ordinal)).GroupBy(r => (r.System, r.Sessions, r.Speed)).ToList();
        if (expectedRuns > 1 && tivoRows.Any(g => g.Count() < expectedRuns))
        {
            Missing.Add($"delivery rows run {expectedRuns} times");
        }

        foreach (var runs in tivoRows.Where(g => g.Count() > 1))
        {
            var (system, sessions, speed) = runs.Key;
            var (p99Limit, cpuLimit) = Limits(runs.First());
            var name = $"{system}, {sessions} sessions × speed {speed}, over {runs.Count()} runs";
            Range($"{name}: error p99", [.. runs.Select(r => r.P99Ms)], "ms", "F2", p99Limit);
            Range($"{name}: server CPU per event", [.. runs.Select(r => r.ServerMicrosPerEvent)], "µs", "F1", cpuLimit);
            if (runs.All(r => r.GatewayGc is not null))
            {
                Range($"{name}: gateway paused for garbage collection", [.. runs.Select(r => r.GatewayGc!.PausedMs)], "ms", "F0", null);
            }
        }

        void Range(string figure, double[] values, string unit, string format, double? limit)
        {
            Array.Sort(values);
            var median = values.Length % 2 == 1 ? values[values.Length / 2] : (values[values.Length / 2 - 1] + values[values.Length / 2]) / 2;
            string F(double v) => v.ToString(format, CultureInfo.InvariantCulture);
            var within = limit is { } l ? $"; {values.Count(v => v <= l)} of {values.Length} runs ≤ {l.ToString(CultureInfo.InvariantCulture)} {unit}" : "";
            Add(figure, median, $"{F(values[0])}–{F(values[^1])} {unit} (median {F(median)}{within})", limit is null ? "" : $"≤ {limit.Value.ToString(CultureInfo.InvariantCulture)} {unit}");
        }
    }

    /// <summary>The table of <paramref name="results"/>. A benchmark that <paramref name="ran"/> says was asked for (by its
    /// result's key; every one for <c>all</c>) and gave nothing is a missing figure; one not asked for is not (`delivery` alone
    /// used to end with "figures missing: first event, sharing, …" and exit 3).</summary>
    public static Summary Build(Dictionary<string, object> results, int deliveryRuns, Func<string, bool> ran)
    {
        var s = new Summary();
        s._table.AppendLine("| figure | value | design target |").AppendLine("|---|---:|---|");
        if (results.GetValueOrDefault("delivery") is List<DeliveryRow> delivery)
        {
            foreach (var r in delivery)
            {
                var name = $"{r.System}, {r.Sessions} sessions × speed {r.Speed}";
                var tivo = r.System.StartsWith("tivo", StringComparison.Ordinal);
                s.Add($"{name}: error p50 / p99 / max", r.P99Ms, $"{r.P50Ms:F2} / {r.P99Ms:F2} / {r.MaxMs:F1} ms", tivo ? DeliveryTarget(r, delivery) : "");
                if (r.ServerP99Ms is { } atGateway)
                {
                    s.Add($"{name}: lateness at the gateway (event handed to its socket − due) p99", atGateway, $"{atGateway:F2} ms",
                        "the server's share of the error above; the rest is the driver on the same cores");
                }

                if (r.EventsPerFrame is { } perFrame)
                {
                    s.Add($"{name}: events per WebSocket frame", perFrame, $"{perFrame:F1}", "");
                }

                if (tivo && r.Slowed is { } slowed) // the peers have no backpressure: nothing to say
                {
                    s.Add($"{name}: sessions the server slowed (backpressure: achievedSpeed < speed)", slowed.Count, slowed.ToString(),
                        r.Sessions >= 2000 ? "says by how much the sessions slowed" : "");
                }

                s.Add($"{name}: events/s delivered (of {r.Sessions * DeliveryBenchmark.Rate:N0} offered)", r.EventsPerSecond, $"{r.EventsPerSecond:N0}", "");
                s.Add($"{name}: CPU server / driver", r.ServerCpuPercent, $"{r.ServerCpuPercent:F0}% / {r.DriverCpuPercent:F0}%", "");
                var cpuTarget = $"≤ {Limits(r with { Sessions = 1000 }).MicrosPerEvent} µs at 1,000 sessions{(r.System == "tivo" ? "" : " with lead")}" +
                    Peers(r, delivery, p => $"{p.ServerMicrosPerEvent:F1} µs");
                s.Add($"{name}: server CPU per event", r.ServerMicrosPerEvent, $"{r.ServerMicrosPerEvent:F1} µs", tivo ? cpuTarget : "");
                if (r.ServerStartMs is { } start)
                {
                    s.Add($"{name}: server CPU in the row's first second (the plays' start; the figures above leave it out)", start, $"{start:F0} ms", "");
                }

                if (r.GatewayBytesPerEvent is { } allocated)
                {
                    s.Add($"{name}: gateway heap allocated per event", allocated, $"{allocated:F0} B", "");
                }
            }

            if (results.GetValueOrDefault("deliveryCold") is List<DeliveryRow> cold)
            {
                foreach (var r in cold)
                {
                    s.Add($"{r.System}, {r.Sessions} sessions × speed {r.Speed}, a fresh server's first plays (the warm-up before the rows): error p99, CPU per event",
                        r.P99Ms, $"{r.P99Ms:F2} ms, {r.ServerMicrosPerEvent:F1} µs{(r.GatewayGc is { } gc ? $"; the gateway paused {gc.PausedMs:F0} ms in {gc.Collections:F0} collection{(gc.Collections == 1 ? "" : "s")}" : "")}", "");
                }
            }

            s.AddRanges(delivery, deliveryRuns);
            foreach (var peer in delivery.Where(r => !r.System.StartsWith("tivo", StringComparison.Ordinal)))
            {
                if (delivery.FirstOrDefault(t => t.System == "tivo" && t.Sessions == peer.Sessions && t.Speed == peer.Speed) is { } tivo)
                {
                    s.Add($"Tivo / {peer.System}, {peer.Sessions} sessions × speed {peer.Speed}: p99 error, events/s, CPU per event",
                        tivo.P99Ms / peer.P99Ms, $"{tivo.P99Ms / peer.P99Ms:F2}× / {tivo.EventsPerSecond / peer.EventsPerSecond:F2}× / {tivo.ServerMicrosPerEvent / peer.ServerMicrosPerEvent:F2}×", "");
                }
            }
        }
        else if (ran("delivery"))
        {
            s.Missing.Add("delivery");
        }

        if (results.GetValueOrDefault("deliveryPeerFailures") is List<string> peerFailures)
        {
            s.Missing.AddRange(peerFailures);
        }

        if (results.GetValueOrDefault("firstEvent") is List<FirstEventRow> first)
        {
            foreach (var r in first)
            {
                s.Add($"play → first event, {r.Case}: median / max", r.MedianMs, $"{r.MedianMs:F1} / {r.MaxMs:F1} ms",
                    r.Case.StartsWith("warm", StringComparison.Ordinal) ? "≤ 50 ms" : r.Case.Contains("PostgreSQL", StringComparison.Ordinal) ? "≤ 250 ms" : "");
            }
        }
        else if (ran("firstEvent"))
        {
            s.Missing.Add("first event");
        }

        if (results.GetValueOrDefault("sharing") is List<SharingRow> sharing)
        {
            foreach (var r in sharing)
            {
                s.Add($"{r.Sessions} sessions on one window: store queries / chunk reads per chunk", r.ReadsPerChunk, $"{r.QueriesPerChunk:F2} / {r.ReadsPerChunk:F2}", "one read per chunk, not N");
            }
        }
        else if (ran("sharing"))
        {
            s.Missing.Add("sharing");
        }

        if (results.GetValueOrDefault("memory") is MemoryResult memory)
        {
            var m = memory.Sessions;
            s.Add($"heap per idle session ({m.Sessions} sessions)", m.PerIdleSessionBytes, $"{m.PerIdleSessionBytes / 1024:F1} KiB", "bounded");
            s.Add("heap per connection (idle)", m.PerConnectionBytes, $"{m.PerConnectionBytes / 1024:F1} KiB", "bounded");
            s.Add("heap per playing session (with its read-ahead)", m.PerPlayingSessionBytes, $"{m.PerPlayingSessionBytes / 1024:F1} KiB", "bounded");
            var c = memory.CacheSweep;
            s.Add($"chunk cache peak under a {c.SweptBytes / 1048576.0:F0} MiB sweep", c.CachePeakBytes, $"{c.CachePeakBytes / 1048576:F2} MiB of {c.CacheLimitBytes / 1048576.0:F2} MiB", "≤ Tivo:Cache:MaxBytes");
        }
        else if (ran("memory"))
        {
            s.Missing.Add("memory");
        }

        if (results.GetValueOrDefault("drift") is DriftRow d)
        {
            s.Add($"clock drift after {d.Seconds} s at speed {d.Speed} (playhead − wall × speed)", d.EndDriftStreamMs, $"{d.EndDriftStreamMs:F2} stream ms (max {d.MaxDriftStreamMs:F2}; slope {d.SlopePpm:F1} ppm)",
                d.Seconds >= 3600 && d.Speed == 1 ? "within 5 ms after an hour at speed 1" : "none (computed, never counted)");
            s.Add("dues against the warp, largest difference", d.MaxDueErrorMs, $"{d.MaxDueErrorMs:F4} ms", "exact");
            s.Add("mean lateness, last 10 s minus first 10 s", d.LatenessChangeMs, $"{d.LatenessChangeMs:F2} ms", "no growth");
        }
        else if (ran("drift"))
        {
            s.Missing.Add("drift");
        }

        if (results.GetValueOrDefault("failover") is FailoverResult f)
        {
            s.Add($"kill -9 of the silo holding {f.SessionsOnKilled} of {f.Sessions} sessions: next event p50 / max", f.KillToNextMax, $"{f.KillToNextP50:F1} / {f.KillToNextMax:F1} s", "≤ 20 s");
            s.Add("kill -9: events lost / repeated (all participants)", f.KillLost + f.KillRepeated, $"{f.KillLost} / {f.KillRepeated}", "0 / 0");
            s.Add("rolling restart (SIGTERM): longest pause", f.RollingLongestPause, $"{f.RollingLongestPause:F2} s", "≤ 1 s");
            s.Add("rolling restart: events lost / repeated", f.RollingLost + f.RollingRepeated, $"{f.RollingLost} / {f.RollingRepeated}", "0 / 0");
        }
        else if (ran("failover"))
        {
            s.Missing.Add("failover");
        }

        return s;
    }

    private void Add(string figure, double check, string value, string target)
    {
        if (double.IsNaN(check) || double.IsInfinity(check))
        {
            Missing.Add(figure);
        }

        _table.Append("| ").Append(figure).Append(" | ").Append(value).Append(" | ").Append(target).AppendLine(" |");
    }
}
