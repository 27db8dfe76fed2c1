using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Tivo.Grains;

namespace Tivo.Silo.Hosting;

/// <summary>At start, warns when the silo's memory bounds do not fit the memory its process may use
/// (<see cref="MemoryBounds.Check"/>): the settings are valid, and the silo runs, but under load it would run out of memory
/// before they act.</summary>
internal sealed partial class MemoryBoundsWarning(IOptions<CacheOptions> cache, IOptions<PlaybackOptions> playback, ILogger<MemoryBoundsWarning> logger)
    : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (MemoryBounds.Check(cache.Value.MaxBytes, playback.Value.ReplayMemoryLimit, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes) is { } warning)
        {
            BoundsTooLarge(warning);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Warning}")]
    private partial void BoundsTooLarge(string warning);
}
