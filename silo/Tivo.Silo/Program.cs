using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using Tivo.GrainInterfaces.Hosting;
using Tivo.Silo.Hosting;

namespace Tivo.Silo;

/// <summary>The standalone silo: an Orleans server running Tivo's grains; gateways connect as clients. It serves
/// <c>/healthz</c> (ready: this silo is active in the cluster's membership), <c>/livez</c> and <c>/metrics</c> on
/// <c>--urls</c> (default <c>http://localhost:8081</c>). As the first argument, <c>import</c> loads a file into the store
/// (<see cref="ImportCommand"/>) and <c>schema</c> creates the cluster's tables (<see cref="SchemaCommand"/>) instead.</summary>
public static class SiloProgram
{
    /// <summary>The health and metrics address used when neither <c>--urls</c> nor <c>ASPNETCORE_URLS</c> says otherwise.</summary>
    public const string DefaultUrl = "http://localhost:8081";

    public static async Task<int> Main(string[] args)
    {
        switch (args.FirstOrDefault())
        {
            case "import":
                return await ImportCommand.RunAsync(args, Console.Out, Console.Error);
            case "schema":
                return await SchemaCommand.RunAsync(args, Console.Out, Console.Error);
        }

        await using var host = CreateHost(args);
        await host.RunAsync();
        return 0;
    }

    /// <summary>Builds the silo host (also used by tests that run silos and gateways as separate hosts).</summary>
    public static WebApplication CreateHost(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?>
            {
                ["Logging:LogLevel:Default"] = "Information",
                ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
                ["Logging:LogLevel:Orleans"] = "Warning",
            },
        });
        if (string.IsNullOrEmpty(builder.Configuration[WebHostDefaults.ServerUrlsKey]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        builder.Services.AddTivoOrleansOptions(); // validated at start, as in every host
        builder.UseOrleans(silo => silo.AddTivoSilo(builder.Configuration));
        builder.Services.AddHealthChecks().AddCheck<SiloMembershipHealthCheck>("membership");
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter("System.Runtime", "Microsoft.Orleans")
            .AddPrometheusExporter());
        configure?.Invoke(builder);
        var app = builder.Build();
        app.MapHealthChecks("/healthz");
        app.MapHealthChecks("/livez", new HealthCheckOptions { Predicate = _ => false });
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }
}

/// <summary>Healthy when this silo is <c>Active</c> in the cluster's membership: not while it joins, and not once it
/// shuts down or has been declared dead (the readiness probe).</summary>
internal sealed class SiloMembershipHealthCheck(IClusterMembershipService membership, ILocalSiloDetails silo) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var snapshot = membership.CurrentSnapshot;
        var status = snapshot.GetSiloStatus(silo.SiloAddress);
        var active = snapshot.Members.Values.Count(m => m.Status == SiloStatus.Active);
        var description = $"silo {silo.Name} ({silo.SiloAddress}) is {status}; {active} active silo(s) in cluster version {snapshot.Version}";
        return Task.FromResult(status == SiloStatus.Active ? HealthCheckResult.Healthy(description) : HealthCheckResult.Unhealthy(description));
    }
}
