using Tivo.Events;
using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Tivo.GrainInterfaces;
using Tivo.Grains.Caching;
using Tivo.Grains.Diagnostics;
using Tivo.Stores;

namespace Tivo.Grains;

/// <summary>
/// Serves a channel's second-aligned chunks from the silo's <see cref="ChunkCache"/>; on a miss it
/// issues exactly one store query per chunk however many sessions ask at once (single flight).
/// Reentrant so that waiting for one query never blocks requests for other chunks.
/// </summary>
[Reentrant]
public sealed partial class ChannelGrain : Grain, IChannelGrain, IIncomingGrainCallFilter
{
    private readonly IEventStore _store;
    private readonly ChunkCache _cache;
    private readonly ILogger<ChannelGrain> _logger;
    private readonly ChunkGrid _grid;
    private readonly Dictionary<long, Task<ChannelChunk>> _inFlight = new();
    private long _queries, _hits, _misses, _sharedWaits;
    private long _writeVersion;

    /// <summary>Chunks ending less than this before now may still receive events: they are not cached.</summary>
    private static readonly long OpenChunkMarginTicks = 5 * TimeSpan.TicksPerSecond;

    private readonly TimeProvider _time;

    private readonly TivoGrainMetrics _metrics;

    public ChannelGrain(IEventStore store, ChunkCache cache, IOptions<CacheOptions> options, ILogger<ChannelGrain> logger, TimeProvider time, TivoGrainMetrics metrics)
    {
        _metrics = metrics;
        _time = time;
        _store = store;
        _cache = cache;
        _logger = logger;
        _grid = new ChunkGrid(options.Value.ChunkSeconds);
    }

    private string Channel => this.GetPrimaryKeyString();

    /// <summary>A store failure leaves this grain as <see cref="StoreUnavailableGrainException"/>.</summary>
    Task IIncomingGrainCallFilter.Invoke(IIncomingGrainCallContext context) => StoreFailures.TranslateAsync(context, _logger);

    /// <summary>Most chunks one call may ask for.</summary>
    public const int MaxChunksPerCall = 1024;

