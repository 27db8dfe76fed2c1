using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;
using OpenTelemetry.Metrics;
using Tivo.GrainInterfaces.Hosting;
using Tivo.Grains;
using Tivo.Grains.Caching;
using Tivo.Stores;
using Tivo.Stores.DynamoDB;
using Tivo.Stores.Embedded;
using Tivo.Stores.PostgreSql;

namespace Tivo.Silo.Hosting;

/// <summary>Configures an Orleans silo to run Tivo's grains over the configured store.</summary>
public static class TivoSiloBuilderExtensions
{
    /// <summary>
    /// Adds Tivo's grains, options and the store named by <c>Tivo:Store:Kind</c>, with localhost
    /// clustering on <c>Tivo:Orleans</c> ports and in-memory grain storage.
    /// </summary>
    public static ISiloBuilder AddTivoSilo(this ISiloBuilder silo, IConfiguration configuration)
    {
        var orleans = TivoOrleansOptions.Read(configuration);
        silo.UseLocalhostClustering(orleans.SiloPort, orleans.GatewayPort, serviceId: orleans.ServiceId, clusterId: orleans.ClusterId);
        silo.AddMemoryGrainStorageAsDefault();
        silo.AddTivoSessionStorage(orleans);
        silo.Services.AddTivoGrainServices(configuration);
        return silo;
    }

    /// <summary>
    /// Registers the storage sessions persist to (<see cref="PlaybackGrain.StorageName"/>): memory, or
    /// PostgreSQL through Microsoft.Orleans.Persistence.AdoNet, optionally creating its tables at start.
    /// </summary>
    public static ISiloBuilder AddTivoSessionStorage(this ISiloBuilder silo, TivoOrleansOptions orleans)
    {
        if (orleans.Persistence != PersistenceKind.AdoNet)
        {
            silo.AddMemoryGrainStorage(PlaybackGrain.StorageName);
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
        if (orleans.CreatePersistenceSchema)
        {
            silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(new PersistenceSchemaParticipant(connectionString));
        }

        return silo;
    }

    /// <summary>Creates the persistence tables before storage providers initialise.</summary>
    private sealed class PersistenceSchemaParticipant(string connectionString) : ILifecycleParticipant<ISiloLifecycle>
    {
        public void Participate(ISiloLifecycle lifecycle) =>
            lifecycle.Subscribe(nameof(PersistenceSchemaParticipant), ServiceLifecycleStage.RuntimeInitialize,
                ct => OrleansPostgreSqlSchema.ApplyAsync(connectionString, ct));
    }

    /// <summary>Registers what Tivo's grains need (options, chunk cache, store, time) without clustering.</summary>
    public static IServiceCollection AddTivoGrainServices(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);
        // Store failures leave the silo as StoreUnavailableGrainException (what AddIncomingGrainCallFilter registers).
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IIncomingGrainCallFilter, StoreFailureGrainCallFilter>());
        services.AddOptions<PlaybackOptions>().BindConfiguration(PlaybackOptions.SectionName).ValidateOnStart();
        services.AddOptions<CacheOptions>().BindConfiguration(CacheOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PlaybackOptions>, PlaybackOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CacheOptions>, CacheOptionsValidator>());
        services.TryAddSingleton<ChunkCache>();
        services.AddMetrics();
        services.TryAddSingleton<Tivo.Grains.Diagnostics.TivoGrainMetrics>();
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
