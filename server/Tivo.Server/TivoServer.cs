using System.Net;
using Tivo.Gateway;
using Tivo.GrainInterfaces.Hosting;
using Tivo.Silo.Hosting;

namespace Tivo.Server;

/// <summary>
/// The one-process Tivo: <c>dotnet run --project server/Tivo.Server</c>. The gateway (<see cref="GatewayApp"/>) with a
/// silo and the configured store in the same process (<c>Tivo:Orleans:Mode</c> <c>Embedded</c>, the default here);
/// with <c>Client</c> it is a plain gateway of silos started on their own.
/// </summary>
public static class TivoServer
{
    public static async Task Main(string[] args)
    {
        await using var app = Create(args);
        await app.RunAsync();
    }

    /// <summary>Builds the server; tests use it to start real hosts.</summary>
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = GatewayApp.CreateBuilder(args);
        var orleans = TivoOrleansOptions.Read(builder.Configuration);
        if (orleans.Mode == OrleansMode.Client)
        {
            builder.UseTivoOrleansClient(orleans);
        }
        else
        {
            // Nothing outside this process talks to its silo, so unless ports are set it takes free ones, and two
            // servers on one machine do not collide on Orleans' 11111/30000.
            foreach (var key in new[] { "Tivo:Orleans:SiloPort", "Tivo:Orleans:GatewayPort" })
            {
                if (string.IsNullOrEmpty(builder.Configuration[key]))
                {
                    builder.Configuration[key] = FreeLoopbackPort().ToString(System.Globalization.CultureInfo.InvariantCulture);
                }
            }

            builder.UseOrleans(silo => silo.AddTivoSilo(builder.Configuration));
        }

        configure?.Invoke(builder);
        return GatewayApp.Build(builder);
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
