using Tivo.GrainInterfaces;
using Tivo.Grains;
using Tivo.Grains.Playback;
using Xunit;
using static Tivo.Tests.Playback.InMemoryPlaybackSource;

namespace Tivo.Tests.Playback;

/// <summary>A play checked and built once: every refusal names its reason; an accepted plan maps stream time to position.</summary>
public sealed class SessionPlanTests
{
    private static readonly PlaybackOptions Options = new();
    private static readonly WallTime Now = new(new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks);

    private readonly InMemoryPlaybackSource _source = new InMemoryPlaybackSource().Add("taxi", 0, 1, 2, 9.5).Add("sensors", 0.5, 3);

    private static PlayRequest Play(string[] channels, long? start, long? end, double speed = 1, bool loop = false, double? duration = null, double? rate = null) =>
        new([.. channels], start, end, speed, loop, duration, rate, null);

    [Fact]
    public async Task A_window_without_times_is_the_channels_extent()
    {
        var (plan, error) = await SessionPlan.CreateAsync(Play(["taxi", "sensors", "taxi"], null, At(10)), _source, Options, Now);
        Assert.Null(error);
        Assert.Equal(["taxi", "sensors"], plan!.Channels.ToArray()); // distinct, in the order asked
        Assert.Equal(new StreamTime(At(0)), plan.WindowStart);
        Assert.Equal(10, plan.Length, 9);
        Assert.Equal(new StreamTime(At(4)), plan.StreamAt(4));
        Assert.Equal(14, plan.PositionOf(new StreamTime(At(4)), pass: 1), 9);
    }

    [Fact]
    public async Task A_loop_folds_positions_into_the_window()
    {
        var (plan, _) = await SessionPlan.CreateAsync(Play(["taxi"], At(0), At(10), loop: true), _source, Options, Now);
        Assert.Equal(new StreamTime(At(3)), plan!.StreamAt(23));
        Assert.Null(plan.SeekError(new StreamTime(At(9.9))));
        Assert.Contains("outside the window", plan.SeekError(new StreamTime(At(10))), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Duration_fits_the_window_into_that_many_seconds()
    {
        var (plan, _) = await SessionPlan.CreateAsync(Play(["taxi"], At(0), At(10), duration: 2), _source, Options, Now);
        Assert.Equal(2, plan!.Length, 9);
        Assert.Equal(new StreamTime(At(5)), plan.StreamAt(1));
    }

    [Theory]
    [InlineData("unknown", "Unknown channel 'nope'. Known channels: sensors, taxi.")]
    [InlineData("empty", "The window is empty")]
    [InlineData("live loop", "Without an end, play follows live data")]
    [InlineData("speed", "speed 0 is out of range")]
    [InlineData("loop pass", "a loop pass must last at least 0.25 s (Tivo:Playback:MinLoopPass)")]
    [InlineData("paced window", "rate and maxGap pace windows of at most 31 days (Tivo:Playback:MaxPacedWindow)")]
    [InlineData("no channel", "No channel to play")]
    public async Task Refusals_name_what_is_wrong(string problem, string expected)
    {
        var request = problem switch
        {
            "unknown" => Play(["taxi", "nope"], At(0), At(10)),
            "empty" => Play(["taxi"], At(5), At(5)),
            "live loop" => Play(["taxi"], At(0), null, loop: true),
            "speed" => Play(["taxi"], At(0), At(10), speed: 0),
            "loop pass" => Play(["taxi"], At(0), At(1), speed: 10, loop: true),
            "paced window" => Play(["taxi"], At(0), At(0) + TimeSpan.FromDays(40).Ticks, rate: 5),
            _ => Play([], At(0), At(10)),
        };
        var (plan, error) = await SessionPlan.CreateAsync(request, _source, Options, Now);
        Assert.Null(plan);
        Assert.Contains(expected, error!.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(problem == "unknown" ? ErrorCodes.UnknownChannel : ErrorCodes.BadRequest, error.ErrorCode);
    }

    [Fact]
    public async Task A_store_outage_is_store_unavailable()
    {
        _source.Failing = true;
        var (_, error) = await SessionPlan.CreateAsync(Play(["taxi"], At(0), At(10)), _source, Options, Now);
        Assert.Equal(ErrorCodes.StoreUnavailable, error!.ErrorCode);
        Assert.Contains("connection refused", error.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_live_plan_starts_now_and_has_a_century_ahead()
    {
        var (plan, _) = await SessionPlan.CreateAsync(Play(["taxi"], null, null), _source, Options, Now);
        Assert.True(plan!.Live);
        Assert.Equal(Now.Ticks, plan.WindowStart.Ticks);
        Assert.Equal(Now.Ticks + SessionPlan.LiveHorizonTicks, plan.WindowEnd.Ticks);
    }

    [Fact]
    public async Task A_persisted_spec_rebuilds_the_same_plan()
    {
        var (plan, _) = await SessionPlan.CreateAsync(Play(["taxi"], At(0), At(10), rate: 1), _source, Options, Now);
        var rebuilt = await SessionPlan.BuildAsync(plan!.Spec, _source);
        Assert.Equal(plan.Length, rebuilt.Length, 9);
        Assert.Equal(plan.StreamAt(2.5), rebuilt.StreamAt(2.5));
    }
}