    public async Task<ImmutableArray<ChannelChunk>> GetChunks(long firstIndex, int count)
    {
        if (count is < 1 or > MaxChunksPerCall)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"Ask for 1 to {MaxChunksPerCall} chunks.");
        }

        var tasks = new Task<ChannelChunk>[count];
        long? runStart = null;
        for (var i = 0; i <= count; i++)
        {
            var index = firstIndex + i;
            var missing = false;
            if (i < count)
            {
                if (_cache.TryGet(Channel, index, out var cached))
                {
                    _hits++;
                    _metrics.CacheHit();
                    tasks[i] = Task.FromResult(cached);
                }
                else if (_inFlight.TryGetValue(index, out var pending))
                {
                    _sharedWaits++;
                    tasks[i] = pending;
                }
                else
                {
                    _misses++;
                    _metrics.CacheMiss();
                    missing = true;
                }
            }

            if (missing)
            {
                runStart ??= index;
            }
            else if (runStart is { } from)
            {
                // One store query for the whole run of missing chunks; each chunk is in flight until it lands.
                var range = LoadRangeAsync(from, (int)(index - from));
                for (var k = from; k < index; k++)
                {
                    var task = Pick(range, (int)(k - from));
                    tasks[k - firstIndex] = task;
                    if (!task.IsCompleted)
                    {
                        _inFlight[k] = task;
                    }
                }

                runStart = null;
            }
        }

        return [.. await Task.WhenAll(tasks)];
    }

    private static async Task<ChannelChunk> Pick(Task<ChannelChunk[]> range, int offset) => (await range)[offset];

    public async Task<ImmutableArray<HistogramBin>> GetHistogram(long fromSecond, long toSecond, int stepSeconds)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stepSeconds, 1);
        var counts = await _store.CountPerSecondAsync(Channel, fromSecond, toSecond, CancellationToken.None);
        if (stepSeconds == 1)
        {
            return [.. counts.Select(c => new HistogramBin(c.Second, c.Count))];
        }

        var bins = new Dictionary<long, int>();
        foreach (var c in counts)
        {
            var bin = fromSecond + (c.Second - fromSecond) / stepSeconds * stepSeconds;
            bins[bin] = checked(bins.GetValueOrDefault(bin) + c.Count);
        }

        return [.. bins.OrderBy(b => b.Key).Select(b => new HistogramBin(b.Key, b.Value))];
    }

    /// <summary>Sessions following this channel live, with when their watch expires (wall ticks).</summary>
    private readonly Dictionary<string, long> _liveWatchers = new(StringComparer.Ordinal);

    /// <summary>How long a live watch lasts without renewal; sessions renew every <see cref="LiveWatchRenewal"/>.</summary>
    public static readonly TimeSpan LiveWatchExpiry = TimeSpan.FromMinutes(2);

    /// <summary>How often a live session renews its watch.</summary>
    public static readonly TimeSpan LiveWatchRenewal = TimeSpan.FromSeconds(30);

    /// <summary>At most this many live watchers per channel (a bound on what one channel's grain holds).</summary>
    private const int MaxLiveWatchers = 10_000;

    public Task WatchLive(string sessionId)
    {
        var now = _time.GetUtcNow().UtcTicks;
        if (_liveWatchers.Count >= MaxLiveWatchers && !_liveWatchers.ContainsKey(sessionId))
        {
            foreach (var expired in _liveWatchers.Where(w => w.Value < now).Select(w => w.Key).ToList())
            {
                _liveWatchers.Remove(expired);
            }
        }

        if (_liveWatchers.Count < MaxLiveWatchers || _liveWatchers.ContainsKey(sessionId))
        {
            _liveWatchers[sessionId] = now + LiveWatchExpiry.Ticks;
        }

        return Task.CompletedTask;
    }

    /// <summary>Tells the sessions following this channel live that events were ingested (one-way calls).</summary>
    private void NotifyLiveWatchers()
    {
        var now = _time.GetUtcNow().UtcTicks;
        List<string>? expired = null;
        foreach (var (session, expires) in _liveWatchers)
        {
            if (expires < now)
            {
                (expired ??= []).Add(session);
                continue;
            }

            _ = GrainFactory.GetGrain<IPlaybackGrain>(session).OnChannelAppended(Channel);
        }

        foreach (var session in expired ?? [])
        {
            _liveWatchers.Remove(session);
        }
    }

    public async Task<int> Append(ImmutableArray<ChunkEvent> events)
    {
        if (events.IsDefaultOrEmpty)
        {
            return 0;
        }

        if (!_store.SupportsAppend)
        {
            throw new NotSupportedException("This store is read-only: Tivo cannot write events to it.");
        }

        try
        {
            _writeVersion++;
            await _store.AppendAsync(Channel, [.. events.Select(e => new StoredEvent(e.Ticks, e.Data))], CancellationToken.None);
        }
        finally
        {
            // Cached chunks that the new events fall into are stale now, and so is any read started before.
            _writeVersion++;
            _cache.Invalidate(Channel, _grid.IndexOf(events.Min(e => e.Ticks)), _grid.IndexOf(events.Max(e => e.Ticks)));
        }

        NotifyLiveWatchers();
        return events.Length;
    }

    public async Task<ChunkEvent?> GetLatestBefore(long beforeTicks, long notBeforeTicks)
    {
        if (beforeTicks <= notBeforeTicks)
        {
            return null;
        }

        var last = _grid.IndexOf(beforeTicks - 1);
        var first = Math.Max(_grid.IndexOf(notBeforeTicks), last - _grid.ChunksPerDay);
        for (var to = last; to >= first; to -= 32)
        {
            var from = Math.Max(first, to - 31);
            var chunks = await GetChunks(from, (int)(to - from + 1));
            for (var k = chunks.Length - 1; k >= 0; k--)
            {
                var events = chunks[k].Events;
                for (var i = events.Length - 1; i >= 0; i--)
                {
                    if (events[i].Ticks < beforeTicks && events[i].Ticks >= notBeforeTicks)
                    {
                        return events[i];
                    }
                }
            }
        }

        return null;
    }

    public Task<ChannelCacheStats> GetCacheStats() =>
        Task.FromResult(new ChannelCacheStats(_queries, _hits, _misses, _sharedWaits));

    private async Task<ChannelChunk[]> LoadRangeAsync(long firstIndex, int count)
    {
        try
        {
            _queries++;
            _metrics.StoreQuery();
            var version = _writeVersion;
            var fromTicks = _grid.StartOf(firstIndex);
            var toTicks = _grid.StartOf(firstIndex + count);
            var builders = new ImmutableArray<ChunkEvent>.Builder?[count];
            var bytes = new long[count];
            var chunkTicks = _grid.TicksPerChunk;
            await foreach (var e in _store.ReadAsync(Channel, fromTicks, toTicks, CancellationToken.None))
            {
                var i = (int)((e.Ticks - fromTicks) / chunkTicks);
                (builders[i] ??= ImmutableArray.CreateBuilder<ChunkEvent>()).Add(new ChunkEvent(e.Ticks, e.Data));
                bytes[i] += MemoryEstimates.ChunkEventBytes(e.Data.Length);
            }

            var chunks = new ChannelChunk[count];
            for (var i = 0; i < count; i++)
            {
                var start = fromTicks + i * chunkTicks;
                chunks[i] = new ChannelChunk(Channel, firstIndex + i, start, start + chunkTicks,
                    builders[i]?.ToImmutable() ?? [], bytes[i] + 128);
                if (version == _writeVersion && chunks[i].EndTicks <= _time.GetUtcNow().UtcTicks - OpenChunkMarginTicks)
                {
                    _cache.Add(chunks[i]);
                }
            }

            return chunks;
        }
        finally
        {
            for (var i = 0; i < count; i++)
            {
                _inFlight.Remove(firstIndex + i);
            }
        }
    }
}

