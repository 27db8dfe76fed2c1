using System.Net;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using Tivo.Gateway.Connections;
using Tivo.Gateway.Diagnostics;
using Tivo.Gateway.Endpoints;
using Tivo.Gateway.Security;
using Tivo.GrainInterfaces.Hosting;

namespace Tivo.Gateway;

/// <summary>Registers the gateway's parts; hosts call it once (<see cref="GatewayApp.CreateBuilder"/> does).</summary>
public static partial class GatewayServiceCollectionExtensions
{
    /// <summary>
    /// The gateway's options (validated at start), its per-process parts — the release scheduler, the session fan-out,
    /// the connection factory, token and origin checks — the HTTP error handler, OpenAPI, health checks and its meter
    /// with the Prometheus exporter (other layers add their own meters to the same provider).
    /// </summary>
    public static IServiceCollection AddTivoGateway(this IServiceCollection services)
    {
        services.AddOptions<GatewayOptions>().BindConfiguration(GatewayOptions.SectionName).ValidateOnStart();
        services.AddSingleton<IValidateOptions<GatewayOptions>, GatewayOptionsValidator>();
        services.AddTivoOrleansOptions();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<SessionFanoutRegistry>();
        services.AddSingleton(sp => new ReleaseScheduler(sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<IOptions<GatewayOptions>>().Value.PressureWindow));
        services.AddSingleton<PlaybackConnectionFactory>();
        services.AddSingleton<GatewayMetrics>();
        services.ActivateSingleton<GatewayMetrics>(); // its series (at zero) from the first scrape, not at first use
        services.AddSingleton<TokenAccess>();
        services.AddSingleton<OriginPolicy>();
        services.AddExceptionHandler<TivoExceptionHandler>();
        // The HTTP API describes itself at /openapi/v1.json (the socket's protocol: docs/asyncapi.yaml).
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, Protocol.ProtocolJsonContext.Default));
        services.AddOpenApi();
        // Metrics in Prometheus text at /metrics: the gateway's, the .NET runtime's (GC heap, CPU, thread pool) and
        // ASP.NET Core's; an embedded silo adds its own meter.
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(GatewayMetrics.MeterName, "System.Runtime", "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel")
            .AddPrometheusExporter());
        services.AddHealthChecks().AddCheck<ClusterHealthCheck>("cluster");
        services.AddHostedService<DeliveryWarmUp>();
        services.AddHostedService<SessionWatchdog>();
        return services;
    }

    /// <summary>Connects to the silos of <paramref name="orleans"/> as an Orleans client: the silos named in
    /// <c>Tivo:Orleans:Gateways</c>, or those in the ADO.NET membership table (<c>Clustering=AdoNet</c>), re-read every
    /// <c>Membership:GatewayListRefreshPeriod</c>. Until a silo answers, the gateway keeps trying (every 2 s, logged), so
    /// gateways may start before silos.</summary>
    public static WebApplicationBuilder UseTivoOrleansClient(this WebApplicationBuilder builder, TivoOrleansOptions orleans)
    {
        builder.UseOrleansClient(client =>
        {
            if (orleans.Clustering == ClusteringKind.AdoNet)
            {
                client.UseAdoNetClustering(o =>
                {
                    o.Invariant = "Npgsql";
                    o.ConnectionString = orleans.EffectiveClusteringConnectionString;
                });
            }
            else
            {
                client.UseStaticClustering([.. orleans.Gateways.Select(g => IPEndPoint.TryParse(g, out var ep) ? ep : null).OfType<IPEndPoint>()]);
            }

            client.Configure<Orleans.Configuration.ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (orleans.ClusterId, orleans.ServiceId));
            client.Configure<Orleans.Configuration.GatewayOptions>(o => o.GatewayListRefreshPeriod = orleans.Membership.GatewayListRefreshPeriod);
            client.UseConnectionRetryFilter<RetryUntilConnected>();
        });
        return builder;
    }

    /// <summary>Keeps a starting gateway trying to reach the cluster instead of failing its start.</summary>
    private sealed partial class RetryUntilConnected(ILogger<RetryUntilConnected> logger) : IClientConnectionRetryFilter
    {
        public async Task<bool> ShouldRetryConnectionAttempt(Exception exception, CancellationToken cancellationToken)
        {
            LogNotConnected(logger, exception.Message);
            await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
            return !cancellationToken.IsCancellationRequested;
        }

        [LoggerMessage(Level = LogLevel.Warning, Message = "No silo answered yet ({Reason}); trying again in 2 s")]
        private static partial void LogNotConnected(ILogger logger, string reason);
    }
}
