using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Tivo.GrainInterfaces;

namespace Tivo.Grains;

/// <summary>The sessions active on this silo (each <see cref="PlaybackGrain"/> adds itself when activated), and where one
/// goes when this silo stops.</summary>
public sealed class LocalSessions(IClusterMembershipService membership, ILocalSiloDetails silo)
{
    private readonly ConcurrentDictionary<string, byte> _ids = new(StringComparer.Ordinal);

    public void Add(string sessionId) => _ids[sessionId] = 0;

    public void Remove(string sessionId) => _ids.TryRemove(sessionId, out _);

    public IReadOnlyCollection<string> Ids => [.. _ids.Keys];

    /// <summary>Another active silo, at random (the sessions leaving one silo spread over the others); null when this is the
    /// only one.</summary>
    public SiloAddress? Successor()
    {
        var others = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active && !m.SiloAddress.Equals(silo.SiloAddress))
            .Select(m => m.SiloAddress)
            .ToArray();
        return others.Length == 0 ? null : others[Random.Shared.Next(others.Length)];
    }

    /// <summary>Moves <paramref name="session"/> to <paramref name="successor"/> once its turn ends — Orleans grain
    /// migration with a placement hint: its record goes along, and messages still reaching this silo are forwarded there
    /// — or just deactivates it when there is no other silo (or it is deactivating already).</summary>
    public static void MoveOrDeactivate(IGrainBase session, SiloAddress? successor)
    {
        if (successor is not null)
        {
            RequestContext.Set(Orleans.Runtime.Placement.IPlacementDirector.PlacementHintKey, successor);
            session.MigrateOnIdle();
        }

        session.DeactivateOnIdle();
    }

    /// <summary>Pushes a handover to a session's gateways once its activation is <paramref name="gone"/> (out of the grain
    /// directory too). Told sooner, the gateways called back while it was still registered: the new activation was
    /// dropped as a duplicate and placed again, 0.2–0.5 s later.</summary>
    public static void AnnounceWhenGone(Task gone, IPlaybackObserver[] gateways, PlaybackBatch handover) =>
        _ = gone.ContinueWith(_ => Array.ForEach(gateways, g => g.OnBatch(handover)), TaskScheduler.Default);
}

/// <summary>
/// A silo stopping gracefully (SIGTERM in a rolling update) hands its playing sessions over first, while its messaging
/// still works (once it leaves the Active stage, pushes to gateways start failing): each session writes the last event
/// it handed on, tells its gateways which silo to continue on, and deactivates; the gateways call it back at once on that
/// silo with the last event they received, and it continues there right after the lowest.
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
