using System.Diagnostics.Metrics;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
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
    public void A_pressure_window_below_zero_or_over_a_second_is_refused_naming_the_setting()
    {
        foreach (var bad in new[] { TimeSpan.FromMilliseconds(-1), TimeSpan.FromSeconds(2) })
        {
            var result = new GatewayOptionsValidator().Validate(null, new GatewayOptions { PressureWindow = bad });
            Assert.True(result.Failed, $"{bad} refused");
            Assert.Contains("Tivo:Gateway:PressureWindow", result.FailureMessage, StringComparison.Ordinal);
        }

        Assert.True(new GatewayOptionsValidator().Validate(null, new GatewayOptions { PressureWindow = TimeSpan.Zero }).Succeeded); // off
    }

    [Fact]
    public async Task Under_pressure_a_plain_connection_sends_together_what_is_due_within_the_window_none_of_it_more_than_half_the_window_off()
    {
        await using var connection = await Connection.StartAsync(TimeSpan.FromMilliseconds(400));
        for (var step = 0; step < 8; step++)
        {
            // Loops ran late for two seconds (dated ahead, so the window stays open through the test): 5 → 400 ms.
            connection.Scheduler.Pressure.Observe(Late, connection.Start + (2000 * Ms) - ((7 - step) * 250 * Ms));
        }

        connection.Deliver(150, 300, 380, 900);
        Assert.Equal(new long[] { 1 }, await connection.SentAsync(1)); // due 150 ms ahead, within half the window: at once

        await connection.AdvanceToAsync(499);
        await connection.NothingMoreAsync(); // 300 and 380 wait for half the window after the first of them is due
        await connection.AdvanceToAsync(500);
        Assert.Equal(new long[] { 1, 2, 3 }, await connection.SentAsync(3)); // together: 200 and 120 ms late, none more than 200
        await connection.AdvanceToAsync(1099);
        await connection.NothingMoreAsync(); // 900 is beyond the window of that turn
        await connection.AdvanceToAsync(1100);
        Assert.Equal(new long[] { 1, 2, 3, 4 }, await connection.SentAsync(4));
    }

    [Fact]
    public async Task Without_pressure_each_message_goes_at_its_due()
    {
        await using var connection = await Connection.StartAsync(TimeSpan.FromMilliseconds(400));
        connection.Deliver(150, 300, 380, 900);
        await connection.NothingMoreAsync();
        await connection.AdvanceToAsync(150);
        Assert.Equal(new long[] { 1 }, await connection.SentAsync(1));
        await connection.AdvanceToAsync(299);
        await connection.NothingMoreAsync();
        await connection.AdvanceToAsync(300);
        Assert.Equal(new long[] { 1, 2 }, await connection.SentAsync(2));
    }

    /// <summary>One connection's real outbox and send loop over a real WebSocket, on a fake clock the test moves: what the
    /// client received, in order, as the clock reaches each point.</summary>
    private sealed class Connection : IAsyncDisposable
    {
        private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        private readonly CancellationTokenSource _stop = new();
        private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        private readonly List<long> _received = [];
        private readonly SemaphoreSlim _arrived = new(0);
        private WebSocket _server = null!;
        private WebSocket _client = null!;
        private ConnectionOutbox _outbox = null!;
        private Task _sendLoop = Task.CompletedTask;
        private Task _receiveLoop = Task.CompletedTask;

        private long _elapsed;

        public ReleaseScheduler Scheduler { get; private set; } = null!;

        /// <summary>The fake clock's start (UTC ticks): dues and <see cref="AdvanceTo"/> count from it.</summary>
        public long Start => _time.GetUtcNow().UtcTicks - _elapsed;

        public static async Task<Connection> StartAsync(TimeSpan pressureWindow)
        {
            var c = new Connection();
            c.Scheduler = new ReleaseScheduler(c._time, pressureWindow);
            (c._server, c._client) = await LoopbackWebSockets.PairAsync();
            c._outbox = new ConnectionOutbox(c._server, new GatewayOptions(), c._time, c.Scheduler,
                new GatewayMetrics(c._services.GetRequiredService<IMeterFactory>()), WireFormat.V1, _ => true);
            c._sendLoop = c._outbox.SendLoopAsync(c._stop.Token);
            c._receiveLoop = c.ReceiveAsync();
            return c;
        }

        /// <summary>Events due these many ms after the start, seq 1, 2, …</summary>
        public void Deliver(params int[] dueMs) => _outbox.Deliver(new PlaybackBatch(1, 0,
            [.. dueMs.Select((ms, i) => new SessionEvent("c", i * TimeSpan.TicksPerSecond, i + 1, Start + (ms * Ms), i + 1, $$"""{"n":{{i}}}"""))], []));

        /// <summary>Moves the clock once the send loop has parked for its next release: a turn still running when the clock
        /// jumps would read the new time and, by the release tolerance (1 ms), could send then what was due just after it.</summary>
        public async Task AdvanceToAsync(int ms)
        {
            for (var waited = 0; Scheduler.Pending == 0; waited++)
            {
                Assert.True(waited < 10_000, "the send loop parked for its next release");
                await Task.Delay(1);
            }

            var to = ms * Ms;
            _time.Advance(TimeSpan.FromTicks(to - _elapsed));
            _elapsed = to;
        }

        /// <summary>The seqs received once there are <paramref name="count"/>.</summary>
        public async Task<long[]> SentAsync(int count)
        {
            while (Received().Length < count)
            {
                Assert.True(await _arrived.WaitAsync(TimeSpan.FromSeconds(10)), $"{count} events sent (received: {string.Join(", ", Received())})");
            }

            return Received();
        }

        /// <summary>Nothing more arrives in a moment (a send the clock did not allow would have come by then).</summary>
        public async Task NothingMoreAsync()
        {
            var before = Received();
            await Task.Delay(200);
            Assert.Equal(before, Received());
        }

        private long[] Received()
        {
            lock (_received)
            {
                return [.. _received];
            }
        }

        private async Task ReceiveAsync()
        {
            var buffer = new byte[64 * 1024];
            try
            {
                while (true)
                {
                    var result = await _client.ReceiveAsync(buffer, _stop.Token);
                    using var message = JsonDocument.Parse(buffer.AsMemory(0, result.Count));
                    if (message.RootElement.GetProperty("type").GetString() == "event")
                    {
                        lock (_received)
                        {
                            _received.Add(message.RootElement.GetProperty("seq").GetInt64());
                        }

                        _arrived.Release();
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _sendLoop.WaitAsync(TimeSpan.FromSeconds(5));
            await _receiveLoop.WaitAsync(TimeSpan.FromSeconds(5));
            _client.Dispose();
            _server.Dispose();
            Scheduler.Dispose();
            _services.Dispose();
            _stop.Dispose();
            _arrived.Dispose();
        }
    }
}
