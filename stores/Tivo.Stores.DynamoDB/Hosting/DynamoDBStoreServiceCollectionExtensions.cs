using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Tivo.Stores.DynamoDB;

/// <summary>Registers the DynamoDB store.</summary>
public static class DynamoDBStoreServiceCollectionExtensions
{
    /// <summary>Adds a <see cref="DynamoDBEventStore"/>, configured from <c>Tivo:Store</c>.</summary>
    public static IServiceCollection AddTivoDynamoDBStore(this IServiceCollection services)
    {
        services.AddOptions<DynamoDBStoreOptions>().BindConfiguration(StoreOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DynamoDBStoreOptions>, DynamoDBStoreOptionsValidator>());
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<DynamoDBStoreOptions>>().Value;
            return new DynamoDBEventStore(DynamoDBEventStore.CreateClient(options), options, sp.GetRequiredService<ILogger<DynamoDBEventStore>>());
        });
        services.TryAddSingleton<IEventStore>(sp => sp.GetRequiredService<DynamoDBEventStore>());
        services.AddHostedService<DynamoDBTableInitializer>();
        return services;
    }
}

/// <summary>Creates the table at start when <c>Tivo:Store:CreateTable</c> is true.</summary>
internal sealed class DynamoDBTableInitializer(DynamoDBEventStore store, IOptions<DynamoDBStoreOptions> options) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) =>
        options.Value.CreateTable ? store.CreateTableAsync(cancellationToken) : Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
