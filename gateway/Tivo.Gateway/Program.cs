using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using Tivo.Gateway.Endpoints;
using Tivo.GrainInterfaces;
using Tivo.Silo.Hosting;
using Tivo.Stores;

namespace Tivo.Gateway;

/// <summary>Entry point: <c>dotnet run --project gateway/Tivo.Gateway</c>.</summary>
public static class GatewayProgram
{
    public static async Task Main(string[] args)
    {
        await using var app = GatewayApp.Create(args);
        await app.RunAsync();
    }
}

/// <summary>Builds the gateway web application; tests use it to start real hosts.</summary>
public static partial class GatewayApp
{
    /// <summary>The address used when neither <c>--urls</c> nor <c>ASPNETCORE_URLS</c> says otherwise.</summary>
    public const string DefaultUrl = "http://localhost:8080";

    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        if (string.IsNullOrEmpty(builder.Configuration[WebHostDefaults.ServerUrlsKey]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        builder.Services.AddOptions<GatewayOptions>().BindConfiguration(GatewayOptions.SectionName).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<GatewayOptions>, GatewayOptionsValidator>();
        builder.Services.AddTivoOrleansOptions();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<Tivo.Gateway.Connections.SessionFanoutRegistry>();
        builder.Services.AddSingleton<Tivo.Gateway.Connections.ReleaseScheduler>();
        builder.Services.AddSingleton<Tivo.Gateway.Diagnostics.GatewayMetrics>();
        builder.Services.AddSingleton<Tivo.Gateway.Security.TokenAccess>();
        builder.Services.AddSingleton<Tivo.Gateway.Security.OriginPolicy>();
        builder.Services.AddExceptionHandler<TivoExceptionHandler>();
        // The HTTP API describes itself at /openapi/v1.json (the socket's protocol: docs/asyncapi.yaml).
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, Tivo.Gateway.Protocol.ProtocolJsonContext.Default));
        builder.Services.AddOpenApi();
        // Metrics in Prometheus text at /metrics: the gateway's, the silo's (embedded mode: same process),
        // the .NET runtime's (GC heap, CPU, thread pool) and ASP.NET Core's.
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(Tivo.Gateway.Diagnostics.GatewayMetrics.MeterName, Tivo.Grains.Diagnostics.TivoGrainMetrics.MeterName, "System.Runtime", "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel")
            .AddPrometheusExporter());
        builder.Services.AddHealthChecks().AddCheck<ClusterHealthCheck>("cluster");

        var orleans = builder.Configuration.GetSection(TivoOrleansOptions.SectionName).Get<TivoOrleansOptions>() ?? new TivoOrleansOptions();
        if (string.Equals(orleans.Mode, OrleansModes.Client, StringComparison.OrdinalIgnoreCase))
        {
            builder.UseOrleansClient(client =>
            {
                var endpoints = orleans.Gateways.Select(g => IPEndPoint.TryParse(g, out var ep) ? ep : null).OfType<IPEndPoint>().ToArray();
                client.UseStaticClustering(endpoints);
                client.Configure<Orleans.Configuration.ClusterOptions>(o =>
                {
                    o.ClusterId = orleans.ClusterId;
                    o.ServiceId = orleans.ServiceId;
                });
            });
        }
        else
        {
            // Embedded: nothing outside this process talks to its silo, so unless ports are set it takes free
            // ones, and two embedded gateways on one machine do not collide on Orleans' 11111/30000.
            foreach (var key in new[] { "Tivo:Orleans:SiloPort", "Tivo:Orleans:GatewayPort" })
            {
                if (string.IsNullOrEmpty(builder.Configuration[key]))
                {
                    builder.Configuration[key] = FreeLoopbackPort().ToString(System.Globalization.CultureInfo.InvariantCulture);
                }
            }

            builder.UseOrleans(silo => silo.AddTivoSilo(builder.Configuration));
        }

        builder.Services.AddHostedService<Tivo.Gateway.Connections.DeliveryWarmUp>();
        configure?.Invoke(builder);
        var app = builder.Build();
        // TivoExceptionHandler answers first; this delegate only runs should it decline.
        app.UseExceptionHandler(new ExceptionHandlerOptions { ExceptionHandler = TivoExceptionHandler.WriteEmptyStatusAsync });
        app.UseStatusCodePages(status => TivoExceptionHandler.WriteEmptyStatusAsync(status.HttpContext));
        app.UseWebSockets();
        app.UsePrototypeEndpoint(); // before the static files, which answer GET / with the demo page
        var webRoot = Path.Combine(AppContext.BaseDirectory, "wwwroot");
        if (Directory.Exists(webRoot))
        {
            var files = new Microsoft.Extensions.FileProviders.PhysicalFileProvider(webRoot);
            app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files });
            app.UseStaticFiles(new StaticFileOptions { FileProvider = files });
        }

        app.MapTivo();
        app.MapOpenApi();
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.Lifetime.ApplicationStarted.Register(() => _ = LogWelcomeAsync(app));
        return app;
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Logs where to connect, what channels exist and a message to paste.</summary>
    private static async Task LogWelcomeAsync(WebApplication app)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Tivo");
        try
        {
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            var address = addresses.FirstOrDefault() ?? DefaultUrl;
            var channels = await app.Services.GetRequiredService<IClusterClient>().GetGrain<ICatalogGrain>(0).ListChannels();
            LogListening(logger, string.Join(", ", addresses));
            foreach (var c in channels)
            {
                LogChannel(logger, c.Name, TimeUtil.ToIso(c.FirstTicks), TimeUtil.ToIso(c.LastTicks), c.Count);
            }

            if (channels.Length > 0)
            {
                // The seed's own window on the busiest demo channel; any channel's extent otherwise.
                var example = channels.FirstOrDefault(c => c.Name == "taxi") ?? channels[0];
                var from = example.Name == "taxi" ? "2016-01-15T14:32:24Z" : TimeUtil.ToIso(example.FirstTicks);
                var to = example.Name == "taxi" ? "2016-01-15T14:33:24Z" : TimeUtil.ToIso(Math.Min(example.LastTicks + 1, example.FirstTicks + 60 * TimeUtil.TicksPerSecond));
                var wsAddress = address.Replace("http://", "ws://", StringComparison.Ordinal).Replace("https://", "wss://", StringComparison.Ordinal);
                LogExample(logger, $"{wsAddress}/channels/{example.Name}",
                    $"{{\"action\":\"play\",\"start\":\"{from}\",\"end\":\"{to}\",\"speed\":1,\"loop\":\"False\"}}");
            }
            else
            {
                LogNoChannels(logger);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogWelcomeFailed(logger, ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Tivo is listening on {Addresses}")]
    private static partial void LogListening(ILogger logger, string addresses);

    [LoggerMessage(Level = LogLevel.Information, Message = "Channel {Channel}: {First} .. {Last} ({Count} events)")]
    private static partial void LogChannel(ILogger logger, string channel, string first, string last, long count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Try it: connect to {Url} and send {Message}")]
    private static partial void LogExample(ILogger logger, string url, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The store holds no channels yet: ingest events or enable Tivo:Store:SeedDemoData")]
    private static partial void LogNoChannels(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not list channels at start: {Reason}")]
    private static partial void LogWelcomeFailed(ILogger logger, string reason);
}

/// <summary>Healthy when the Orleans cluster answers a catalog call within two seconds.</summary>
internal sealed class ClusterHealthCheck(IClusterClient client) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await client.GetGrain<ICatalogGrain>(0).ListChannels().WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy($"The cluster or the store did not answer: {ex.Message}");
        }
    }
}
