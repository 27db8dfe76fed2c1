using Tivo.Events;
using System.Collections.Immutable;
using System.Globalization;
using Tivo.GrainInterfaces;
using Tivo.Grains.Pacing;

namespace Tivo.Grains.Playback;

/// <summary>What a play asked for, as persisted: enough to rebuild the <see cref="SessionPlan"/> on another silo.</summary>
[GenerateSerializer, Immutable, Alias("tivo.PlanSpec")]
public sealed record PlanSpec(
    [property: Id(0)] ImmutableArray<string> Channels,
    [property: Id(1)] long WindowStart,
    [property: Id(2)] long WindowEnd,
    [property: Id(3)] bool Live,
    [property: Id(4)] bool Loop,
    [property: Id(5)] double? Duration,
    [property: Id(6)] double? Rate,
    [property: Id(7)] double? MaxGap,
    [property: Id(8)] double LeadMs = 0);

/// <summary>
/// What a session plays: channels, window, live or not, loop, and the pacing <see cref="Warp"/> that maps stream
/// time to playback position. Built and validated once per play (<see cref="CreateAsync"/>): a refused play
/// changes nothing, and an adopted plan never changes until the next play.
/// </summary>
internal sealed class SessionPlan(PlanSpec spec, Warp warp)
{
    /// <summary>A live window's nominal end: a century after its start.</summary>
    public const long LiveHorizonTicks = 100 * 365 * TimeSpan.TicksPerDay;

    public PlanSpec Spec { get; } = spec;

    public Warp Warp { get; } = warp;

    public ImmutableArray<string> Channels => Spec.Channels;

    public StreamTime WindowStart => new(Spec.WindowStart);

    public StreamTime WindowEnd => new(Spec.WindowEnd);

    public bool Live => Spec.Live;

    public bool Loop => Spec.Loop;

    /// <summary>Playback seconds of one pass.</summary>
    public double Length => Warp.Length;

    /// <summary>The stream time at a playback position, folding loop passes into the window.</summary>
    public StreamTime StreamAt(double position)
    {
        var within = Loop && Length > 0 ? position - Math.Floor(position / Length) * Length : position;
        return new(Warp.ToTicks(within));
    }

    /// <summary>The playback position of stream time <paramref name="time"/> in loop pass <paramref name="pass"/>.</summary>
    public double PositionOf(StreamTime time, int pass = 0) => pass * Length + Warp.ToPosition(time.Ticks);

    /// <summary>Null when <paramref name="time"/> is inside the window; else why a seek there is refused.</summary>
    public string? SeekError(StreamTime time) => time.Ticks >= Spec.WindowStart && time.Ticks < Spec.WindowEnd
        ? null
        : $"Cannot seek to {time}: it is outside the window [{WindowStart}, {WindowEnd}).";

    /// <summary>Null when this plan may play at <paramref name="speed"/>; else why not (out of range, or a loop pass too short).</summary>
    public string? SpeedChangeError(PlaybackOptions options, double speed) =>
        SpeedError(options, speed) ?? (Loop ? PlaybackLimits.LoopPassError(options, Length, speed) : null);

    /// <summary>Null when <paramref name="speed"/> is allowed; else why not.</summary>
    public static string? SpeedError(PlaybackOptions options, double speed)
    {
        if (double.IsNaN(speed) || double.IsInfinity(speed))
        {
            return "speed must be a finite number.";
        }

        var c = CultureInfo.InvariantCulture;
        return speed >= options.MinSpeed && speed <= options.MaxSpeed
            ? null
            : $"speed {speed.ToString(c)} is out of range: use a value from {options.MinSpeed.ToString(c)} to {options.MaxSpeed.ToString(c)} (1 = real time).";
    }

