using Microsoft.Extensions.Hosting;
using Tivo.Silo.Hosting;

namespace Tivo.Silo;

/// <summary>The standalone silo: an Orleans server running Tivo's grains; gateways connect as clients.</summary>
public static class SiloProgram
{
    public static async Task Main(string[] args)
    {
        using var host = CreateHost(args);
        await host.RunAsync();
    }

    /// <summary>Builds the silo host (also used by tests that run silo and gateway as separate hosts).</summary>
    public static IHost CreateHost(string[] args, Action<HostApplicationBuilder>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder(args);
        builder.UseOrleans(silo => silo.AddTivoSilo(builder.Configuration));
        configure?.Invoke(builder);
        return builder.Build();
    }
}
