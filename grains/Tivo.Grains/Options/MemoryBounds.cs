using System.Globalization;
using Tivo.Grains.Playback;

namespace Tivo.Grains;

/// <summary>
/// Whether a silo's memory bounds fit the memory its process may use. The chunk cache (<see cref="CacheOptions.MaxBytes"/>),
/// the sessions' replay logs (<see cref="PlaybackOptions.ReplayMemoryLimit"/>) and the pool of emptied log segments that
/// limit allows are each bounded, but their defaults (256 MiB, 1 GiB, 128 MiB) assume a machine, not a container of 1 GiB:
/// there the process runs out of memory under load before any of the bounds acts. Checked once at start
/// (<c>MemoryBoundsWarning</c>); the rest of the memory goes to the sessions, the connections, Orleans and the collector's
/// room to work.
/// </summary>
public static class MemoryBounds
{
    /// <summary>The share of the memory the process may use that the bounds may take together.</summary>
    public const double Share = 0.5;

    /// <summary>The most the bounded parts may hold together: the cache, the replay logs (when bounded) and the segment pool.</summary>
    public static long Bounded(long cacheBytes, long replayLimit) =>
        cacheBytes + Math.Max(0, replayLimit) + ReplayBudget.PoolBytes(replayLimit);

    /// <summary>A warning naming the settings when the bounds take more than <see cref="Share"/> of <paramref name="available"/>
    /// (the runtime's <see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/>: a container's memory limit or <c>GCHeapHardLimit</c>
    /// where there is one, else the machine's memory); null when they fit, or when nothing is known of the memory.</summary>
    public static string? Check(long cacheBytes, long replayLimit, long available)
    {
        var bounded = Bounded(cacheBytes, replayLimit);
        if (available <= 0 || bounded <= available * Share)
        {
            return null;
        }

        var replay = replayLimit > 0
            ? $"Tivo:Playback:ReplayMemoryLimit ({Size(replayLimit)}, with the {Size(ReplayBudget.PoolBytes(replayLimit))} of emptied segments it lets the silo keep)"
            : $"the emptied replay-log segments the silo keeps ({Size(ReplayBudget.PoolBytes(0))}; Tivo:Playback:ReplayMemoryLimit is 0, so the logs themselves have no silo-wide bound)";
        return $"Tivo:Cache:MaxBytes ({Size(cacheBytes)}) and {replay} add up to {Size(bounded)}, more than half of the " +
            $"{Size(available)} this process may use (its container's memory limit, GCHeapHardLimit, or the machine's memory): under load " +
            "it can run out of memory before these bounds act. Lower them (docs/deployment.md, \"Sizing\").";
    }

    /// <summary>Bytes as MiB, or GiB from 1 GiB, as the configuration guide writes them.</summary>
    internal static string Size(long bytes) => bytes >= 1L << 30
        ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024 * 1024):0.#} GiB")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):0.#} MiB");
}
