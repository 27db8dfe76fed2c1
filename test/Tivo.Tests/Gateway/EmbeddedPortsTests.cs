using Microsoft.AspNetCore.Builder;
using Tivo.Gateway;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>Embedded gateways need no fixed Orleans ports: two on one machine both start (before: both took 11111/30000).</summary>
public sealed class EmbeddedPortsTests
{
    [Fact]
    public async Task Two_embedded_gateways_without_port_settings_run_side_by_side()
    {
        using var directory = new TempDirectory();
        WebApplication? first = null, second = null;
        try
        {
            first = Tivo.Server.TivoServer.Create(["--urls", "http://127.0.0.1:0", "--Tivo:Store:Path", directory.File("a.db"), "--Tivo:Store:SeedDemoData", "false", "--Logging:LogLevel:Default", "Warning"]);
            await first.StartAsync();
            second = Tivo.Server.TivoServer.Create(["--urls", "http://127.0.0.1:0", "--Tivo:Store:Path", directory.File("b.db"), "--Tivo:Store:SeedDemoData", "false", "--Logging:LogLevel:Default", "Warning"]);
            await second.StartAsync();
            foreach (var app in new[] { first, second })
            {
                using var http = new HttpClient { BaseAddress = app.HttpBase() };
                using var health = await http.GetAsync("healthz");
                Assert.Equal(System.Net.HttpStatusCode.OK, health.StatusCode);
            }

            Assert.NotEqual(first.Configuration["Tivo:Orleans:SiloPort"], second.Configuration["Tivo:Orleans:SiloPort"]);
            Assert.NotEqual("11111", first.Configuration["Tivo:Orleans:SiloPort"]);
        }
        finally
        {
            foreach (var app in new[] { second, first })
            {
                if (app is not null)
                {
                    await app.StopAsync();
                    await app.DisposeAsync();
                }
            }
        }
    }
}
