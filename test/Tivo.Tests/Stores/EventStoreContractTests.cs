using Tivo.Events;
using Tivo.Stores;
using Xunit;

namespace Tivo.Tests.Stores;

/// <summary>
/// What every backend must do, asserted the same way for each: one subclass per store supplies a
/// fresh, empty store on a real server (or file). Each test uses its own channel names.
/// </summary>
public abstract class EventStoreContractTests : IAsyncLifetime
{
    protected static readonly long T0 = new DateTime(2021, 6, 1, 12, 0, 0, DateTimeKind.Utc).Ticks;

    protected IEventStore Store { get; private set; } = null!;

    /// <summary>Creates the store under test (empty).</summary>
    protected abstract Task<IEventStore> CreateStoreAsync();

    protected virtual Task DisposeStoreAsync() => Task.CompletedTask;

    public async Task InitializeAsync() => Store = await CreateStoreAsync();

    public Task DisposeAsync() => DisposeStoreAsync();

    [Fact]
    public async Task Reads_a_window_in_time_order_with_half_open_edges()
    {
        var events = new[] { 5.0, 1.0, 3.0, 2.0, 4.0 }.Select(s => new StoredEvent(T0 + Sec(s), $"{{\"s\":{s}}}")).ToList();
        await Store.AppendAsync("edges", events, CancellationToken.None);

        var read = await ReadAsync("edges", T0 + Sec(2), T0 + Sec(4));
        Assert.Equal([T0 + Sec(2), T0 + Sec(3)], read.Select(e => e.Ticks)); // 4 s is the next window's
        AssertJson("{\"s\":2}", read[0].Data);
    }

    [Fact]
    public async Task Equal_timestamps_keep_insertion_order()
    {
        var events = Enumerable.Range(0, 10).Select(i => new StoredEvent(T0, $"{{\"i\":{i}}}")).ToList();
        await Store.AppendAsync("ties", events, CancellationToken.None);
        await Store.AppendAsync("ties", [new StoredEvent(T0, "{\"i\":10}")], CancellationToken.None);
        var read = await ReadAsync("ties", T0, T0 + Sec(1));
        Assert.Equal(11, read.Count);
        for (var i = 0; i < 11; i++)
        {
            AssertJson($"{{\"i\":{i}}}", read[i].Data);
        }
    }

    [Fact]
    public async Task Empty_windows_and_unknown_channels_yield_nothing()
    {
        await Store.AppendAsync("sparse", [new StoredEvent(T0, "{}")], CancellationToken.None);
        Assert.Empty(await ReadAsync("sparse", T0 + Sec(1), T0 + Sec(100)));
        Assert.Empty(await ReadAsync("sparse", T0, T0));
        Assert.Empty(await ReadAsync("no-such-channel", T0 - Sec(1000), T0 + Sec(1000)));
        Assert.Empty(await Store.CountPerSecondAsync("no-such-channel", 0, 10, CancellationToken.None));
    }

    [Fact]
    public async Task Timestamps_keep_full_precision()
    {
        var precise = new[] { T0 + 1, T0 + 9_999_999, T0 + Sec(1) + 5_000 };
        await Store.AppendAsync("precise", [.. precise.Select(t => new StoredEvent(t, "{}"))], CancellationToken.None);
        var read = await ReadAsync("precise", T0, T0 + Sec(2));
        Assert.Equal(precise.Select(t => RoundToStorePrecision(t)), read.Select(e => e.Ticks));
    }

    [Fact]
    public async Task A_window_ending_one_tick_after_an_event_includes_it()
    {
        // What "the whole channel" asks for: [first, last + 1 tick). PostgreSQL's microseconds once turned that end
        // into "< last" and dropped the channel's last event (found by the export benchmark).
        var times = new[] { T0 + Sec(1), T0 + Sec(2) + 3_000 };
        await Store.AppendAsync("edges", [.. times.Select(t => new StoredEvent(t, "{}"))], CancellationToken.None);
        var stored = times.Select(RoundToStorePrecision).ToArray();
        Assert.Equal(stored, (await ReadAsync("edges", stored[0], stored[1] + 1)).Select(e => e.Ticks));
        Assert.Equal(stored[..1], (await ReadAsync("edges", stored[0], stored[1])).Select(e => e.Ticks));
        Assert.Equal(stored[1..], (await ReadAsync("edges", stored[0] + 1, stored[1] + 1)).Select(e => e.Ticks));
    }

