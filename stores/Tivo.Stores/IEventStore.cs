using Tivo.Events;

namespace Tivo.Stores;

/// <summary>
/// The one contract every backing store implements. The silo's <c>ChannelGrain</c> is its only
/// caller during playback (one query per chunk, single flight); the catalog and the gateway's
/// HTTP routes reach it through grains as well.
/// </summary>
/// <remarks>
/// Times are UTC ticks (100 ns since 0001-01-01), so no precision is lost between stores.
/// Windows are half-open: an event at exactly <c>toTicks</c> belongs to the next window.
/// </remarks>
public interface IEventStore
{
    /// <summary>Reads the events of <paramref name="channel"/> with <c>fromTicks ≤ ts &lt; toTicks</c>,
    /// in time order, ties in insertion order. An unknown channel yields no events.</summary>
    IAsyncEnumerable<StoredEvent> ReadAsync(string channel, long fromTicks, long toTicks, CancellationToken cancellationToken);

    /// <summary>Lists every channel with its extent and event count.</summary>
    Task<IReadOnlyList<ChannelExtent>> ListChannelsAsync(CancellationToken cancellationToken);

    /// <summary>Counts events per whole second of <c>[fromSecond, toSecond)</c> (Unix seconds).
    /// Only seconds that hold at least one event are returned, in ascending order.</summary>
    Task<IReadOnlyList<SecondCount>> CountPerSecondAsync(string channel, long fromSecond, long toSecond, CancellationToken cancellationToken);

    /// <summary>True when <see cref="AppendAsync"/> is supported by this backend.</summary>
    bool SupportsAppend { get; }

    /// <summary>Appends events to a channel in one transaction: either all are stored or none.</summary>
    /// <exception cref="NotSupportedException">The backend is read-only.</exception>
    Task AppendAsync(string channel, IReadOnlyList<StoredEvent> events, CancellationToken cancellationToken);
}

/// <summary>A channel and the time span its events cover (first and last timestamps, UTC ticks).</summary>
public sealed record ChannelExtent(string Name, long FirstTicks, long LastTicks, long Count);

/// <summary>The number of events in one whole second (Unix seconds, UTC).</summary>
public readonly record struct SecondCount(long Second, int Count);

/// <summary>Raised when a store cannot be reached or fails a query; surfaces as <c>store_unavailable</c>.</summary>
public sealed class StoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The store's configuration does not match what the backend holds (a mapped table or column that
/// does not exist): found at start, with a message naming the setting to fix.</summary>
public sealed class StoreConfigurationException(string message) : Exception(message);
