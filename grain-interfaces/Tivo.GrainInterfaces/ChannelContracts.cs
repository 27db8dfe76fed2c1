using System.Collections.Immutable;

namespace Tivo.GrainInterfaces;

/// <summary>
/// One channel's cache and single-flight gateway to the store. Key: the channel name.
/// Called by <see cref="IPlaybackGrain"/> activations (chunks, histograms) and by the gateway's
/// HTTP routes (histograms).
/// </summary>
[Alias("tivo.IChannelGrain")]
public interface IChannelGrain : IGrainWithStringKey
{
    /// <summary>Returns <paramref name="count"/> consecutive chunks from <paramref name="firstIndex"/>
    /// (at most 1024); chunk i holds the events of Unix seconds <c>[i × ChunkSeconds, (i + 1) × ChunkSeconds)</c>. Missing chunks are read with one store query per contiguous run; chunks
    /// another caller is already reading are shared, never read twice.</summary>
    [Alias("GetChunks")]
    Task<ImmutableArray<ChannelChunk>> GetChunks(long firstIndex, int count);

    /// <summary>Event counts of <c>[fromSecond, toSecond)</c> (Unix seconds) in bins of <paramref name="stepSeconds"/>
    /// whole seconds aligned to <paramref name="fromSecond"/> (each bin's <see cref="HistogramBin.Second"/> is its
    /// first second), nonzero bins only. Binned here, so the answer holds at most one bin per step.</summary>
    [Alias("GetHistogram")]
    Task<ImmutableArray<HistogramBin>> GetHistogram(long fromSecond, long toSecond, int stepSeconds);

    /// <summary>A session following this channel live asks to be told of ingests through Tivo
    /// (<see cref="IPlaybackGrain.OnChannelAppended"/>) for the next two minutes; it renews while it follows.</summary>
    [Alias("WatchLive")]
    Task WatchLive(string sessionId);

    /// <summary>Appends events to the channel in one store write and drops the cached chunks they touch.</summary>
    /// <exception cref="StoreUnavailableGrainException">The store failed; see the message for what was written.</exception>
    /// <exception cref="NotSupportedException">The store does not accept writes for this channel.</exception>
    [Alias("Append")]
    Task<int> Append(ImmutableArray<ChunkEvent> events);

    /// <summary>The last event with <paramref name="notBeforeTicks"/> ≤ ts &lt; <paramref name="beforeTicks"/>,
    /// looking back at most a day; null when there is none. Gives a late joiner its picture.</summary>
    [Alias("GetLatestBefore")]
    Task<ChunkEvent?> GetLatestBefore(long beforeTicks, long notBeforeTicks);

    /// <summary>Counters for tests, the benchmark and operators.</summary>
    [Alias("GetCacheStats")]
    Task<ChannelCacheStats> GetCacheStats();
}

/// <summary>Lists channels with their extents. A stateless worker: every silo answers locally.</summary>
[Alias("tivo.ICatalogGrain")]
public interface ICatalogGrain : IGrainWithIntegerKey
{
    /// <summary>Every channel of the store with its extent, ordered by name.</summary>
    [Alias("ListChannels")]
    Task<ImmutableArray<ChannelSummary>> ListChannels();

    /// <summary>One channel's extent, or null when the store does not have it. A name missing from the
    /// cached list is looked up again in the store, so a channel created by ingest is found at once.</summary>
    [Alias("FindChannel")]
    Task<ChannelSummary?> FindChannel(string name);
}

/// <summary>A second-aligned slice of a channel, shared read-only between sessions.</summary>
[GenerateSerializer, Immutable, Alias("tivo.ChannelChunk")]
public sealed record ChannelChunk(
    [property: Id(0)] string Channel,
    [property: Id(1)] long ChunkIndex,
    [property: Id(2)] long StartTicks,
    [property: Id(3)] long EndTicks,
    [property: Id(4)] ImmutableArray<ChunkEvent> Events,
    [property: Id(5)] long SizeBytes);

/// <summary>One event of a chunk: UTC ticks and the stored payload as raw JSON text.</summary>
[GenerateSerializer, Immutable, Alias("tivo.ChunkEvent")]
public readonly record struct ChunkEvent([property: Id(0)] long Ticks, [property: Id(1)] string Data);

/// <summary>The count of events in one Unix second.</summary>
[GenerateSerializer, Immutable, Alias("tivo.HistogramBin")]
public readonly record struct HistogramBin([property: Id(0)] long Second, [property: Id(1)] int Count);

/// <summary>A channel and its extent (UTC ticks of its first and last event).</summary>
[GenerateSerializer, Immutable, Alias("tivo.ChannelSummary")]
public sealed record ChannelSummary(
    [property: Id(0)] string Name,
    [property: Id(1)] long FirstTicks,
    [property: Id(2)] long LastTicks,
    [property: Id(3)] long Count);

/// <summary>Cache counters of one channel: store queries issued, hits, misses and what is cached.</summary>
[GenerateSerializer, Immutable, Alias("tivo.ChannelCacheStats")]
public sealed record ChannelCacheStats(
    [property: Id(0)] long StoreQueries,
    [property: Id(1)] long Hits,
    [property: Id(2)] long Misses,
    [property: Id(3)] long SharedWaits);

/// <summary>The store failed or could not be reached; the gateway reports it as <c>store_unavailable</c>.</summary>
[GenerateSerializer, Alias("tivo.StoreUnavailableGrainException")]
public sealed class StoreUnavailableGrainException : Exception
{
    public StoreUnavailableGrainException() { }
    public StoreUnavailableGrainException(string message) : base(message) { }
    public StoreUnavailableGrainException(string message, Exception inner) : base(message, inner) { }
}
