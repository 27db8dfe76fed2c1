using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Tivo.GrainInterfaces;
using Tivo.Grains.Caching;
using Tivo.Stores;

namespace Tivo.Grains;

/// <summary>
/// Serves a channel's second-aligned chunks from the silo's <see cref="ChunkCache"/>; on a miss it
/// issues exactly one store query per chunk however many sessions ask at once (single flight).
/// Reentrant so that waiting for one query never blocks requests for other chunks.
/// </summary>
[Reentrant]
public sealed partial class ChannelGrain : Grain, IChannelGrain
{
    private const int EventOverheadBytes = 48;

    private readonly IEventStore _store;
    private readonly ChunkCache _cache;
    private readonly ILogger<ChannelGrain> _logger;
    private readonly int _chunkSeconds;
    private readonly Dictionary<long, Task<ChannelChunk>> _inFlight = new();
    private long _queries, _hits, _misses, _sharedWaits;

    public ChannelGrain(IEventStore store, ChunkCache cache, IOptions<CacheOptions> options, ILogger<ChannelGrain> logger)
    {
        _store = store;
        _cache = cache;
        _logger = logger;
        _chunkSeconds = options.Value.ChunkSeconds;
    }

    private string Channel => this.GetPrimaryKeyString();

    public Task<ChannelChunk> GetChunk(long chunkIndex)
    {
        if (_cache.TryGet(Channel, chunkIndex, out var cached))
        {
            _hits++;
            return Task.FromResult(cached);
        }

        if (_inFlight.TryGetValue(chunkIndex, out var pending))
        {
            _sharedWaits++;
            return pending;
        }

        _misses++;
        var task = LoadAsync(chunkIndex);
        if (!task.IsCompleted)
        {
            _inFlight[chunkIndex] = task;
        }

        return task;
    }

    public async Task<ImmutableArray<HistogramBin>> GetHistogram(long fromSecond, long toSecond)
    {
        try
        {
            var counts = await _store.CountPerSecondAsync(Channel, fromSecond, toSecond, CancellationToken.None);
            return [.. counts.Select(c => new HistogramBin(c.Second, c.Count))];
        }
        catch (StoreUnavailableException ex)
        {
            throw new StoreUnavailableGrainException(ex.Message);
        }
    }

    public Task<ChannelCacheStats> GetCacheStats() =>
        Task.FromResult(new ChannelCacheStats(_queries, _hits, _misses, _sharedWaits));

    private async Task<ChannelChunk> LoadAsync(long chunkIndex)
    {
        try
        {
            _queries++;
            var fromTicks = TimeUtil.TicksOfSecond(chunkIndex * _chunkSeconds);
            var toTicks = TimeUtil.TicksOfSecond((chunkIndex + 1) * _chunkSeconds);
            var events = ImmutableArray.CreateBuilder<ChunkEvent>();
            long bytes = 0;
            await foreach (var e in _store.ReadAsync(Channel, fromTicks, toTicks, CancellationToken.None))
            {
                events.Add(new ChunkEvent(e.Ticks, e.Data));
                bytes += EventOverheadBytes + 2L * e.Data.Length;
            }

            var chunk = new ChannelChunk(Channel, chunkIndex, fromTicks, toTicks, events.ToImmutable(), bytes + 128);
            _cache.Add(chunk);
            return chunk;
        }
        catch (StoreUnavailableException ex)
        {
            LogStoreFailed(_logger, Channel, chunkIndex, ex.Message);
            throw new StoreUnavailableGrainException(ex.Message);
        }
        finally
        {
            _inFlight.Remove(chunkIndex);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Channel {Channel}: chunk {Chunk} could not be read: {Reason}")]
    private static partial void LogStoreFailed(ILogger logger, string channel, long chunk, string reason);
}

/// <summary>Lists channels from the store, cached for two seconds, on every silo.</summary>
[StatelessWorker]
public sealed class CatalogGrain(IEventStore store, TimeProvider time) : Grain, ICatalogGrain
{
    private static readonly TimeSpan Freshness = TimeSpan.FromSeconds(2);
    private ImmutableArray<ChannelSummary> _channels;
    private DateTimeOffset _fetchedAt;

    public async Task<ImmutableArray<ChannelSummary>> ListChannels()
    {
        var now = time.GetUtcNow();
        if (!_channels.IsDefault && now - _fetchedAt < Freshness)
        {
            return _channels;
        }

        try
        {
            var list = await store.ListChannelsAsync(CancellationToken.None);
            _channels = [.. list.Select(c => new ChannelSummary(c.Name, c.FirstTicks, c.LastTicks, c.Count))];
            _fetchedAt = now;
            return _channels;
        }
        catch (StoreUnavailableException ex)
        {
            throw new StoreUnavailableGrainException(ex.Message);
        }
    }
}