    /// <summary>Checks a play and builds its plan; every refusal is a <see cref="ControlResult"/> naming the problem.
    /// <paramref name="request"/> names its channels (the session fills them from its participants first).</summary>
    public static async Task<(SessionPlan? Plan, ControlResult? Error)> CreateAsync(
        PlayRequest request, IPlaybackSource source, PlaybackOptions options, WallTime now)
    {
        if (request.Channels.IsDefaultOrEmpty)
        {
            return Fail(ErrorCodes.BadRequest, "No channel to play: connect with ?channel=NAME (or /channels/NAME) or send \"channels\": [\"NAME\"] with play.");
        }

        if (SpeedError(options, request.Speed) is { } speedError)
        {
            return Fail(ErrorCodes.BadRequest, speedError);
        }

        var channels = request.Channels.Distinct(StringComparer.Ordinal).ToImmutableArray();
        var extents = new List<ChannelSummary>();
        try
        {
            foreach (var name in channels)
            {
                if (await source.FindChannel(name) is not { } extent)
                {
                    return Fail(ErrorCodes.UnknownChannel,
                        $"Unknown channel '{name}'. Known channels: {string.Join(", ", await source.ChannelNames())}. GET /channels lists them.");
                }

                extents.Add(extent);
            }
        }
        catch (StoreUnavailableGrainException ex)
        {
            return (null, StoreUnavailable(ex));
        }

        var live = request.EndTicks is null;
        if (live && (request.Loop || request.DurationSeconds is not null || request.Rate is not null || request.MaxGapSeconds is not null))
        {
            return Fail(ErrorCodes.BadRequest,
                "Without an end, play follows live data, which has no length yet: loop, duration, rate and maxGap need an end.");
        }

        var start = request.StartTicks ?? (live ? now.Ticks : extents.Min(e => e.FirstTicks));
        var end = request.EndTicks ?? Math.Min(start + LiveHorizonTicks, TimeUtil.MaxTicks);
        if (end <= start)
        {
            return Fail(ErrorCodes.BadRequest,
                $"The window is empty: end ({TimeUtil.ToIso(end)}) must be after start ({TimeUtil.ToIso(start)}).");
        }

        if (PlaybackLimits.PacedWindowError(options, start, end, request.Rate, request.MaxGapSeconds) is { } windowError)
        {
            return Fail(ErrorCodes.BadRequest, windowError);
        }

        var spec = new PlanSpec(channels, start, end, live, request.Loop, request.DurationSeconds, request.Rate, request.MaxGapSeconds, request.LeadMs);
        SessionPlan plan;
        try
        {
            plan = await BuildAsync(spec, source);
        }
        catch (StoreUnavailableGrainException ex)
        {
            return (null, StoreUnavailable(ex));
        }
        catch (ArgumentException ex)
        {
            return Fail(ErrorCodes.BadRequest, $"{ex.Message} Use duration, rate and maxGap values that give the window a playable length.");
        }

        if (plan.Loop && PlaybackLimits.LoopPassError(options, plan.Length, request.Speed) is { } loopError)
        {
            return Fail(ErrorCodes.BadRequest, loopError);
        }

        return (plan, null);
    }

    /// <summary>Builds the plan of <paramref name="spec"/>: for rate and maxGap from the channels' counts, read one
    /// channel at a time in bins of <see cref="Warp.BucketSeconds"/> so a play's memory does not grow with its window.</summary>
    public static async Task<SessionPlan> BuildAsync(PlanSpec spec, IPlaybackSource source)
    {
        var counts = new List<HistogramBin>();
        if (spec.Rate is not null || spec.MaxGap is not null)
        {
            var from = TimeUtil.SecondOf(spec.WindowStart);
            var to = TimeUtil.SecondOf(spec.WindowEnd - 1) + 1;
            var step = Warp.BucketSeconds(spec.WindowStart, spec.WindowEnd);
            foreach (var channel in spec.Channels)
            {
                counts.AddRange(await source.GetHistogram(channel, from, to, step));
            }
        }

        return new SessionPlan(spec, Warp.Build(spec.WindowStart, spec.WindowEnd, spec.Duration, spec.Rate, spec.MaxGap, counts));
    }

    public static ControlResult StoreUnavailable(StoreUnavailableGrainException ex) =>
        ControlResult.Fail(ErrorCodes.StoreUnavailable, $"The event store is unavailable ({ex.Message}); try again shortly.");

    /// <summary>A read failed in the cluster (a silo failing or stopping), not in the store.</summary>
    public static ControlResult ReadFailed(Exception ex) =>
        ControlResult.Fail(ErrorCodes.StoreUnavailable, $"Reading the events failed ({ex.Message}); try again shortly.");

    private static (SessionPlan?, ControlResult?) Fail(string code, string message) => (null, ControlResult.Fail(code, message));
}
