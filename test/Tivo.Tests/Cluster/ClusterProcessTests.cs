using System.Diagnostics;
using System.Globalization;
using System.Text;
using Tivo.Testing;
using Tivo.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Tivo.Tests.Cluster;

/// <summary>
/// The production shape as processes: 3 silos and 2 gateways on a throwaway PostgreSQL (ADO.NET membership, sessions
/// persisted through ADO.NET, events in the PostgreSQL store). One session is shared by participants on both gateways;
/// the silo holding it is killed (-9) mid-play, then every silo is restarted one by one with SIGTERM. Each participant
/// counts the payload counters it receives: none may be missing and none repeated.
/// </summary>
[Collection(PostgreSqlCollection.Name)]
public sealed class ClusterProcessTests(PostgreSqlServerFixture postgres, ITestOutputHelper output)
{
    private const int EventsPerSecond = 20;

    [Fact]
    public async Task A_shared_session_survives_a_killed_silo_and_a_rolling_restart_with_nothing_lost_or_repeated()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("cluster");
        await using var cluster = await TivoCluster.StartAsync(connectionString, silos: 3, gateways: 2, "--Logging:LogLevel:Tivo", "Information");
        try
        {
            await PlayThroughFailuresAsync(cluster);
        }
        catch
        {
            foreach (var process in cluster.Gateways.Concat(cluster.Silos))
            {
                output.WriteLine($"==== {process.Name}\n{process.Output}");
            }

            throw;
        }
    }

    private async Task PlayThroughFailuresAsync(TivoCluster cluster)
    {
        Assert.Contains("Orleans membership tables are in place", cluster.SchemaOutput, StringComparison.Ordinal); // the one-shot job made the tables
        var (a, b) = (cluster.Gateways[0], cluster.Gateways[1]);
        var start = new DateTime(2024, 3, 1, 0, 0, 0, DateTimeKind.Utc);
        var lines = Enumerable.Range(0, 200 * EventsPerSecond).Select(i =>
            $"{{\"ts\":\"{start.AddTicks(i * TimeSpan.TicksPerSecond / EventsPerSecond):O}\",\"data\":{{\"i\":{i}}}}}");
        using (var response = await a.Http.PostAsync("channels/beat/events", new StringContent(string.Join('\n', lines), Encoding.UTF8, "application/x-ndjson")))
        {
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        }

        var session = "shared-" + Guid.NewGuid().ToString("n")[..8];
        await using var controller = await StreamWatcher.ConnectAsync("controller@A", a.WebSocketUri($"channels/beat?session={session}"));
        await using var viewerA = await StreamWatcher.ConnectAsync("viewer@A", a.WebSocketUri($"channels/beat?session={session}&role=viewer"));
        await using var viewerB1 = await StreamWatcher.ConnectAsync("viewer1@B", b.WebSocketUri($"channels/beat?session={session}&role=viewer"));
        await using var viewerB2 = await StreamWatcher.ConnectAsync("viewer2@B", b.WebSocketUri($"channels/beat?session={session}&role=viewer"));
        StreamWatcher[] all = [controller, viewerA, viewerB1, viewerB2];
        // Every participant joined (had its hello) before the play, so each must receive counter 0 onwards.
        await controller.SendAsync($"{{\"action\":\"play\",\"start\":\"{start:O}\",\"end\":\"{start.AddSeconds(200):O}\",\"speed\":1}}");
        await Eventually.WaitAsync(() => all.All(w => w.Count >= 2 * EventsPerSecond), "two seconds of events on every participant");

        // Every participant, whatever its gateway, gets the same events with the same seqs (one activation, one clock).
        var seqsA = viewerA.Events.Take(30).Select(e => (e.I, e.Seq)).ToList();
        Assert.Equal(seqsA, viewerB1.Events.Take(30).Select(e => (e.I, e.Seq)));

        var acks = controller.Acks;
        await controller.SendAsync("""{"action":"status"}""");
        await Eventually.WaitAsync(() => controller.Acks > acks && controller.Host is not null, "status to name the silo holding the session");
        var host = cluster.Silo(controller.Host!);
        var killedAt = Stopwatch.GetTimestamp();
        await host.KillAsync();
        await Eventually.WaitAsync(() => all.All(w => w.Events.Any(e => e.ArrivedAt > killedAt + Stopwatch.Frequency / 2)),
            "every participant to receive events again after the kill", TimeSpan.FromSeconds(60));
        var resumed = all.Select(w => w.SecondsToFlow(killedAt)).ToList();
        output.WriteLine($"kill -9 of {host.Name}: next event after {string.Join(", ", resumed.Select(s => s.ToString("0.0", CultureInfo.InvariantCulture)))} s");
        Assert.All(resumed, s => Assert.True(s <= 20, $"flowing again after {s:0.0} s (target ≤ 20 s)"));

        // A rolling update: each silo replaced by a new one, the old one stopped with SIGTERM once the new one has been
        // ready for a while (Kubernetes' minReadySeconds: gateways must have found it before sessions move there).
        foreach (var old in cluster.Silos.Where(s => !s.Exited).ToList())
        {
            await cluster.StartSiloAsync("--Logging:LogLevel:Tivo", "Information");
            await Task.Delay(TimeSpan.FromSeconds(5));
            var stoppedAt = Stopwatch.GetTimestamp();
            await old.TerminateAsync(TimeSpan.FromSeconds(30));
            await Eventually.WaitAsync(() => all.All(w => w.Events.Any(e => e.ArrivedAt > stoppedAt + Stopwatch.Frequency)),
                $"events after {old.Name} stopped", TimeSpan.FromSeconds(30));
            output.WriteLine($"SIGTERM {old.Name}: longest pause {all.Max(w => w.LongestGap(stoppedAt)):0.00} s");
        }

        await Task.Delay(1000);
        foreach (var watcher in all)
        {
            var (first, last, lost, repeated) = watcher.Tally();
            output.WriteLine($"{watcher.Name}: counters {first}..{last}, lost {lost} ({string.Join(", ", watcher.Missing())}), repeated {repeated}");
            Assert.Equal(0, first);
            Assert.Equal(0, lost);
            Assert.Equal(0, repeated);
        }

        Assert.True(all.Max(w => w.Tally().Last) - all.Min(w => w.Tally().Last) <= EventsPerSecond, "participants on both gateways are at the same place");
    }
}
