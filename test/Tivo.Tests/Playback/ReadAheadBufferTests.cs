using Tivo.Grains;
using Tivo.Grains.Playback;
using Xunit;
using static Tivo.Tests.Playback.InMemoryPlaybackSource;

namespace Tivo.Tests.Playback;

/// <summary>The read-ahead: chunks merged across channels in a stable order, the cursor, taking back what a cut voids,
/// passes of a loop, and a reset voiding older loads.</summary>
public sealed class ReadAheadBufferTests
{
    private static readonly WallTime T0 = new(new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks);

    private readonly InMemoryPlaybackSource _source = new InMemoryPlaybackSource().Add("a", 0.2, 1.0, 1.0, 2.5).Add("b", 1.0, 0.1, 3.9);

    private async Task<(ReadAheadBuffer Buffer, SessionPlan Plan)> LoadAsync(string[] channels, double from, double to, bool loop = false, int chunks = 8)
    {
        var plan = await SessionPlan.BuildAsync(new PlanSpec([.. channels], At(from), At(to), false, loop, null, null, null), _source);
        var buffer = new ReadAheadBuffer(_source.Grid, _source);
        buffer.Reset(plan, 0, plan.WindowStart);
        (await buffer.FetchAsync(chunks, T0)).ForEach(buffer.Append);
        return (buffer, plan);
    }

    private static List<(string Channel, double Seconds, int Pass)> Drain(ReadAheadBuffer buffer, int max = 100)
    {
        var taken = new List<(string, double, int)>();
        while (taken.Count < max && buffer.TryPeek(out var e, out var pass))
        {
            taken.Add((e.Channel, Math.Round((e.Ticks - Base) / (double)TimeSpan.TicksPerSecond, 3), pass));
            buffer.Advance(T0 + TimeSpan.FromSeconds(taken.Count));
        }

        return taken;
    }

    [Fact]
    public async Task Channels_merge_by_time_then_request_order_then_store_order()
    {
        var (buffer, plan) = await LoadAsync(["b", "a"], 0, 4);
        Assert.Equal(
            [("b", 0.1, 0), ("a", 0.2, 0), ("b", 1.0, 0), ("a", 1.0, 0), ("a", 1.0, 0), ("a", 2.5, 0), ("b", 3.9, 0)],
            Drain(buffer));
        Assert.True(buffer.AllLoaded);
        Assert.Equal(plan.Length, buffer.LoadedThrough, 9);
    }

    [Fact]
    public async Task One_channel_plays_its_chunks_cut_at_the_windows_edges()
    {
        // A one-channel play reads the channel's cached chunks in place (no merge): the window's start and end still cut
        // inside a chunk, the end exclusive.
        var (buffer, _) = await LoadAsync(["a"], 0.5, 2.5);
        Assert.Equal([("a", 1.0, 0), ("a", 1.0, 0)], Drain(buffer));
        (buffer, _) = await LoadAsync(["a"], 0.2, 2.6);
        Assert.Equal([("a", 0.2, 0), ("a", 1.0, 0), ("a", 1.0, 0), ("a", 2.5, 0)], Drain(buffer));
        Assert.True(buffer.AllLoaded);
    }

    [Fact]
    public async Task The_first_chunk_starts_at_the_requested_instant()
    {
        var plan = await SessionPlan.BuildAsync(new PlanSpec(["a"], At(0), At(4), false, false, null, null, null), _source);
        var buffer = new ReadAheadBuffer(_source.Grid, _source);
        buffer.Reset(plan, 0, new StreamTime(At(1.0)));
        (await buffer.FetchAsync(4, T0)).ForEach(buffer.Append);
        Assert.Equal([("a", 1.0, 0), ("a", 1.0, 0), ("a", 2.5, 0)], Drain(buffer));
    }

    [Fact]
    public async Task A_rewind_takes_back_what_falls_due_after_the_cut()
    {
        var (buffer, _) = await LoadAsync(["a"], 0, 4);
        Drain(buffer); // handed on, due at T0 + 1, 2, 3, 4 s
        buffer.Released(T0 + TimeSpan.FromSeconds(1));
        buffer.Rewind(T0 + TimeSpan.FromSeconds(2.5));
        Assert.Equal([("a", 1.0, 0), ("a", 2.5, 0)], Drain(buffer)); // the two due at 3 s and 4 s come again
    }

    [Fact]
    public async Task A_loop_reads_the_window_again_as_the_next_pass()
    {
        var (buffer, plan) = await LoadAsync(["b"], 0, 2, loop: true, chunks: 2);
        Assert.False(buffer.AllLoaded);
        Assert.Equal((1, _source.Grid.IndexOf(At(0))), buffer.NextLoad);
        (await buffer.FetchAsync(2, T0)).ForEach(buffer.Append);
        Assert.Equal([("b", 0.1, 0), ("b", 1.0, 0), ("b", 0.1, 1), ("b", 1.0, 1)], Drain(buffer));
        Assert.Equal(2 * plan.Length, buffer.LoadedThrough, 9);
    }

    [Fact]
    public async Task A_batch_covers_the_read_ahead_at_the_clocks_pace()
    {
        var (_, plan) = await LoadAsync(["a"], 0, 4);
        var buffer = new ReadAheadBuffer(_source.Grid, _source);
        buffer.Reset(plan, 0, plan.WindowStart);
        var clock = new SessionClock();
        clock.Configure(plan.Length, false);
        clock.Reanchor(T0, 0, GrainInterfaces.SessionStatus.Playing, 1);
        Assert.Equal(3, buffer.BatchSize(clock, T0, TimeSpan.FromSeconds(2))); // chunks 0..2 cover 2 s ahead
        clock.Reanchor(T0, 0, speed: 100);
        Assert.Equal(4, buffer.BatchSize(clock, T0, TimeSpan.FromSeconds(2))); // never past the window's last chunk
        Assert.True(buffer.NeedsMore(clock, T0, TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public async Task A_reset_changes_the_generation_so_older_loads_are_dropped()
    {
        var (buffer, plan) = await LoadAsync(["a"], 0, 4);
        var generation = buffer.Generation;
        buffer.Reset(plan, 0, plan.WindowStart);
        Assert.NotEqual(generation, buffer.Generation);
        Assert.True(buffer.IsEmpty);
        Assert.False(buffer.TryPeek(out _, out _));
    }
}