    [Fact]
    public async Task Unicode_and_nested_json_payloads_come_back_intact()
    {
        const string payload = "{\"name\":\"Zoë 東京 🚕\",\"nested\":{\"list\":[1,2.5,{\"deep\":[true,null]}],\"quote\":\"\\\"hi\\\"\"}}";
        await Store.AppendAsync("unicode", [new StoredEvent(T0, payload)], CancellationToken.None);
        var read = await ReadAsync("unicode", T0, T0 + Sec(1));
        AssertJson(payload, read.Single().Data);
    }

    [Fact]
    public async Task A_window_of_100000_events_streams_completely_in_order()
    {
        const int count = 100_000;
        var events = Enumerable.Range(0, count).Select(i => new StoredEvent(T0 + i * 10_000L, $"{{\"i\":{i}}}")).ToList();
        await Store.AppendAsync("big", events, CancellationToken.None);
        var n = 0;
        var last = long.MinValue;
        await foreach (var e in Store.ReadAsync("big", T0, T0 + Sec(1000), CancellationToken.None))
        {
            Assert.True(e.Ticks >= last);
            last = e.Ticks;
            n++;
        }

        Assert.Equal(count, n);
    }

    [Fact]
    public async Task Lists_channels_with_extent_and_count()
    {
        await Store.AppendAsync("list-a", [new StoredEvent(T0 + Sec(3), "{}"), new StoredEvent(T0 + Sec(1), "{}")], CancellationToken.None);
        await Store.AppendAsync("list-a", [new StoredEvent(T0 + Sec(7), "{}")], CancellationToken.None);
        var channels = await Store.ListChannelsAsync(CancellationToken.None);
        var a = channels.Single(c => c.Name == "list-a");
        Assert.Equal(T0 + Sec(1), a.FirstTicks);
        Assert.Equal(T0 + Sec(7), a.LastTicks);
        Assert.Equal(3, a.Count);
    }

    [Fact]
    public async Task Counts_events_per_whole_second()
    {
        var start = TimeUtil.SecondOf(T0);
        await Store.AppendAsync("counts",
            [new(T0, "{}"), new(T0 + Sec(0.5), "{}"), new(T0 + Sec(2.25), "{}"), new(T0 + Sec(9.999), "{}"), new(T0 + Sec(10), "{}")],
            CancellationToken.None);
        var counts = await Store.CountPerSecondAsync("counts", start, start + 10, CancellationToken.None);
        Assert.Equal([new SecondCount(start, 2), new SecondCount(start + 2, 1), new SecondCount(start + 9, 1)], counts);
    }

    protected static long Sec(double seconds) => (long)Math.Round(seconds * TimeSpan.TicksPerSecond);

    /// <summary>Stores that keep microseconds (PostgreSQL) round ticks; the embedded store keeps ticks.</summary>
    protected virtual long RoundToStorePrecision(long ticks) => ticks;

    /// <summary>Payloads compare as JSON values: jsonb re-formats whitespace and key order.</summary>
    protected static void AssertJson(string expected, string actual) =>
        Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(System.Text.Json.Nodes.JsonNode.Parse(expected), System.Text.Json.Nodes.JsonNode.Parse(actual)),
            $"expected {expected}, got {actual}");

    private async Task<List<StoredEvent>> ReadAsync(string channel, long from, long to)
    {
        var list = new List<StoredEvent>();
        await foreach (var e in Store.ReadAsync(channel, from, to, CancellationToken.None))
        {
            list.Add(e);
        }

        return list;
    }
}
