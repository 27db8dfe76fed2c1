using System.Diagnostics;
using System.Text;
using Tivo.Testing;

namespace Tivo.Bench;

/// <summary>What the cluster did through a kill -9 and a rolling restart, per participant.</summary>
internal sealed record FailoverResult(
    int Sessions, int Participants, string Killed, int SessionsOnKilled,
    double KillToNextP50, double KillToNextMax, int KillLost, int KillRepeated,
    double RollingLongestPause, int RollingLost, int RollingRepeated);

/// <summary>
/// Issue 11's figures, on the production shape run as processes: 3 silos and 2 gateways on a throwaway PostgreSQL.
/// N sessions each watched from both gateways (a controller on one, a viewer on the other) play 20 events/s; the silo
/// holding the most sessions is killed (-9): kill → next event per participant of those sessions, events lost and
/// repeated (payload counters, every participant). Then every silo is replaced one by one (a new one started and ready for 5 s, the old one SIGTERMed):
/// the longest pause any participant saw, lost and repeated.
/// </summary>
internal static class FailoverBenchmark
{
    private const int EventsPerSecond = 20;

    private static readonly bool ShowLogs = Environment.GetEnvironmentVariable("TIVO_BENCH_LOGS") is not null;

    /// <summary>With TIVO_BENCH_LOGS set: a timestamped step of the run, to set beside the processes' logs.</summary>
    private static void Log(string step)
    {
        if (ShowLogs)
        {
            Console.WriteLine($"  [bench] {DateTime.Now:HH:mm:ss.fff} {step}");
        }
    }

