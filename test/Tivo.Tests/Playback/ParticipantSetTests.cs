using Tivo.GrainInterfaces;
using Tivo.Grains.Playback;
using Xunit;

namespace Tivo.Tests.Playback;

/// <summary>Who watches: joins and renewals, leaving, expiry, the channels a play without names takes, one observer per gateway.</summary>
public sealed class ParticipantSetTests
{
    private static readonly WallTime T0 = new(new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks);

    private sealed class Observer : IPlaybackObserver
    {
        public Task OnBatch(PlaybackBatch batch) => Task.CompletedTask;
    }

    [Fact]
    public void Joins_renewals_and_roles_are_counted_once_per_participant()
    {
        var set = new ParticipantSet();
        var gatewayA = new Observer();
        Assert.True(set.Join("a", gatewayA, T0, ["taxi"], ParticipantRole.Controller));
        Assert.True(set.Join("b", gatewayA, T0, ["sensors", "taxi"], ParticipantRole.Viewer));
        Assert.False(set.Join("a", gatewayA, T0 + TimeSpan.FromSeconds(30), ["taxi"], ParticipantRole.Controller)); // a renewal
        Assert.Equal(2, set.Count);
        Assert.Equal(1, set.Controllers);
        Assert.Single(set.Observers); // one push per gateway, not per participant
        Assert.Equal(["sensors", "taxi"], set.Channels().ToArray());
    }

    [Fact]
    public void The_last_to_leave_starts_the_grace_period_and_a_join_ends_it()
    {
        var set = new ParticipantSet();
        set.Join("a", new Observer(), T0, [], ParticipantRole.Controller);
        set.Join("b", new Observer(), T0, [], ParticipantRole.Viewer);
        Assert.Equal(2, set.Observers.Length);
        Assert.False(set.Leave("a", T0));
        Assert.True(set.Leave("b", T0 + TimeSpan.FromSeconds(1)));
        Assert.Equal(T0 + TimeSpan.FromSeconds(1), set.EmptySince);
        Assert.False(set.Leave("b", T0 + TimeSpan.FromSeconds(2))); // not there any more

        set.Join("c", new Observer(), T0 + TimeSpan.FromSeconds(3), [], ParticipantRole.Viewer);
        Assert.Null(set.EmptySince);
    }

    [Fact]
    public void Participants_that_stop_renewing_expire()
    {
        var set = new ParticipantSet();
        set.Join("old", new Observer(), T0, [], ParticipantRole.Controller);
        set.Join("fresh", new Observer(), T0 + TimeSpan.FromMinutes(1), [], ParticipantRole.Controller);
        Assert.False(set.Expire(T0 + TimeSpan.FromMinutes(2.5), TimeSpan.FromMinutes(2)));
        Assert.Equal(1, set.Count);
        Assert.True(set.Expire(T0 + TimeSpan.FromMinutes(3.5), TimeSpan.FromMinutes(2)));
        Assert.Equal(0, set.Count);
        Assert.Empty(set.Observers);
    }

    [Fact]
    public void A_restored_session_waits_for_participants()
    {
        var set = new ParticipantSet();
        Assert.True(set.ExpectAfterRestore(T0));
        Assert.Equal(T0, set.EmptySince);
    }
}
