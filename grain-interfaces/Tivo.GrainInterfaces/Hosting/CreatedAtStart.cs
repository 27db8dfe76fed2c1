using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Tivo.GrainInterfaces.Hosting;

/// <summary>Resolves a singleton when the host starts rather than at its first use (the container makes singletons
/// lazily): e.g. a metrics class, so its series are exported from the first scrape.</summary>
/// <typeparam name="T">The singleton to make.</typeparam>
public sealed class CreatedAtStart<T> : IHostedService
    where T : class
{
    /// <summary>Taking <paramref name="instance"/> is the point: the container makes it to start this service.</summary>
    public CreatedAtStart(T instance) => ArgumentNullException.ThrowIfNull(instance);

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Registration of <see cref="CreatedAtStart{T}"/>.</summary>
public static class CreatedAtStartExtensions
{
    /// <summary>Makes the registered singleton <typeparamref name="T"/> when the host starts (once, however often called).</summary>
    public static IServiceCollection CreateAtStart<T>(this IServiceCollection services)
        where T : class
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, CreatedAtStart<T>>());
        return services;
    }
}
