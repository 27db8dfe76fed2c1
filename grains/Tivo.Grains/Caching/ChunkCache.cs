using Microsoft.Extensions.Options;
using Tivo.GrainInterfaces;

namespace Tivo.Grains.Caching;

/// <summary>
/// The silo's chunk cache: least-recently-used chunks are evicted once the estimated size exceeds
/// <see cref="CacheOptions.MaxBytes"/>. One instance per silo, shared by its <c>ChannelGrain</c>
/// activations, so the bound holds per silo however many channels are played.
/// </summary>
public sealed class ChunkCache
{
    private readonly long _maxBytes;
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Channel, long Index), LinkedListNode<ChannelChunk>> _map = new();
    private readonly LinkedList<ChannelChunk> _lru = new();
    private long _bytes;

    public ChunkCache(IOptions<CacheOptions> options) => _maxBytes = options.Value.MaxBytes;

    /// <summary>Estimated bytes held now.</summary>
    public long Bytes
    {
        get
        {
            lock (_lock)
            {
                return _bytes;
            }
        }
    }

    /// <summary>Chunks held now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _map.Count;
            }
        }
    }

    /// <summary>The configured bound in bytes.</summary>
    public long MaxBytes => _maxBytes;

    public bool TryGet(string channel, long index, out ChannelChunk chunk)
    {
        lock (_lock)
        {
            if (_map.TryGetValue((channel, index), out var node))
            {
                _lru.Remove(node);
                _lru.AddFirst(node);
                chunk = node.Value;
                return true;
            }
        }

        chunk = null!;
        return false;
    }

    /// <summary>Adds a chunk (a chunk larger than the whole bound is not kept).</summary>
    public void Add(ChannelChunk chunk)
    {
        if (chunk.SizeBytes > _maxBytes)
        {
            return;
        }

        lock (_lock)
        {
            var key = (chunk.Channel, chunk.ChunkIndex);
            if (_map.TryGetValue(key, out var existing))
            {
                _lru.Remove(existing);
                _bytes -= existing.Value.SizeBytes;
            }

            _map[key] = _lru.AddFirst(chunk);
            _bytes += chunk.SizeBytes;
            while (_bytes > _maxBytes && _lru.Last is { } last)
            {
                _lru.RemoveLast();
                _map.Remove((last.Value.Channel, last.Value.ChunkIndex));
                _bytes -= last.Value.SizeBytes;
            }
        }
    }

    /// <summary>Counts writes through this silo (each <see cref="Invalidate"/>): what else caches store
    /// data on the silo (the channel catalog) compares it to know it is stale.</summary>
    public long Writes => Interlocked.Read(ref _writes);

    private long _writes;

    /// <summary>Drops the cached chunks of a channel overlapping [fromIndex, toIndex] (after ingest).</summary>
    public void Invalidate(string channel, long fromIndex, long toIndex)
    {
        Interlocked.Increment(ref _writes);
        lock (_lock)
        {
            // One ingest may span centuries (0001 to 9999 is 3e10 ten-second chunks): walk whichever is smaller,
            // the range or what is cached, so the work stays bounded by the cache whatever the timestamps.
            if (toIndex - fromIndex < _map.Count)
            {
                for (var i = fromIndex; i <= toIndex; i++)
                {
                    Remove((channel, i));
                }
            }
            else
            {
                foreach (var key in _map.Keys.Where(k => k.Channel == channel && k.Index >= fromIndex && k.Index <= toIndex).ToList())
                {
                    Remove(key);
                }
            }
        }
    }

    private void Remove((string Channel, long Index) key)
    {
        if (_map.Remove(key, out var node))
        {
            _lru.Remove(node);
            _bytes -= node.Value.SizeBytes;
        }
    }
}
