using Tivo.Events;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Tivo.Gateway.Endpoints;
using Tivo.GrainInterfaces;
using Tivo.GrainInterfaces.Hosting;

namespace Tivo.Gateway;

/// <summary>The gateway of a cluster: <c>dotnet run --project gateway/Tivo.Gateway</c> with <c>Tivo:Orleans:Gateways</c>
/// naming silos. The one-process server (gateway + silo + store) is <c>server/Tivo.Server</c>.</summary>
public static class GatewayProgram
{
    public static async Task Main(string[] args)
    {
        await using var app = GatewayApp.Create(args);
        await app.RunAsync();
    }
}

/// <summary>Builds the gateway web application: <see cref="CreateBuilder"/> (settings and services), then a choice of
/// how to reach the grains, then <see cref="Build"/> (middleware and routes).</summary>
public static partial class GatewayApp
{
    /// <summary>The address used when neither <c>--urls</c> nor <c>ASPNETCORE_URLS</c> says otherwise.</summary>
    public const string DefaultUrl = "http://localhost:8080";

    /// <summary>Defaults below every other configuration source (appsettings, environment, command line).</summary>
    private static readonly Dictionary<string, string?> Defaults = new()
    {
        ["Logging:LogLevel:Default"] = "Information",
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
        ["Logging:LogLevel:Orleans"] = "Warning",
        ["Logging:LogLevel:Polly"] = "Warning",
    };

    /// <summary>The gateway as a client of silos started on their own (<c>Tivo:Orleans:Mode</c> is <c>Client</c> here).</summary>
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = CreateBuilder(args, new() { ["Tivo:Orleans:Mode"] = nameof(OrleansMode.Client) });
        var orleans = TivoOrleansOptions.Read(builder.Configuration);
        if (orleans.Mode != OrleansMode.Client)
        {
            throw new OptionsValidationException(TivoOrleansOptions.SectionName, typeof(TivoOrleansOptions),
                [$"Tivo:Orleans:Mode is {orleans.Mode}, but this gateway carries no silo: leave it Client and name silos in Tivo:Orleans:Gateways, or run server/Tivo.Server for one process with its own silo."]);
        }

        builder.UseTivoOrleansClient(orleans);
        configure?.Invoke(builder);
        return Build(builder);
    }

    /// <summary>A builder with the gateway's settings and services (<see cref="GatewayServiceCollectionExtensions.AddTivoGateway"/>);
    /// the caller adds the Orleans client or a silo, then calls <see cref="Build"/>.</summary>
    public static WebApplicationBuilder CreateBuilder(string[] args, Dictionary<string, string?>? defaults = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource
        {
            InitialData = Defaults.Concat(defaults ?? []),
        });
        if (string.IsNullOrEmpty(builder.Configuration[WebHostDefaults.ServerUrlsKey]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        builder.Services.AddTivoGateway();
        return builder;
    }

    /// <summary>Builds the app: error handling, WebSockets, the demo page, the routes, OpenAPI and /metrics.</summary>
    public static WebApplication Build(WebApplicationBuilder builder)
    {
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
