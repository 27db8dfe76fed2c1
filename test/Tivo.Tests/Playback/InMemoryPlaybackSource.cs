using System.Collections.Immutable;
using Tivo.GrainInterfaces;
using Tivo.Grains.Caching;
using Tivo.Grains.Playback;

namespace Tivo.Tests.Playback;

/// <summary>Channels held in memory, served as the cluster would: extents, one-second chunks, histograms, last values.
/// <see cref="Failing"/> makes every read throw as a store outage does; <see cref="Fault"/>, any other exception (a silo
/// failing or stopping).</summary>
internal sealed class InMemoryPlaybackSource : IPlaybackSource
{
    public static readonly long Base = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;

    private readonly Dictionary<string, List<ChunkEvent>> _channels = new(StringComparer.Ordinal);

    public ChunkGrid Grid { get; } = new(1);

    public bool Failing { get; set; }

    public Exception? Fault { get; set; }

    public List<(string Channel, long First, int Count)> ChunkReads { get; } = [];

    public List<string> Watched { get; } = [];

    public static long At(double seconds) => Base + (long)Math.Round(seconds * TimeSpan.TicksPerSecond);

    public InMemoryPlaybackSource Add(string channel, params double[] seconds)
    {
        var events = _channels.TryGetValue(channel, out var list) ? list : _channels[channel] = [];
        events.AddRange(seconds.Select(s => new ChunkEvent(At(s), $"{{\"{channel}\":{s.ToString(System.Globalization.CultureInfo.InvariantCulture)}}}")));
        events.Sort((a, b) => a.Ticks.CompareTo(b.Ticks));
        return this;
    }

    public Task<ChannelSummary?> FindChannel(string name)
    {
        Fail();
        return Task.FromResult(_channels.TryGetValue(name, out var e) && e.Count > 0 ? new ChannelSummary(name, e[0].Ticks, e[^1].Ticks, e.Count) : null);
    }

    public Task<IReadOnlyList<string>> ChannelNames() => Task.FromResult<IReadOnlyList<string>>([.. _channels.Keys.Order(StringComparer.Ordinal)]);

    public Task<ImmutableArray<HistogramBin>> GetHistogram(string channel, long fromSecond, long toSecond, int stepSeconds)
    {
        Fail();
        var bins = Events(channel)
            .Select(e => (e.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerSecond)
            .Where(s => s >= fromSecond && s < toSecond)
            .GroupBy(s => fromSecond + (s - fromSecond) / stepSeconds * stepSeconds)
            .Select(g => new HistogramBin(g.Key, g.Count()));
        return Task.FromResult(bins.ToImmutableArray());
    }

    public Task<ImmutableArray<ChannelChunk>> GetChunks(string channel, long firstIndex, int count)
    {
        Fail();
        ChunkReads.Add((channel, firstIndex, count));
        var chunks = Enumerable.Range(0, count).Select(k =>
        {
            var index = firstIndex + k;
            var (from, to) = (Grid.StartOf(index), Grid.EndOf(index));
            return new ChannelChunk(channel, index, from, to, [.. Events(channel).Where(e => e.Ticks >= from && e.Ticks < to)], 0);
        });
        return Task.FromResult(chunks.ToImmutableArray());
    }

    public Task<ChunkEvent?> GetLatestBefore(string channel, long beforeTicks, long notBeforeTicks)
    {
        Fail();
        var latest = Events(channel).LastOrDefault(e => e.Ticks < beforeTicks && e.Ticks >= notBeforeTicks);
        return Task.FromResult<ChunkEvent?>(latest.Data is null ? null : latest);
    }

    public Task WatchLive(string channel, string sessionId)
    {
        Watched.Add(channel);
        return Task.CompletedTask;
    }

    private List<ChunkEvent> Events(string channel) => _channels.TryGetValue(channel, out var e) ? e : [];

    private void Fail()
    {
        if (Fault is { } fault)
        {
            throw fault;
        }

        if (Failing)
        {
            throw new StoreUnavailableGrainException("connection refused");
        }
    }
}
