using System.Collections.Immutable;
using Tivo.GrainInterfaces;

namespace Tivo.Grains.Playback;

/// <summary>
/// Who watches a session: each participant's observer (one per gateway, shared by its participants), role,
/// channels and last renewal. Participants that stop renewing expire. Knows when the set became empty, which
/// starts the session's grace period.
/// </summary>
internal sealed class ParticipantSet
{
    private readonly Dictionary<string, Participant> _participants = new(StringComparer.Ordinal);
    private IPlaybackObserver[]? _observers;

    public int Count => _participants.Count;

    public int Controllers => _participants.Values.Count(p => p.Role == ParticipantRole.Controller);

    /// <summary>When the last participant left, or null while anyone is here (or nobody ever came).</summary>
    public WallTime? EmptySince { get; private set; }

    /// <summary>The distinct observers, derived on the first push after the set changes, not on every push.</summary>
    public IPlaybackObserver[] Observers => _observers ??= [.. _participants.Values.Select(p => p.Observer).Distinct()];

    /// <summary>Adds or renews a participant; true when it is new.</summary>
    public bool Join(string id, IPlaybackObserver observer, WallTime now, ImmutableArray<string> channels, ParticipantRole role)
    {
        var isNew = !_participants.ContainsKey(id);
        _participants[id] = new Participant(observer, now, channels.IsDefault ? [] : channels, role);
        _observers = null;
        EmptySince = null;
        return isNew;
    }

    /// <summary>Removes a participant; true when that left the set empty.</summary>
    public bool Leave(string id, WallTime now)
    {
        _observers = null;
        return _participants.Remove(id) && BecameEmpty(now);
    }

    /// <summary>Removes participants not renewed within <paramref name="expiry"/>; true when that left the set empty.</summary>
    public bool Expire(WallTime now, TimeSpan expiry)
    {
        List<string>? expired = null;
        foreach (var (id, participant) in _participants)
        {
            if (now - participant.LastSeen > expiry)
            {
                (expired ??= []).Add(id);
            }
        }

        foreach (var id in expired ?? [])
        {
            _participants.Remove(id);
            _observers = null;
        }

        return expired is not null && EmptySince is null && BecameEmpty(now);
    }

    /// <summary>A session restored on a new silo starts with nobody; true when it must wait for them.</summary>
    public bool ExpectAfterRestore(WallTime now) => _participants.Count == 0 && BecameEmpty(now);

    /// <summary>Every channel the participants connected with, distinct and in ordinal order (a play naming none).</summary>
    public ImmutableArray<string> Channels() =>
        [.. _participants.Values.SelectMany(p => p.Channels).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    private bool BecameEmpty(WallTime now)
    {
        if (_participants.Count > 0)
        {
            return false;
        }

        EmptySince = now;
        return true;
    }

    private sealed record Participant(IPlaybackObserver Observer, WallTime LastSeen, ImmutableArray<string> Channels, ParticipantRole Role);
}
