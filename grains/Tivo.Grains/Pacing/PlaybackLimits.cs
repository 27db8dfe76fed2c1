using System.Globalization;
using Tivo.Stores;

namespace Tivo.Grains.Pacing;

/// <summary>
/// The bounds on the work one play can cause, checked before a session adopts anything. Each refusal is a
/// sentence naming the limit, its setting and what to change; callers answer it as <c>bad_request</c>.
/// </summary>
internal static class PlaybackLimits
{
    /// <summary>Null when a window may be paced by <c>rate</c> or <c>maxGap</c>; else why not. Pacing reads the
    /// window's per-second counts, so its cost grows with the window; <see cref="PlaybackOptions.MaxPacedWindow"/> caps it.</summary>
    public static string? PacedWindowError(PlaybackOptions options, long start, long end, double? rate, double? maxGap)
    {
        if (rate is null && maxGap is null)
        {
            return null;
        }

        var window = TimeSpan.FromTicks(end - start);
        return window <= options.MaxPacedWindow
            ? null
            : $"The window spans {Days(window)} days; rate and maxGap pace windows of at most {Days(options.MaxPacedWindow)} days (Tivo:Playback:MaxPacedWindow). Narrow start/end, or use speed or duration, which have no such limit.";
    }

    /// <summary>Null when a loop of <paramref name="length"/> playback seconds at <paramref name="speed"/> wraps
    /// slowly enough; else why not. A pass shorter than <see cref="PlaybackOptions.MinLoopPass"/> of wall time is
    /// refused (not slowed): a loop that wraps thousands of times a second would only make work.</summary>
    public static string? LoopPassError(PlaybackOptions options, double length, double speed)
    {
        var pass = length / speed;
        return pass >= options.MinLoopPass.TotalSeconds
            ? null
            : $"One pass of this loop would last {pass.ToString("G3", CultureInfo.InvariantCulture)} s of wall time; a loop pass must last at least {options.MinLoopPass.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s (Tivo:Playback:MinLoopPass). Lower the speed, raise the duration or widen the window.";
    }

    private static string Days(TimeSpan span) => span.TotalDays.ToString("0.##", CultureInfo.InvariantCulture);
}
