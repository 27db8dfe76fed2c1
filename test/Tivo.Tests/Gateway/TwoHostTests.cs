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
public sealed class TwoHostTests
{
    [Fact]
    public async Task A_gateway_in_client_mode_plays_through_a_separate_silo()
    {
        using var directory = new TempDirectory();
        var siloPort = TestPorts.Free();
        var gatewayPort = TestPorts.Free();
        var cluster = "two-host-" + Guid.NewGuid().ToString("n")[..8];
        using var silo = SiloProgram.CreateHost(
        [
            "--Tivo:Orleans:SiloPort", siloPort.ToString(CultureInfo.InvariantCulture),
            "--Tivo:Orleans:GatewayPort", gatewayPort.ToString(CultureInfo.InvariantCulture),
            "--Tivo:Orleans:ClusterId", cluster,
            "--Tivo:Store:Path", directory.File("silo.db"),
            "--Logging:LogLevel:Default", "Warning",
        ]);
        await silo.StartAsync();
        try
        {
            await using var gateway = GatewayApp.Create(
            [
                "--urls", "http://127.0.0.1:0",
                "--Tivo:Orleans:Mode", "Client",
                "--Tivo:Orleans:ClusterId", cluster,
                "--Tivo:Orleans:Gateways:0", $"127.0.0.1:{gatewayPort}",
                "--Logging:LogLevel:Default", "Warning",
            ]);
            await gateway.StartAsync();
            var address = gateway.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

            // The gateway host has no grains and no store of its own.
            Assert.Null(gateway.Services.GetService<Tivo.Stores.IEventStore>());

            await using var socket = await TestSocket.ConnectAsync(new Uri(address.Replace("http://", "ws://", StringComparison.Ordinal) + "/channels/taxi"));
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
}
