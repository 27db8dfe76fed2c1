using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Tivo.Gateway;
using Tivo.Silo;
using Tivo.Testing;

namespace Tivo.Tests.Gateway;

/// <summary>Real gateway and silo hosts on free loopback ports, as the tests start them.</summary>
internal static class TestHosts
{
    /// <summary>Starts a gateway on 127.0.0.1:0; in embedded mode it gets free Orleans ports too.</summary>
    public static async Task<WebApplication> StartGatewayAsync(params string[] settings)
    {
        var embedded = !settings.Contains("Client");
        string[] ports = embedded
            ? ["--Tivo:Orleans:SiloPort", Free(), "--Tivo:Orleans:GatewayPort", Free()]
            : [];
        var app = Tivo.Server.TivoServer.Create(["--urls", "http://127.0.0.1:0", .. ports, "--Logging:LogLevel:Default", "Warning", .. settings]);
        await app.StartAsync();
        return app;
    }

    /// <summary>Starts a standalone silo host (the silo project's own host) on the given gateway port.</summary>
    public static async Task<IHost> StartSiloAsync(string clusterId, int gatewayPort, string storePath)
    {
        var silo = SiloProgram.CreateHost(
        [
            "--Tivo:Orleans:SiloPort", Free(),
            "--Tivo:Orleans:GatewayPort", gatewayPort.ToString(CultureInfo.InvariantCulture),
            "--Tivo:Orleans:ClusterId", clusterId,
            "--Tivo:Store:Path", storePath,
            "--Logging:LogLevel:Default", "Warning",
        ]);
        await silo.StartAsync();
        return silo;
    }

    /// <summary>The HTTP base address the app listens on (ends with '/').</summary>
    public static Uri HttpBase(this WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/");

    /// <summary>The WebSocket base address of the app (ends with '/').</summary>
    public static Uri WsBase(this WebApplication app) => new(app.HttpBase().ToString().Replace("http://", "ws://", StringComparison.Ordinal));

    private static string Free() => TestPorts.Free().ToString(CultureInfo.InvariantCulture);
}
