using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.Storage;
using OpenTelemetry.Metrics;
using Tivo.GrainInterfaces.Hosting;
using Tivo.Grains;
using Tivo.Grains.Caching;
using Tivo.Grains.Timing;
using Tivo.Stores;
using Tivo.Stores.DynamoDB;
using Tivo.Stores.Embedded;
using Tivo.Stores.PostgreSql;

namespace Tivo.Silo.Hosting;

/// <summary>Configures an Orleans silo to run Tivo's grains over the configured store.</summary>
public static class TivoSiloBuilderExtensions
{
    /// <summary>
    /// Adds Tivo's grains, options and the store named by <c>Tivo:Store:Kind</c>, with the clustering of
    /// <c>Tivo:Orleans:Clustering</c> on <c>Tivo:Orleans</c> ports and the session storage of <c>Tivo:Orleans:Persistence</c>.
    /// </summary>
    public static ISiloBuilder AddTivoSilo(this ISiloBuilder silo, IConfiguration configuration)
    {
        var orleans = TivoOrleansOptions.Read(configuration);
        silo.AddTivoClustering(orleans);
        silo.AddMemoryGrainStorageAsDefault();
        silo.AddTivoSessionStorage(orleans);
        silo.Services.AddTivoGrainServices(configuration);
        return silo;
    }

