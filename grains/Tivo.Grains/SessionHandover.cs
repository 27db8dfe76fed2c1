using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Tivo.GrainInterfaces;

namespace Tivo.Grains;

/// <summary>The sessions active on this silo (each <see cref="PlaybackGrain"/> adds itself when activated).</summary>
public sealed class LocalSessions
{
    private readonly ConcurrentDictionary<string, byte> _ids = new(StringComparer.Ordinal);

    public void Add(string sessionId) => _ids[sessionId] = 0;

    public void Remove(string sessionId) => _ids.TryRemove(sessionId, out _);

    public IReadOnlyCollection<string> Ids => [.. _ids.Keys];
}

/// <summary>
/// A silo stopping gracefully (SIGTERM in a rolling update) hands its playing sessions over first, while its messaging
/// still works (once it leaves the Active stage, pushes to gateways start failing): each session writes the last event
/// it handed on, tells its gateways, and deactivates; the gateways call it back at once with the last event they
/// received, and it continues on another silo right after the lower of the two.
/// </summary>
public sealed partial class SessionHandover(LocalSessions sessions, IGrainFactory grains, ILogger<SessionHandover> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(SessionHandover), ServiceLifecycleStage.Active, _ => Task.CompletedTask, HandOverAllAsync);

    private async Task HandOverAllAsync(CancellationToken cancellationToken)
    {
        var ids = sessions.Ids;
        if (ids.Count == 0)
        {
            return;
        }

        LogHandingOver(logger, ids.Count);
        await Task.WhenAll(ids.Select(async id =>
        {
            try
            {
                await grains.GetGrain<IPlaybackGrain>(id).HandOver().WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LogHandOverFailed(logger, id, ex.Message);
            }
        }));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping: handing {Count} session(s) over to other silos")]
    private static partial void LogHandingOver(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {Session} could not be handed over ({Reason}); its gateways will find it silent and call it back")]
    private static partial void LogHandOverFailed(ILogger logger, string session, string reason);
}
