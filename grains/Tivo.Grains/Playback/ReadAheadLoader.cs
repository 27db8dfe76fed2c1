using Microsoft.Extensions.Logging;
using Tivo.GrainInterfaces;

namespace Tivo.Grains.Playback;

/// <summary>
/// Keeps a session's <see cref="ReadAheadBuffer"/> filled: the first read of a play (awaited by the control), then
/// a background loop while the loaded edge is within the read-ahead. A store that fails is retried with backoff
/// (<see cref="PlaybackOptions.StoreRetryDelay"/> doubling to <see cref="PlaybackOptions.StoreRetryMaxDelay"/>)
/// while the clock waits; at the live edge the newest chunk is read again when a channel says it was appended
/// to, or after <see cref="PlaybackOptions.LivePollInterval"/>. Runs on the grain's scheduler, so it interleaves
/// with the grain's calls only at its awaits; a load of an older buffer generation is dropped.
/// </summary>
internal sealed partial class ReadAheadLoader(
    string sessionId, ReadAheadBuffer buffer, SessionClock clock, IPlaybackSource source, PlaybackOptions options,
    TimeProvider time, ILogger logger, Action onLiveData, Action<string> onStoreFailing)
{
    /// <summary>How long a live session asks its channels for notices before asking again.</summary>
    public static readonly TimeSpan LiveWatchRenewal = ChannelGrain.LiveWatchRenewal;

    private Task? _loop;
    private TaskCompletionSource? _liveAppended;
    private WallTime _liveWatchRenewedAt = new(long.MinValue / 2);

    /// <summary>The last read failed; the clock must not leave buffering until one succeeds.</summary>
    public bool StoreFailing { get; private set; }

    private WallTime Now => new(time.GetUtcNow().UtcTicks);

    /// <summary>Forgets the loop of the previous buffer generation (it ends by itself at its next await).</summary>
    public void Reset()
    {
        _loop = null;
        StoreFailing = false;
    }

    /// <summary>Reads the first batch of chunks; a failure is the control's answer.</summary>
    public async Task<ControlResult?> LoadFirstAsync()
    {
        var generation = buffer.Generation;
        try
        {
            var segments = await buffer.FetchAsync(buffer.BatchSize(clock, Now, options.ReadAhead), Now);
            if (generation == buffer.Generation)
            {
                segments.ForEach(buffer.Append);
            }

            return null;
        }
        catch (StoreUnavailableGrainException ex)
        {
            return SessionPlan.StoreUnavailable(ex);
        }
        catch (Exception ex) when (IsClusterFault(ex))
        {
            LogReadFailed(logger, sessionId, ex.Message);
            return SessionPlan.ReadFailed(ex);
        }
    }

    /// <summary>A read failed on its way through the cluster (the channel's silo died or is stopping, or the call timed
    /// out): transient like a store outage — the session holds its clock and reads again — but not one to tell clients of.</summary>
    private static bool IsClusterFault(Exception ex) => ex is OrleansException or TimeoutException;

    /// <summary>Starts the background loop when the loaded edge is closer than the read-ahead.</summary>
    public void Ensure(WallTime now)
    {
        if (_loop is not { IsCompleted: false } && clock.Active && buffer.NeedsMore(clock, now, options.ReadAhead))
        {
            _loop = LoadAheadAsync(buffer.Generation);
        }
    }

    /// <summary>A channel the session follows live was appended to: read it now.</summary>
    public void Appended() => _liveAppended?.TrySetResult();

    private async Task LoadAheadAsync(int generation)
    {
        var delay = options.StoreRetryDelay;
        while (generation == buffer.Generation && clock.Active && buffer.NeedsMore(clock, Now, options.ReadAhead))
        {
            try
            {
                var segments = await buffer.FetchAsync(buffer.BatchSize(clock, Now, options.ReadAhead), Now);
                if (generation != buffer.Generation)
                {
                    return;
                }

                if (StoreFailing)
                {
                    StoreFailing = false;
                    LogStoreRecovered(logger, sessionId);
                }

                segments.ForEach(buffer.Append);
                delay = options.StoreRetryDelay;
                if (buffer.AtLiveEdge)
                {
                    onLiveData(); // what the read found is handed on now, not at the next tick: it is due already
                    await WaitForLiveDataAsync(buffer.Channels);
                }
            }
            catch (Exception ex) when (ex is StoreUnavailableGrainException || IsClusterFault(ex))
            {
                if (generation != buffer.Generation)
                {
                    return;
                }

                if (ex is not StoreUnavailableGrainException)
                {
                    LogReadFailed(logger, sessionId, ex.Message); // the cluster, not the store: nothing to tell clients
                }
                else if (!StoreFailing)
                {
                    StoreFailing = true;
                    LogStoreFailing(logger, sessionId, ex.Message);
                    onStoreFailing($"The event store is unavailable ({ex.Message}); playback waits and carries on once it is back.");
                }

                await Task.Delay(delay, time);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, options.StoreRetryMaxDelay.Ticks));
            }
        }
    }

    /// <summary>At the live edge, waits until the newest chunk should be read again: at once when a channel's grain
    /// says events were ingested through Tivo, else after the poll interval (for rows written straight into the store).</summary>
    private async Task WaitForLiveDataAsync(IEnumerable<string> channels)
    {
        var now = Now;
        if (now - _liveWatchRenewedAt >= LiveWatchRenewal)
        {
            _liveWatchRenewedAt = now;
            await Task.WhenAll(channels.Select(c => source.WatchLive(c, sessionId)));
        }

        var appended = _liveAppended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var poll = new CancellationTokenSource();
        await Task.WhenAny(appended.Task, Task.Delay(options.LivePollInterval, time, poll.Token));
        await poll.CancelAsync(); // a notice came first: drop the poll's timer rather than leave one per ingest
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {Session}: store unavailable ({Reason}); holding the clock and retrying")]
    private static partial void LogStoreFailing(ILogger logger, string session, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {Session}: reading events through the cluster failed ({Reason}); reading again shortly")]
    private static partial void LogReadFailed(ILogger logger, string session, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {Session}: store is back; playback carries on")]
    private static partial void LogStoreRecovered(ILogger logger, string session);
}
