using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
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
        var orleans = configuration.GetSection(TivoOrleansOptions.SectionName).Get<TivoOrleansOptions>() ?? new TivoOrleansOptions();
        silo.UseLocalhostClustering(orleans.SiloPort, orleans.GatewayPort, serviceId: orleans.ServiceId, clusterId: orleans.ClusterId);
        silo.AddMemoryGrainStorageAsDefault();
        silo.Services.AddTivoGrainServices(configuration);
        return silo;
    }

    /// <summary>Registers what Tivo's grains need (options, chunk cache, store, time) without clustering.</summary>
    public static IServiceCollection AddTivoGrainServices(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<PlaybackOptions>().BindConfiguration(PlaybackOptions.SectionName).ValidateOnStart();
        services.AddOptions<CacheOptions>().BindConfiguration(CacheOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PlaybackOptions>, PlaybackOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CacheOptions>, CacheOptionsValidator>());
        services.TryAddSingleton<ChunkCache>();
        services.AddOptions<StoreOptions>().BindConfiguration(StoreOptions.SectionName).ValidateOnStart();

        var kind = configuration[$"{StoreOptions.SectionName}:Kind"] ?? StoreKinds.Embedded;
        if (services.Any(d => d.ServiceType == typeof(IEventStore)))
        {
            return services; // a host (or a test) chose its store already
        }

        switch (kind.ToUpperInvariant())
        {
            case "EMBEDDED":
                services.AddTivoEmbeddedStore();
                break;
            case "POSTGRESQL":
                services.AddTivoPostgreSqlStore();
                break;
            case "REDSHIFT":
                services.AddTivoRedshiftStore();
                break;
            case "DYNAMODB":
                services.AddTivoDynamoDBStore();
                break;
            default:
                throw new OptionsValidationException(StoreOptions.SectionName, typeof(StoreOptions),
                    [$"Tivo:Store:Kind is '{kind}'; use one of {string.Join(", ", StoreKinds.All)} (Tivo__Store__Kind)."]);
        }

        return services;
    }
}
