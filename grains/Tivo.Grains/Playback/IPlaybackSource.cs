using System.Collections.Immutable;
using Tivo.GrainInterfaces;

namespace Tivo.Grains.Playback;

/// <summary>
/// What a session reads from the rest of the cluster: the catalog, channel histograms, chunks and last values,
/// and live notices. The grain passes <see cref="GrainPlaybackSource"/>; the session's parts are tested against
/// an in-memory one, without a cluster.
/// </summary>
internal interface IPlaybackSource
{
    /// <summary>The channel's extent, or null when no such channel exists.</summary>
    Task<ChannelSummary?> FindChannel(string name);

    /// <summary>Every channel's name, for an unknown-channel error.</summary>
    Task<IReadOnlyList<string>> ChannelNames();

    Task<ImmutableArray<HistogramBin>> GetHistogram(string channel, long fromSecond, long toSecond, int stepSeconds);

    Task<ImmutableArray<ChannelChunk>> GetChunks(string channel, long firstIndex, int count);

    Task<ChunkEvent?> GetLatestBefore(string channel, long beforeTicks, long notBeforeTicks);

    /// <summary>Asks the channel to notify <paramref name="sessionId"/> of ingests for a while.</summary>
    Task WatchLive(string channel, string sessionId);
}

internal static class PlaybackSourceExtensions
{
    /// <summary>Each channel's last event before <paramref name="before"/> and not before <paramref name="windowStart"/>, as
    /// snapshot events released at <paramref name="release"/>: what a chart of last-known values needs after a join or a
    /// seek. A channel whose store is away is left out; the stream itself is unaffected.</summary>
    public static async Task<List<SessionEvent>> LastValuesAsync(this IPlaybackSource source, IEnumerable<string> channels, StreamTime before,
        StreamTime windowStart, WallTime release, Func<long> nextOrder)
    {
        var snapshot = new List<SessionEvent>();
        foreach (var channel in channels)
        {
            try
            {
                if (await source.GetLatestBefore(channel, before.Ticks, windowStart.Ticks) is { } latest)
                {
                    snapshot.Add(new SessionEvent(channel, latest.Ticks, 0, release.Ticks, nextOrder(), latest.Data, Snapshot: true));
                }
            }
            catch (StoreUnavailableGrainException)
            {
            }
        }

        return snapshot;
    }
}

/// <summary>The cluster as a session sees it: the catalog grain and the channels' grains.</summary>
internal sealed class GrainPlaybackSource(IGrainFactory grains) : IPlaybackSource
{
    public Task<ChannelSummary?> FindChannel(string name) => grains.GetGrain<ICatalogGrain>(0).FindChannel(name);

    public async Task<IReadOnlyList<string>> ChannelNames() =>
        [.. (await grains.GetGrain<ICatalogGrain>(0).ListChannels()).Select(c => c.Name)];

    public Task<ImmutableArray<HistogramBin>> GetHistogram(string channel, long fromSecond, long toSecond, int stepSeconds) =>
        grains.GetGrain<IChannelGrain>(channel).GetHistogram(fromSecond, toSecond, stepSeconds);

    public Task<ImmutableArray<ChannelChunk>> GetChunks(string channel, long firstIndex, int count) =>
        grains.GetGrain<IChannelGrain>(channel).GetChunks(firstIndex, count);

    public Task<ChunkEvent?> GetLatestBefore(string channel, long beforeTicks, long notBeforeTicks) =>
        grains.GetGrain<IChannelGrain>(channel).GetLatestBefore(beforeTicks, notBeforeTicks);

    public Task WatchLive(string channel, string sessionId) => grains.GetGrain<IChannelGrain>(channel).WatchLive(sessionId);
}
