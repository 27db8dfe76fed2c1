using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Tivo.Stores.Embedded;

/// <summary>Registers the embedded SQLite store.</summary>
public static class EmbeddedStoreServiceCollectionExtensions
{
    /// <summary>Adds <see cref="SqliteEventStore"/> as the <see cref="IEventStore"/>, configured from <c>Tivo:Store</c>.</summary>
    public static IServiceCollection AddTivoEmbeddedStore(this IServiceCollection services, Action<EmbeddedStoreOptions>? configure = null)
    {
        var builder = services.AddOptions<EmbeddedStoreOptions>().BindConfiguration(StoreOptions.SectionName).ValidateOnStart();
        if (configure is not null)
        {
            builder.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<EmbeddedStoreOptions>, EmbeddedStoreOptionsValidator>());
        services.TryAddSingleton<SqliteEventStore>();
        services.TryAddSingleton<IEventStore>(sp => sp.GetRequiredService<SqliteEventStore>());
        services.AddHostedService<EmbeddedStoreInitializer>();
        return services;
    }
}
