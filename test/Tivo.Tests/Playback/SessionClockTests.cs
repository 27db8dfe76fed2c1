using Tivo.GrainInterfaces;
using Tivo.Grains.Playback;
using Xunit;

namespace Tivo.Tests.Playback;

/// <summary>The dilated clock: position ↔ wall time, frozen unless running, clamped or looping, and every move marked for saving.</summary>
public sealed class SessionClockTests
{
    private static readonly WallTime T0 = new(new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks);

    private static SessionClock Playing(double speed, double length = 60, bool loop = false)
    {
        var clock = new SessionClock();
        clock.Configure(length, loop);
        clock.Reanchor(T0, 0, SessionStatus.Playing, speed);
        return clock;
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(60.0)]
    [InlineData(0.25)]
    public void Position_runs_at_speed_and_wall_time_is_its_inverse(double speed)
    {
        var clock = Playing(speed, length: 1e9);
        var later = T0 + TimeSpan.FromSeconds(2);
        Assert.Equal(2 * speed, clock.PositionAt(later), 9);
        Assert.Equal(later, clock.WallAt(2 * speed));
        Assert.Equal(0, clock.PositionAt(T0 - TimeSpan.FromSeconds(1))); // before the anchor, the anchor
    }

    [Fact]
    public void A_paused_clock_is_frozen_and_a_playing_one_stops_at_the_end_unless_looping()
    {
        var clock = Playing(1, length: 10);
        Assert.Equal(10, clock.PositionAt(T0 + TimeSpan.FromSeconds(30)));

        var looping = Playing(1, length: 10, loop: true);
        Assert.Equal(25, looping.PositionAt(T0 + TimeSpan.FromSeconds(25)));
        Assert.Equal(2, looping.PassAt(25));

        clock.SetStatus(SessionStatus.Paused, T0 + TimeSpan.FromSeconds(4));
        Assert.Equal(4, clock.PositionAt(T0 + TimeSpan.FromHours(1)), 9);
        Assert.False(clock.Running);
    }

    [Fact]
    public void Every_reanchor_and_status_change_is_marked_until_saved()
    {
        var clock = Playing(2);
        Assert.True(clock.Changed);
        clock.MarkSaved();
        Assert.False(clock.Changed);

        clock.Reanchor(T0 + TimeSpan.FromSeconds(1), 2, speed: 1);
        Assert.True(clock.Changed);
        Assert.Equal(new ClockAnchor(SessionStatus.Playing, (T0 + TimeSpan.FromSeconds(1)).Ticks, 2, 1), clock.Anchor);

        clock.MarkSaved();
        clock.SetStatus(SessionStatus.Playing, T0);
        Assert.False(clock.Changed); // no change, nothing to save
        clock.SetStatus(SessionStatus.Buffering, T0 + TimeSpan.FromSeconds(2));
        Assert.True(clock.Changed);
    }

    [Fact]
    public void Pausing_at_a_cut_ahead_keeps_the_cut_as_the_anchor()
    {
        var clock = Playing(1);
        var cut = T0 + TimeSpan.FromSeconds(3);
        clock.Reanchor(cut, 3);
        clock.SetStatus(SessionStatus.Paused, T0 + TimeSpan.FromSeconds(2.98));
        Assert.Equal(cut, clock.WallAnchor);
        Assert.Equal(3, clock.PositionAnchor);
    }

    [Fact]
    public void A_restored_anchor_is_taken_as_written_and_not_marked()
    {
        var clock = new SessionClock();
        clock.Configure(60, loop: false);
        clock.Restore(new ClockAnchor(SessionStatus.Playing, T0.Ticks, 5, 2));
        Assert.False(clock.Changed);
        Assert.Equal(7, clock.PositionAt(T0 + TimeSpan.FromSeconds(1)), 9);
    }
}
