using Tivo.GrainInterfaces;
using Tivo.Grains.Playback;
using Xunit;

namespace Tivo.Tests.Playback;

/// <summary>The achieved speed: the speed less the share of the last seconds spent holding for data.</summary>
public sealed class AchievedSpeedMeterTests
{
    private static readonly WallTime T0 = new(new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks);

    private static WallTime At(double seconds) => T0 + TimeSpan.FromSeconds(seconds);

    [Fact]
    public void A_second_of_buffering_in_four_slows_the_session_by_a_quarter()
    {
        var meter = new AchievedSpeedMeter();
        meter.Sample(At(0));
        meter.StartBuffering(At(1));
        meter.Sample(At(1.5));
        Assert.Equal(0, meter.Value(SessionStatus.Buffering, 8));
        meter.EndBuffering(At(2));
        meter.Sample(At(4));
        Assert.Equal(6, meter.Value(SessionStatus.Playing, 8), 9);
    }

    [Fact]
    public void It_forgets_what_is_older_than_its_window()
    {
        var meter = new AchievedSpeedMeter();
        meter.Sample(At(0));
        meter.StartBuffering(At(0));
        meter.EndBuffering(At(1));
        for (var s = 1.0; s <= 12; s += 0.5)
        {
            meter.Sample(At(s));
        }

        Assert.Equal(2, meter.Value(SessionStatus.Playing, 2), 9);
    }

    [Fact]
    public void Without_samples_a_playing_session_goes_at_its_speed_and_a_stopped_one_not_at_all()
    {
        var meter = new AchievedSpeedMeter();
        Assert.Equal(3, meter.Value(SessionStatus.Playing, 3));
        Assert.Equal(0, meter.Value(SessionStatus.Paused, 3));
        Assert.Equal(0, meter.Value(SessionStatus.Stopped, 3));
    }

    [Fact]
    public void A_hold_counts_as_it_passes_back_to_back_holds_extend_it_and_a_control_ends_it()
    {
        var meter = new AchievedSpeedMeter();
        meter.Sample(At(0));
        meter.Hold(At(1), TimeSpan.FromSeconds(1)); // decided ahead: the clock stands still over [1, 2)
        meter.Sample(At(1.5));
        Assert.Equal(2 * (1 - (1 / 2.0)), meter.Value(SessionStatus.Playing, 2), 9); // as it will be by the hold's end

        meter.Hold(At(2), TimeSpan.FromSeconds(1)); // where the last one ends: [1, 3)
        meter.Sample(At(2.5));
        Assert.Equal(2 * (1 - (2 / 3.0)), meter.Value(SessionStatus.Playing, 2), 9);

        meter.EndHold(At(2.5)); // a control re-anchors the clock: the rest of the hold is void
        meter.Sample(At(4));
        Assert.Equal(2 * (1 - (1.5 / 4)), meter.Value(SessionStatus.Playing, 2), 9);
    }
}
