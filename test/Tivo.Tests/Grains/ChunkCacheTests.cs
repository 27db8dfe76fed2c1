using Microsoft.Extensions.Options;
using Tivo.GrainInterfaces;
using Tivo.Grains;
using Tivo.Grains.Caching;
using Xunit;

namespace Tivo.Tests.Grains;

/// <summary>The silo's chunk cache stays within its byte bound and evicts the least recently used chunk.</summary>
public sealed class ChunkCacheTests
{
    private const long Mib = 1024 * 1024;

    [Fact]
    public void Evicts_least_recently_used_chunks_to_stay_within_the_byte_bound()
    {
        var cache = new ChunkCache(Options.Create(new CacheOptions { MaxBytes = 3 * Mib }));
        for (var i = 0; i < 3; i++)
        {
            cache.Add(Chunk("a", i, Mib));
        }

        Assert.True(cache.TryGet("a", 0, out _)); // 0 is now the most recently used
        cache.Add(Chunk("b", 0, Mib));

        Assert.Equal(3 * Mib, cache.Bytes);
        Assert.True(cache.TryGet("a", 0, out _));
        Assert.False(cache.TryGet("a", 1, out _)); // the least recently used went
        Assert.True(cache.TryGet("a", 2, out _));
        Assert.True(cache.TryGet("b", 0, out _));

        // A sweep far larger than the bound never holds more than the bound.
        for (var i = 0; i < 100; i++)
        {
            cache.Add(Chunk("sweep", i, Mib / 2));
            Assert.True(cache.Bytes <= cache.MaxBytes);
        }

        Assert.Equal(6, cache.Count);
    }

    [Fact]
    public void Invalidating_a_range_of_centuries_is_bounded_by_what_is_cached()
    {
        // An ingest with events in 0001 and 9999 spans 3e10 ten-second chunks: walking them all hung a grain
        // (and the cache's lock) for good. The fuzzer found it.
        var cache = new ChunkCache(Options.Create(new CacheOptions { MaxBytes = 3 * Mib }));
        cache.Add(Chunk("a", 5, Mib / 4));
        cache.Add(Chunk("a", 6, Mib / 4));
        cache.Add(Chunk("b", 5, Mib / 4));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        cache.Invalidate("a", -62_135_596_800L / 10, 253_402_300_799L / 10);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        Assert.False(cache.TryGet("a", 5, out _));
        Assert.False(cache.TryGet("a", 6, out _));
        Assert.True(cache.TryGet("b", 5, out _));
        Assert.Equal(Mib / 4, cache.Bytes);
    }

    [Fact]
    public void A_chunk_larger_than_the_whole_cache_is_served_but_not_kept()
    {
        var cache = new ChunkCache(Options.Create(new CacheOptions { MaxBytes = 2 * Mib }));
        cache.Add(Chunk("a", 0, 3 * Mib));
        Assert.False(cache.TryGet("a", 0, out _));
        Assert.Equal(0, cache.Bytes);
    }

    private static ChannelChunk Chunk(string channel, long index, long bytes) => new(channel, index, index * 10, index * 10 + 10, [], bytes);
}