    public static async Task<FailoverResult> RunAsync(int sessions)
    {
        await using var postgres = new PostgreSqlServer();
        await postgres.StartNewAsync();
        var connectionString = await postgres.CreateDatabaseAsync("failover");
        string[] logging = ["--Logging:LogLevel:Tivo", "Information", "--Logging:Console:FormatterName", "simple", "--Logging:Console:FormatterOptions:TimestampFormat", "HH:mm:ss.fff "];
        await using var cluster = await TivoCluster.StartAsync(connectionString, silos: 3, gateways: 2, logging);
        var (a, b) = (cluster.Gateways[0], cluster.Gateways[1]);
        var start = new DateTime(2024, 3, 1, 0, 0, 0, DateTimeKind.Utc);
        var lines = Enumerable.Range(0, 600 * EventsPerSecond).Select(i =>
            $"{{\"ts\":\"{start.AddTicks(i * TimeSpan.TicksPerSecond / EventsPerSecond):O}\",\"data\":{{\"i\":{i}}}}}");
        using (var response = await a.Http.PostAsync("channels/beat/events", new StringContent(string.Join('\n', lines), Encoding.UTF8, "application/x-ndjson")))
        {
            response.EnsureSuccessStatusCode();
        }

        var watchers = new List<(StreamWatcher Controller, StreamWatcher Viewer)>();
        try
        {
            for (var s = 0; s < sessions; s++)
            {
                var id = $"bench-{s}-{Guid.NewGuid():n}"[..20];
                var controller = await StreamWatcher.ConnectAsync($"controller{s}", a.WebSocketUri($"channels/beat?session={id}"));
                var viewer = await StreamWatcher.ConnectAsync($"viewer{s}", b.WebSocketUri($"channels/beat?session={id}&role=viewer"));
                watchers.Add((controller, viewer));
            }

            await Task.Delay(500);
            foreach (var (controller, _) in watchers)
            {
                await controller.SendAsync($"{{\"action\":\"play\",\"start\":\"{start:O}\",\"end\":\"{start.AddSeconds(600):O}\",\"speed\":1}}");
            }

            var all = watchers.SelectMany(w => new[] { w.Controller, w.Viewer }).ToList();
            await WaitAsync(() => all.All(w => w.Count >= 2 * EventsPerSecond && w.Host is not null), TimeSpan.FromSeconds(60));
            var hosts = watchers.GroupBy(w => w.Controller.Host!).OrderByDescending(g => g.Count()).First();
            var killed = cluster.Silo(hosts.Key);
            var killedAt = Stopwatch.GetTimestamp();
            await killed.KillAsync();
            await WaitAsync(() => all.All(w => w.Events.Any(e => e.ArrivedAt > killedAt + Stopwatch.Frequency / 2)), TimeSpan.FromSeconds(90));
            var affected = hosts.SelectMany(w => new[] { w.Controller, w.Viewer }).ToList();
            var toNext = affected.Select(w => w.SecondsToFlow(killedAt)).Order().ToList();
            await Task.Delay(1000);
            var afterKill = all.Select(w => w.Tally()).ToList();

            var longest = 0.0;
            foreach (var old in cluster.Silos.Where(p => !p.Exited).ToList())
            {
                await cluster.StartSiloAsync(logging);
                await Task.Delay(TimeSpan.FromSeconds(5));
                var stoppedAt = Stopwatch.GetTimestamp();
                Log($"SIGTERM {old.Name}");
                await old.TerminateAsync(TimeSpan.FromSeconds(30));
                await WaitAsync(() => all.All(w => w.Events.Any(e => e.ArrivedAt > stoppedAt + Stopwatch.Frequency)), TimeSpan.FromSeconds(60));
                var step = all.MaxBy(w => w.LongestGap(stoppedAt))!;
                Log($"{old.Name} stopped: longest pause {step.LongestGap(stoppedAt):F2} s ({step.Name})");
                longest = Math.Max(longest, step.LongestGap(stoppedAt));
            }

            await Task.Delay(1000);
            var final = all.Select(w => w.Tally()).ToList();
            foreach (var w in all.Where(w => w.Tally().Lost > 0))
            {
                Console.WriteLine($"  {w.Name} (session on {w.Host}) missed counters {string.Join(", ", w.Missing())}");
            }
            var result = new FailoverResult(sessions, all.Count, hosts.Key, hosts.Count(),
                toNext[toNext.Count / 2], toNext[^1], afterKill.Sum(t => t.Lost), afterKill.Sum(t => t.Repeated),
                longest, final.Sum(t => t.Lost) - afterKill.Sum(t => t.Lost), final.Sum(t => t.Repeated) - afterKill.Sum(t => t.Repeated));
            Console.WriteLine($"  {sessions} sessions × 2 participants (one per gateway), 3 silos, 20 events/s each");
            Console.WriteLine($"  kill -9 of {result.Killed} (held {result.SessionsOnKilled} sessions): next event after p50 {result.KillToNextP50:F1} s, max {result.KillToNextMax:F1} s (target ≤ 20 s); lost {result.KillLost}, repeated {result.KillRepeated} (target 0)");
            Console.WriteLine($"  rolling restart (SIGTERM each silo after its replacement is ready): longest pause {result.RollingLongestPause:F2} s (target ≤ 1 s); lost {result.RollingLost}, repeated {result.RollingRepeated} (target 0)");
            return result;
        }
        finally
        {
            if (ShowLogs)
            {
                foreach (var p in cluster.Gateways.Concat(cluster.Silos))
                {
                    var output = p.Output.Split('\n');
                    for (var i = 1; i < output.Length; i++)
                    {
                        if (output[i].Contains("Session ", StringComparison.Ordinal) || output[i].Contains("handing", StringComparison.Ordinal) || output[i].Contains("fail", StringComparison.OrdinalIgnoreCase))
                        {
                            Console.WriteLine($"  [{p.Name}] {output[i - 1].Split(' ')[0]} {output[i].Trim()}");
                        }
                    }
                }

                Log("now");
                foreach (var w in watchers.SelectMany(w => new[] { w.Controller, w.Viewer }).Where(w => w.Count > 0))
                {
                    var last = w.Events[^1];
                    Console.WriteLine($"  [bench] {w.Name}: {w.Count} events, the last (seq {last.Seq}) {Stopwatch.GetElapsedTime(last.ArrivedAt).TotalSeconds:F2} s ago");
                }
            }

            foreach (var (controller, viewer) in watchers)
            {
                await controller.DisposeAsync();
                await viewer.DisposeAsync();
            }
        }
    }

    private static async Task WaitAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("the cluster did not get there in time");
            }

            await Task.Delay(100);
        }
    }
}