/// <summary>Lists channels from the store, on every silo, cached for two seconds or until events are
/// written through this silo (so an ingest shows in <c>GET /channels</c> at once; writes through other
/// silos, or straight into the store, show within the two seconds).</summary>
[StatelessWorker]
public sealed class CatalogGrain(IEventStore store, TimeProvider time, ChunkCache cache, ILogger<CatalogGrain> logger)
    : Grain, ICatalogGrain, IIncomingGrainCallFilter
{
    /// <summary>A store failure leaves this grain as <see cref="StoreUnavailableGrainException"/>.</summary>
    Task IIncomingGrainCallFilter.Invoke(IIncomingGrainCallContext context) => StoreFailures.TranslateAsync(context, logger);

    private static readonly TimeSpan Freshness = TimeSpan.FromSeconds(2);
    private ImmutableArray<ChannelSummary> _channels;
    private DateTimeOffset _fetchedAt;
    private long _fetchedWrites;

    public Task<ImmutableArray<ChannelSummary>> ListChannels() => LoadAsync(fresh: false);

    public async Task<ChannelSummary?> FindChannel(string name)
    {
        var found = (await LoadAsync(fresh: false)).FirstOrDefault(c => c.Name == name);
        return found ?? (await LoadAsync(fresh: true)).FirstOrDefault(c => c.Name == name);
    }

    private async Task<ImmutableArray<ChannelSummary>> LoadAsync(bool fresh)
    {
        var now = time.GetUtcNow();
        var writes = cache.Writes;
        if (!fresh && !_channels.IsDefault && now - _fetchedAt < Freshness && writes == _fetchedWrites)
        {
            return _channels;
        }

        var list = await store.ListChannelsAsync(CancellationToken.None);
        _channels = [.. list.Select(c => new ChannelSummary(c.Name, c.FirstTicks, c.LastTicks, c.Count))];
        _fetchedAt = now;
        _fetchedWrites = writes;
        return _channels;
    }
}
