using Microsoft.Extensions.Hosting;
using Tivo.GrainInterfaces.Hosting;
using Tivo.Silo.Hosting;

namespace Tivo.Silo;

/// <summary>The standalone silo: an Orleans server running Tivo's grains; gateways connect as clients.
/// <c>import</c> as the first argument loads a file into the store instead (see <see cref="ImportCommand"/>).</summary>
public static class SiloProgram
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "import")
        {
            return await ImportCommand.RunAsync(args, Console.Out, Console.Error);
        }

        using var host = CreateHost(args);
        await host.RunAsync();
        return 0;
    }

    /// <summary>Builds the silo host (also used by tests that run silo and gateway as separate hosts).</summary>
    public static IHost CreateHost(string[] args, Action<HostApplicationBuilder>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder(args);
        builder.Services.AddTivoOrleansOptions(); // validated at start, as in the gateway's embedded host
        builder.UseOrleans(silo => silo.AddTivoSilo(builder.Configuration));
        configure?.Invoke(builder);
        return builder.Build();
    }
}
