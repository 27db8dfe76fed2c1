using Tivo.Events;
using Tivo.Stores;

namespace Tivo.Tests.Grains;

/// <summary>Small hand-made channels with known timestamps, written to a real SQLite store.</summary>
internal static class GrainTestData
{
    public static readonly long Base = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;

    public static long At(double seconds) => Base + (long)Math.Round(seconds * TimeSpan.TicksPerSecond);

    /// <summary>60 events over 6 s, irregular spacing (i × 100 ms + (i mod 3) × 7 ms).</summary>
    public static readonly long[] Steady = [.. Enumerable.Range(0, 60).Select(i => At(i * 0.1 + (i % 3) * 0.007))];

    /// <summary>20 events over 6 s, every 300 ms from 50 ms.</summary>
    public static readonly long[] Other = [.. Enumerable.Range(0, 20).Select(i => At(0.05 + i * 0.3))];

    /// <summary>A burst of 10 in second 0, nothing in second 1, 2 events in second 2, 100 empty seconds, 1 event in second 103.</summary>
    public static readonly long[] Bursty =
        [.. Enumerable.Range(0, 10).Select(k => At(0.05 + k * 0.09)), At(2.25), At(2.75), At(103.5)];

    /// <summary>One event every 15 minutes for a day.</summary>
    public static readonly long[] Day = [.. Enumerable.Range(0, 96).Select(i => At(i * 900 + 7.5))];

    /// <summary>Same shape as <see cref="Other"/>, read only by the sharing test so its cache starts cold.</summary>
    public static readonly long[] Shared = [.. Enumerable.Range(0, 20).Select(i => At(0.05 + i * 0.3))];

    public static async Task WriteAsync(IEventStore store)
    {
        await store.AppendAsync("steady", Events(Steady, "i"), CancellationToken.None);
        await store.AppendAsync("other", Events(Other, "j"), CancellationToken.None);
        await store.AppendAsync("bursty", Events(Bursty, "b"), CancellationToken.None);
        await store.AppendAsync("day", Events(Day, "d"), CancellationToken.None);
        await store.AppendAsync("shared", Events(Shared, "s"), CancellationToken.None);
    }

    private static List<StoredEvent> Events(long[] ticks, string key) =>
        [.. ticks.Select((t, i) => new StoredEvent(t, $"{{\"{key}\":{i},\"nested\":{{\"label\":\"é✓\"}}}}"))];
}
