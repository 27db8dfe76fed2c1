using Tivo.Events;
using System.Globalization;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Tivo.Gateway;
using Tivo.Silo;
using Tivo.Tests.Infrastructure;
using Tivo.Testing;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>The cluster shape: a standalone silo host and a gateway host connected as an Orleans client.</summary>
public sealed class TwoHostTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task A_gateway_in_client_mode_plays_through_a_separate_silo()
    {
        using var directory = new TempDirectory();
        var gatewayPort = TestPorts.Free();
        var cluster = "two-host-" + Guid.NewGuid().ToString("n")[..8];
        using var silo = await TestHosts.StartSiloAsync(cluster, gatewayPort, directory.File("silo.db"));
        try
        {
            await using var gateway = await StartGatewayAsync(cluster, gatewayPort);

            // The gateway host has no grains and no store of its own.
            Assert.Null(gateway.Services.GetService<Tivo.Stores.IEventStore>());

            await using var socket = await TestSocket.ConnectAsync(new Uri(gateway.WsBase(), "channels/taxi"));
            await socket.NextAsync("hello");
            await socket.SendAsync("""{"action":"play","start":"2016-01-15T14:32:24Z","end":"2016-01-15T14:33:24Z","speed":10,"loop":"False"}""");
            await socket.NextAsync("ack");
            var first = await socket.NextAsync("event");
            Assert.Equal("taxi", first.GetProperty("channel").GetString());
            Assert.Equal(1, first.GetProperty("seq").GetInt64());
            await gateway.StopAsync();

            // A gateway that shuts down tells its clients to go elsewhere (1001), it does not just vanish.
            Assert.Equal(System.Net.WebSockets.WebSocketCloseStatus.EndpointUnavailable, await socket.WaitForCloseAsync());
        }
        finally
        {
            await silo.StopAsync();
        }
    }

    [Fact]
    public async Task A_client_resumes_by_seq_through_a_new_gateway_after_its_gateway_restarts()
    {
        using var directory = new TempDirectory();
        var gatewayPort = TestPorts.Free();
        var cluster = "resume-" + Guid.NewGuid().ToString("n")[..8];
        using var silo = await TestHosts.StartSiloAsync(cluster, gatewayPort, directory.File("silo.db"));
        try
        {
            var session = "resume-" + Guid.NewGuid().ToString("n")[..8];
            var before = new List<System.Text.Json.JsonElement>();
            await using (var first = await StartGatewayAsync(cluster, gatewayPort))
            {
                await using var socket = await TestSocket.ConnectAsync(WsUri(first, $"ws?channel=trades&session={session}"));
                await socket.NextAsync("hello");
                await socket.SendAsync("""{"action":"play","start":"2016-01-14T15:00:00Z","end":"2016-01-14T15:01:00Z","speed":10}""");
                for (var i = 0; i < 10; i++)
                {
                    before.Add(await socket.NextAsync("event"));
                }

                await first.StopAsync(); // the gateway restarts; the session lives on in the silo
            }

            await using var second = await StartGatewayAsync(cluster, gatewayPort);
            var lastSeq = before[^1].GetProperty("seq").GetInt64();
            await using var resumed = await TestSocket.ConnectAsync(WsUri(second, $"ws?channel=trades&session={session}&lastSeq={lastSeq}"));
            await resumed.NextAsync("hello");
            var after = new List<System.Text.Json.JsonElement>();
            while (true)
            {
                var message = await resumed.NextNonClockAsync(TimeSpan.FromSeconds(30));
                if (message.GetProperty("type").GetString() == "event")
                {
                    after.Add(message);
                }
                else if (message.GetProperty("type").GetString() == "state" && message.GetProperty("status").GetString() == "ended")
                {
                    break;
                }
                else
                {
                    output.WriteLine(message.GetRawText());
                }
            }

            var store = new Tivo.Stores.Embedded.SqliteEventStore(
                Microsoft.Extensions.Options.Options.Create(new Tivo.Stores.Embedded.EmbeddedStoreOptions { Path = directory.File("silo.db") }),
                Microsoft.Extensions.Logging.Abstractions.NullLogger<Tivo.Stores.Embedded.SqliteEventStore>.Instance);
            Tivo.Events.TimeUtil.TryParseIso("2016-01-14T15:00:00Z", out var from);
            Tivo.Events.TimeUtil.TryParseIso("2016-01-14T15:01:00Z", out var to);
            var expected = new List<string>();
            await foreach (var e in store.ReadAsync("trades", from, to, CancellationToken.None))
            {
                expected.Add(Tivo.Events.TimeUtil.ToIso(e.Ticks));
            }

            var received = before.Concat(after).ToList();
            // Printed only on failure: which seqs came in which order says whether an event was lost or overtaken.
            output.WriteLine("received (seq@second): " + string.Join(" ", received.Select(e => $"{e.GetProperty("seq").GetInt64()}@{e.GetProperty("ts").GetString()![17..^1]}")));
            Assert.Equal(received.Count, received.Select(e => e.GetProperty("seq").GetInt64()).Distinct().Count());
            Assert.Equal(expected, received.Select(e => e.GetProperty("ts").GetString()));
        }
        finally
        {
            await silo.StopAsync();
        }
    }

    private static Task<Microsoft.AspNetCore.Builder.WebApplication> StartGatewayAsync(string cluster, int gatewayPort) =>
        TestHosts.StartGatewayAsync("--Tivo:Orleans:Mode", "Client", "--Tivo:Orleans:ClusterId", cluster, "--Tivo:Orleans:Gateways:0", $"127.0.0.1:{gatewayPort}");

    private static Uri WsUri(Microsoft.AspNetCore.Builder.WebApplication app, string pathAndQuery) => new(app.WsBase(), pathAndQuery);

    [Fact]
    public async Task The_standalone_silo_validates_its_orleans_settings_at_start_like_the_gateway()
    {
        // Before: only the gateway validated Tivo:Orleans; a silo started with a bad value and failed later.
        using var directory = new TempDirectory();
        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(async () =>
        {
            using var silo = Tivo.Silo.SiloProgram.CreateHost(
            [
                "--Tivo:Orleans:SiloPort", Tivo.Testing.TestPorts.Free().ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--Tivo:Orleans:GatewayPort", Tivo.Testing.TestPorts.Free().ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--Tivo:Orleans:Persistence", "Cassandra",
                "--Tivo:Store:Path", directory.File("tivo.db"),
                "--Logging:LogLevel:Default", "None",
            ]);
            await silo.StartAsync();
        });
        Assert.Contains("Tivo:Orleans:Persistence is 'Cassandra'; use Memory or AdoNet.", error.Message, StringComparison.Ordinal);
    }
}
