using System.Diagnostics.Metrics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Tivo.Gateway;
using Tivo.Gateway.Connections;
using Tivo.Gateway.Diagnostics;
using Tivo.Gateway.Protocol;
using Tivo.GrainInterfaces;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>
/// A saturated gateway opens a send window for plain connections: it widens while send loops run late, narrows when
/// they keep up, and a connection's send loop then sends together what is due within it — none of it more than half the
/// window from its due.
/// </summary>
public sealed class SendPressureTests
{
    private static readonly long Ms = TimeSpan.TicksPerMillisecond;
    private static readonly long Late = SendPressure.LagThreshold.Ticks;

    [Fact]
    public void The_window_opens_on_late_loops_widens_at_most_every_quarter_second_up_to_its_limit_and_closes_when_they_keep_up()
    {
        var pressure = new SendPressure(20 * Ms);
        var t = 1_000_000 * Ms;
        pressure.Observe(Late - 1, t);
        Assert.Equal(0, pressure.WindowAt(t)); // a loop a little late is no pressure

        pressure.Observe(Late, t);
        Assert.Equal(5 * Ms, pressure.WindowAt(t));
        pressure.Observe(Late * 3, t + (100 * Ms)); // every loop late at once (a collector's pause): one step
        Assert.Equal(5 * Ms, pressure.WindowAt(t + (100 * Ms)));
        pressure.Observe(Late, t + (250 * Ms));
        pressure.Observe(Late, t + (500 * Ms));
        pressure.Observe(Late, t + (750 * Ms));
        Assert.Equal(20 * Ms, pressure.WindowAt(t + (750 * Ms))); // 10, then 20, the limit

        var kept = t + (750 * Ms);
        Assert.Equal(20 * Ms, pressure.WindowAt(kept + (999 * Ms)));
        Assert.Equal(10 * Ms, pressure.WindowAt(kept + (1000 * Ms))); // a second without a late loop: half
        Assert.Equal(10 * Ms, pressure.WindowAt(kept + (1500 * Ms)));
        Assert.Equal(5 * Ms, pressure.WindowAt(kept + (2000 * Ms)));
        Assert.Equal(0, pressure.WindowAt(kept + (3000 * Ms))); // below the first step: closed

        pressure.Observe(Late, kept + (10_000 * Ms));
        pressure.Observe(Late, kept + (10_250 * Ms));
        pressure.Observe(Late, kept + (10_500 * Ms));
        Assert.Equal(20 * Ms, pressure.WindowAt(kept + (10_500 * Ms)));
        Assert.Equal(0, pressure.WindowAt(kept + (60_000 * Ms))); // a gateway quiet for a long while: closed at the first look
    }

    [Fact]
    public void A_window_of_zero_never_opens()
    {
        var pressure = new SendPressure(0);
        for (var i = 0; i < 10; i++)
        {
            pressure.Observe(1000 * Ms, i * 300 * Ms);
        }

        Assert.Equal(0, pressure.WindowAt(3000 * Ms));
    }

    [Fact]
    public async Task Under_pressure_a_plain_connection_sends_together_what_is_due_within_the_window_none_of_it_more_than_half_the_window_off()
    {
        using var scheduler = new ReleaseScheduler(TimeProvider.System, TimeSpan.FromMilliseconds(400));
        var start = DateTime.UtcNow.Ticks;
        for (var step = 0; step < 8; step++)
        {
            // Loops ran late for two seconds (dated ahead of now, so the window stays open through the test): 5 → 400 ms.
            scheduler.Pressure.Observe(Late, start + (2000 * Ms) - ((7 - step) * 250 * Ms));
        }

        Assert.Equal(400 * Ms, scheduler.Pressure.WindowAt(start));
        var arrivals = await DeliverAsync(scheduler, start, [300, 380, 900]);

        Assert.True(Math.Abs(arrivals[1] - arrivals[0]) < 40, $"the events due 80 ms apart went together: {string.Join(", ", arrivals)} ms");
        Assert.All(new[] { 300.0, 380, 900 }.Zip(arrivals), p => Assert.True(p.Second >= p.First - 201, $"due at {p.First} ms, sent at {p.Second:F0} ms: more than half the window early"));
    }

    [Fact]
    public async Task Without_pressure_each_message_goes_at_its_due()
    {
        using var scheduler = new ReleaseScheduler(TimeProvider.System, TimeSpan.FromMilliseconds(400));
        var start = DateTime.UtcNow.Ticks;
        var arrivals = await DeliverAsync(scheduler, start, [300, 380, 900]);
        Assert.All(new[] { 300.0, 380, 900 }.Zip(arrivals), p => Assert.True(p.Second >= p.First - 2, $"due at {p.First} ms, sent at {p.Second:F0} ms"));
    }

    /// <summary>One connection's real outbox and send loop over a real WebSocket: events due <paramref name="dueMs"/> after
    /// <paramref name="start"/>; returns when each arrived (ms after it).</summary>
    private static async Task<double[]> DeliverAsync(ReleaseScheduler scheduler, long start, int[] dueMs)
    {
        var (server, client) = await LoopbackWebSockets.PairAsync();
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var stop = new CancellationTokenSource();
        var outbox = new ConnectionOutbox(server, new GatewayOptions(), TimeProvider.System, scheduler,
            new GatewayMetrics(services.GetRequiredService<IMeterFactory>()), WireFormat.V1, _ => true);
        var sendLoop = outbox.SendLoopAsync(stop.Token);
        var events = dueMs.Select((ms, i) => new SessionEvent("c", i * TimeSpan.TicksPerSecond, i + 1, start + (ms * Ms), i + 1, $$"""{"n":{{i}}}"""));
        outbox.Deliver(new PlaybackBatch(1, 0, [.. events], []));

        var arrivals = new List<double>();
        var buffer = new byte[64 * 1024];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (arrivals.Count < dueMs.Length)
        {
            var result = await client.ReceiveAsync(buffer, timeout.Token);
            var at = (DateTime.UtcNow.Ticks - start) / (double)Ms;
            using var message = JsonDocument.Parse(buffer.AsMemory(0, result.Count));
            if (message.RootElement.GetProperty("type").GetString() == "event")
            {
                arrivals.Add(at);
            }
        }

        await stop.CancelAsync();
        await sendLoop.WaitAsync(TimeSpan.FromSeconds(5));
        client.Dispose();
        server.Dispose();
        return [.. arrivals];
    }
}