    /// <summary>
    /// Localhost clustering (one machine), or Orleans' ADO.NET membership table on PostgreSQL: the silo listens on every
    /// address, advertises <c>Tivo:Orleans:AdvertisedAddress</c> (the pod's IP), names itself <c>SiloName</c> (the pod's
    /// name) and uses the membership timing of <c>Tivo:Orleans:Membership</c>.
    /// </summary>
    public static ISiloBuilder AddTivoClustering(this ISiloBuilder silo, TivoOrleansOptions orleans)
    {
        silo.Configure<SiloOptions>(o => o.SiloName = string.IsNullOrWhiteSpace(orleans.SiloName) ? Environment.MachineName : orleans.SiloName);
        if (orleans.Clustering != ClusteringKind.AdoNet)
        {
            silo.UseLocalhostClustering(orleans.SiloPort, orleans.GatewayPort, serviceId: orleans.ServiceId, clusterId: orleans.ClusterId);
            return silo;
        }

        var connectionString = orleans.EffectiveClusteringConnectionString!;
        silo.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (orleans.ClusterId, orleans.ServiceId));
        silo.ConfigureEndpoints(AdvertisedAddress(orleans), orleans.SiloPort, orleans.GatewayPort, listenOnAnyHostAddress: true);
        silo.UseAdoNetClustering(o =>
        {
            o.Invariant = "Npgsql";
            o.ConnectionString = connectionString;
        });
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = orleans.Membership.ProbeTimeout;
            o.NumMissedProbesLimit = orleans.Membership.NumMissedProbesLimit;
            o.TableRefreshTimeout = orleans.Membership.TableRefreshTimeout;
            o.IAmAliveTablePublishTimeout = orleans.Membership.IAmAliveTablePublishTimeout;
        });
        if (orleans.KubernetesHosting)
        {
            silo.UseKubernetesHosting(); // after Tivo's settings: the pod's identity wins
        }

        if (orleans.CreateClusteringSchema)
        {
            silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(
                new SchemaParticipant("clustering", ServiceLifecycleStage.First, ct => OrleansPostgreSqlClustering.ApplyAsync(connectionString, ct)));
        }

        return silo;
    }

    /// <summary>The configured address, else the machine's first non-loopback IPv4 address (loopback when it has none).</summary>
    private static System.Net.IPAddress AdvertisedAddress(TivoOrleansOptions orleans)
    {
        if (orleans.AdvertisedAddress is { Length: > 0 } configured)
        {
            return System.Net.IPAddress.Parse(configured);
        }

        return System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == System.Net.NetworkInformation.OperationalStatus.Up)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && !System.Net.IPAddress.IsLoopback(a))
            ?? System.Net.IPAddress.Loopback;
    }

    /// <summary>
    /// Registers the storage sessions persist to (<see cref="PlaybackGrain.StorageName"/>): memory, or
    /// PostgreSQL through Microsoft.Orleans.Persistence.AdoNet, optionally creating its tables at start. Either way the
    /// records are written with Orleans' own serializer (<see cref="UseSessionRecordSerializer"/>).
    /// </summary>
    public static ISiloBuilder AddTivoSessionStorage(this ISiloBuilder silo, TivoOrleansOptions orleans)
    {
        if (orleans.Persistence != PersistenceKind.AdoNet)
        {
            silo.AddMemoryGrainStorage(PlaybackGrain.StorageName);
            silo.Services.AddOptions<MemoryGrainStorageOptions>(PlaybackGrain.StorageName).Configure<IServiceProvider>(UseSessionRecordSerializer);
            return silo;
        }

        var connectionString = orleans.PersistenceConnectionString
            ?? throw new OptionsValidationException(TivoOrleansOptions.SectionName, typeof(TivoOrleansOptions),
                ["Tivo:Orleans:PersistenceConnectionString is required when Tivo:Orleans:Persistence is AdoNet."]);
        silo.Services.AddAdoNetGrainStorage(PlaybackGrain.StorageName, o =>
        {
            o.Invariant = "Npgsql";
            o.ConnectionString = connectionString;
        });
        silo.Services.AddOptions<AdoNetGrainStorageOptions>(PlaybackGrain.StorageName).Configure<IServiceProvider>(UseSessionRecordSerializer);
        if (orleans.CreatePersistenceSchema)
        {
            silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(
                new SchemaParticipant("persistence", ServiceLifecycleStage.RuntimeInitialize, ct => OrleansPostgreSqlSchema.ApplyAsync(connectionString, ct)));
        }

        return silo;
    }

    /// <summary>
    /// Session records (<see cref="PlaybackRecord"/>) are written with Orleans' serializer and the codecs generated for
    /// them, not the storage providers' default JSON one (Newtonsoft.Json, with type names): a session writes its record at
    /// every control and after every backpressure hold, and at 1,000 sessions under pressure the JSON writes cost the
    /// gateway about 1 µs per delivered event (docs/performance.md, 4 Dec 2026). Records written as JSON by earlier
    /// versions are still read (Orleans' <see cref="GrainStorageSerializer"/> falls back to the default serializer for what
    /// its own cannot read), so a cluster upgraded while sessions play carries them on.
    /// </summary>
    private static void UseSessionRecordSerializer(IStorageProviderSerializerOptions options, IServiceProvider services) =>
        options.GrainStorageSerializer = new GrainStorageSerializer(
            new OrleansGrainStorageSerializer(services.GetRequiredService<Orleans.Serialization.Serializer>()),
            services.GetRequiredService<IGrainStorageSerializer>());

    /// <summary>Creates tables at a lifecycle stage before the provider that needs them initialises.</summary>
    private sealed class SchemaParticipant(string name, int stage, Func<CancellationToken, Task> apply) : ILifecycleParticipant<ISiloLifecycle>
    {
        public void Participate(ISiloLifecycle lifecycle) => lifecycle.Subscribe($"{nameof(SchemaParticipant)}-{name}", stage, apply);
    }

    /// <summary>Registers what Tivo's grains need (options, chunk cache, store, time) without clustering.</summary>
    public static IServiceCollection AddTivoGrainServices(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);
        // Grain timers (and grain-facing delays) on a queue that does not walk every timer whenever one fires
        // (GrainTimerClock); a host that replaced the time provider (a test's fake clock) keeps its own for them.
        services.TryAddSingleton<GrainTimerClock>();
        services.AddKeyedSingleton<TimeProvider>(TimeProviderNames.Grains, static (sp, _) =>
            sp.GetRequiredService<TimeProvider>() is var time && ReferenceEquals(time, TimeProvider.System) ? sp.GetRequiredService<GrainTimerClock>() : time);
        // No silo-wide grain call filter: the grains that call a store translate its failures themselves (StoreFailures), so
        // other grain calls, timer ticks and the gateway's observer pushes go without an invoker object each.
        services.AddOptions<PlaybackOptions>().BindConfiguration(PlaybackOptions.SectionName).ValidateOnStart();
        services.AddOptions<CacheOptions>().BindConfiguration(CacheOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PlaybackOptions>, PlaybackOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CacheOptions>, CacheOptionsValidator>());
        services.TryAddSingleton<ChunkCache>();
        services.TryAddSingleton<Tivo.Grains.Playback.ReplayBudget>();
        services.AddHostedService<MemoryBoundsWarning>(); // the bounds above against the memory the process may use
        services.TryAddSingleton<LocalSessions>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ILifecycleParticipant<ISiloLifecycle>, SessionHandover>());
        services.AddMetrics();
        services.TryAddSingleton<Tivo.Grains.Diagnostics.TivoGrainMetrics>();
        services.ActivateSingleton<Tivo.Grains.Diagnostics.TivoGrainMetrics>(); // the silo's series (at zero) from the first scrape, not at first use
        // The silo's own meter; whoever hosts the silo chooses the exporter (the gateway: Prometheus at /metrics).
        services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter(Tivo.Grains.Diagnostics.TivoGrainMetrics.MeterName));
        services.AddOptions<StoreOptions>().BindConfiguration(StoreOptions.SectionName).ValidateOnStart();

        if (services.Any(d => d.ServiceType == typeof(IEventStore)))
        {
            return services; // a host (or a test) chose its store already
        }

        var errors = new List<string>();
        ConfiguredNames.Check<StoreKind>(configuration.GetSection(StoreOptions.SectionName), nameof(StoreOptions.Kind), errors);
        if (errors.Count > 0)
        {
            throw new OptionsValidationException(StoreOptions.SectionName, typeof(StoreOptions), errors);
        }

        _ = configuration.GetSection(StoreOptions.SectionName).Get<StoreOptions>()?.Kind switch
        {
            StoreKind.PostgreSql => services.AddTivoPostgreSqlStore(),
            StoreKind.Redshift => services.AddTivoRedshiftStore(),
            StoreKind.DynamoDB => services.AddTivoDynamoDBStore(),
            _ => services.AddTivoEmbeddedStore(),
        };
        return services;
    }
}
