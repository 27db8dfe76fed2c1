using System.Collections.Immutable;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Reflection;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Tivo.Gateway;
using Tivo.Gateway.Connections;
using Tivo.Gateway.Diagnostics;
using Tivo.Gateway.Protocol;
using Tivo.GrainInterfaces;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>
/// A session's pushes to a gateway can arrive in the wrong order (a loaded gateway saw one overtaken by the next), and the
/// join's answer can be handled after the first push. What a client receives is still every event, once, in order: the
/// gateway's fan-out and a connection's real outbox and send loop, over a real WebSocket, with the session's replay log
/// standing in for the grain.
/// </summary>
public sealed class HoleOrderTests : IAsyncDisposable
{
    private readonly TaskCompletionSource<ImmutableArray<SessionEvent>> _replayed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly ReleaseScheduler _scheduler = new(TimeProvider.System);
    private readonly List<IDisposable> _disposables = [];
    private SessionFanout _fanout = null!;
    private WebSocket _client = null!;
    private Task _sendLoop = Task.CompletedTask;

    [Fact]
    public async Task Events_after_a_push_overtaken_on_its_way_wait_for_it_and_the_client_gets_them_in_order()
    {
        var replay = await StartAsync();
        _fanout.Expect(nextSeq: 1, epoch: 1);
        await _fanout.OnBatch(Batch(1, 2, 3));
        await _fanout.OnBatch(Batch(7, 8, 9)); // the push of 4–6 is still on its way: a hole, asked of the replay log

        await Task.Delay(200); // before: 7–9 went out meanwhile, ahead of 4–6
        Assert.Equal((4L, 6L), await replay);
        _replayed.SetResult([.. Events(4, 5, 6)]);

        Assert.Equal([1L, 2, 3, 4, 5, 6, 7, 8, 9], await ReceiveSeqsAsync(9));
    }

    [Fact]
    public async Task A_push_overtaken_before_the_join_answers_is_asked_for_and_nothing_goes_ahead_of_it()
    {
        var replay = await StartAsync(joining: true);
        await _fanout.OnBatch(Batch(7, 8, 9)); // the push of 4–6 was overtaken; the join's answer is not handled yet
        await _fanout.OnBatch(new PlaybackBatch(1, 0, [.. Events(2, 3)], [], Target: "p", JoinedAtSeq: 4)); // the catch-up after seq 1

        await Task.Delay(200);
        Assert.Equal((4L, 6L), await replay); // before: nothing asked, 7–9 sent after the catch-up, 4–6 only if their push came
        _fanout.Expect(nextSeq: 4, epoch: 1); // the answer, late: changes nothing
        _replayed.SetResult([.. Events(4, 5, 6)]);

        Assert.Equal([2L, 3, 4, 5, 6, 7, 8, 9], await ReceiveSeqsAsync(8));
    }

    [Fact]
    public async Task A_join_answer_handled_after_the_first_push_shows_the_hole_too()
    {
        var replay = await StartAsync(joining: true);
        await _fanout.OnBatch(Batch(7, 8, 9));
        _fanout.Expect(nextSeq: 4, epoch: 1); // before the catch-up this time
        Assert.Equal((4L, 6L), await replay);
        await _fanout.OnBatch(new PlaybackBatch(1, 0, [.. Events(2, 3)], [], Target: "p", JoinedAtSeq: 4));

        await Task.Delay(200);
        _replayed.SetResult([.. Events(4, 5, 6)]);
        Assert.Equal([2L, 3, 4, 5, 6, 7, 8, 9], await ReceiveSeqsAsync(8));
    }

    [Fact]
    public async Task A_late_original_arriving_first_lifts_the_hold_and_its_copy_is_not_sent_twice()
    {
        var replay = await StartAsync();
        _fanout.Expect(nextSeq: 1, epoch: 1);
        await _fanout.OnBatch(Batch(1, 2));
        await _fanout.OnBatch(Batch(4, 5));
        Assert.Equal((3L, 3L), await replay);
        await _fanout.OnBatch(Batch(3)); // the overtaken push itself, before the replay log answered
        _replayed.SetResult([.. Events(3)]);
        await _fanout.OnBatch(Batch(6));

        Assert.Equal([1L, 2, 3, 4, 5, 6], await ReceiveSeqsAsync(6));
    }

    /// <summary>A fan-out with one connection, participant "p" (a real outbox and send loop on a loopback WebSocket),
    /// <paramref name="joining"/> or not; completes with the range the fan-out asks the replay log for.</summary>
    private async Task<Task<(long From, long To)>> StartAsync(bool joining = false)
    {
        var asked = new TaskCompletionSource<(long, long)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var session = DispatchProxy.Create<IPlaybackGrain, ReplayLog>();
        ((ReplayLog)(object)session).Answer = (from, to) =>
        {
            asked.TrySetResult((from, to));
            return _replayed.Task;
        };

        var (server, client) = await LoopbackWebSockets.PairAsync();
        _client = client;
        var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        _disposables.Add(services);
        var options = new GatewayOptions();
        var outbox = new ConnectionOutbox(server, options, TimeProvider.System, _scheduler, new GatewayMetrics(services.GetRequiredService<IMeterFactory>()),
            WireFormat.V1, _ => true);
        if (joining)
        {
            outbox.BeginJoin(); // as a connection does before it joins: the shared stream waits for the catch-up
        }

        _sendLoop = outbox.SendLoopAsync(_stop.Token);
        _fanout = new SessionFanout("s", TimeProvider.System, session, NullLogger.Instance, options);
        _fanout.Add("p", outbox, null!); // the membership is only used to call the session back, which these tests do not
        return asked.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    private PlaybackBatch Batch(params long[] seqs) => new(1, 0, [.. Events(seqs)], []);

    // Due now, a tick apart in seq order (copies keep their originals' dues): each goes as soon as the gateway lets it.
    private readonly long _due = DateTime.UtcNow.Ticks;

    private IEnumerable<SessionEvent> Events(params long[] seqs) =>
        seqs.Select(s => new SessionEvent("c", s * TimeSpan.TicksPerSecond, s, _due + s, s, $$"""{"n":{{s}}}"""));

    private async Task<List<long>> ReceiveSeqsAsync(int count)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var seqs = new List<long>();
        var buffer = new byte[64 * 1024];
        while (seqs.Count < count)
        {
            var result = await _client.ReceiveAsync(buffer, timeout.Token);
            using var message = JsonDocument.Parse(buffer.AsMemory(0, result.Count));
            if (message.RootElement.GetProperty("type").GetString() == "event")
            {
                seqs.Add(message.RootElement.GetProperty("seq").GetInt64());
            }
        }

        return seqs;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _sendLoop.WaitAsync(TimeSpan.FromSeconds(5));
        _client?.Dispose();
        _scheduler.Dispose();
        _disposables.ForEach(d => d.Dispose());
        _stop.Dispose();
    }

    /// <summary>Stands for the session grain: answers Replay as the test says; SlowDown is accepted, anything else refused.</summary>
    public class ReplayLog : DispatchProxy
    {
        public Func<long, long, Task<ImmutableArray<SessionEvent>>> Answer { get; set; } = null!;

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) => targetMethod?.Name switch
        {
            nameof(IPlaybackGrain.Replay) => Answer((long)args![0]!, (long)args[1]!),
            nameof(IPlaybackGrain.SlowDown) => Task.CompletedTask,
            _ => throw new NotSupportedException(targetMethod?.Name),
        };
    }
}
