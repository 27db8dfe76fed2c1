using System.Buffers;
using System.Collections.Immutable;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Tivo.Gateway.Protocol;
using Tivo.GrainInterfaces;
using Tivo.Grains.Pacing;

namespace Tivo.Bench;

/// <summary>BenchmarkDotNet for the per-event hot paths: the warp, writing an event message, the
/// delivery queue, and parsing a control. <c>--smoke</c> runs each once in process (a dry job).</summary>
internal static class MicroBenchmarks
{
    public static int Run(string[] benchmarkDotNetArgs, bool smoke)
    {
        IConfig config = smoke
            ? ManualConfig.CreateMinimumViable().AddJob(Job.Dry.WithToolchain(InProcessEmitToolchain.Instance)).WithOption(ConfigOptions.DisableLogFile, true)
                .WithArtifactsPath(Path.Combine("artifacts", "bench", "micro"))
            // In process: no generated project to build, so it runs from any checkout; ShortRun keeps the suite in minutes.
            : DefaultConfig.Instance.AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance)).WithArtifactsPath(Path.Combine("artifacts", "bench", "micro"));
        var summaries = BenchmarkSwitcher.FromTypes([typeof(WarpBenchmarks), typeof(MessageBenchmarks), typeof(DeliveryQueueBenchmarks)])
            .Run(benchmarkDotNetArgs.Length == 0 ? ["--filter", "*"] : benchmarkDotNetArgs, config);
        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }
}

[MemoryDiagnoser]
public class WarpBenchmarks
{
    private static readonly long Start = new DateTime(2016, 1, 15, 0, 0, 0, DateTimeKind.Utc).Ticks;
    private Warp _linear = null!;
    private Warp _rate = null!;
    private long _ticks;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(7);
        var day = Start / TimeSpan.TicksPerSecond;
        // A day of per-second counts with quiet nights and bursts, as the rate warp gets from the histogram.
        var bins = Enumerable.Range(0, 86_400).Where(s => random.NextDouble() < 0.7)
            .Select(s => new HistogramBin(day + s, 1 + (int)(20 * Math.Pow(Math.Sin(Math.PI * s / 86_400), 2)) + (s % 3600 < 60 ? 200 : 0))).ToList();
        _linear = Warp.Build(Start, Start + TimeSpan.TicksPerDay, 60, null, null, []);
        _rate = Warp.Build(Start, Start + TimeSpan.TicksPerDay, null, 30, 2, bins);
        _ticks = Start + TimeSpan.TicksPerHour * 13 + 12_345_678;
    }

    [Benchmark(Description = "linear warp: stream time → playback position")]
    public double LinearToPosition() => _linear.ToPosition(_ticks);

    [Benchmark(Description = "rate + maxGap warp (86,400 bins): stream time → position")]
    public double RateToPosition() => _rate.ToPosition(_ticks);

    [Benchmark(Description = "rate + maxGap warp: position → stream time")]
    public long RateToTicks() => _rate.ToTicks(12_345.678);
}

[MemoryDiagnoser]
public class MessageBenchmarks
{
    private readonly ArrayBufferWriter<byte> _buffer = new(16384);
    private readonly SessionEvent _event = new("taxi", new DateTime(2016, 1, 15, 14, 32, 24, 123, DateTimeKind.Utc).Ticks + 4567, 123_456,
        DateTime.UtcNow.Ticks, 9, """{"lat":40.7512,"lon":-73.9876,"fare":12.5,"passengers":2,"kind":"pickup"}""");
    private readonly ReadOnlyMemory<byte> _seed = Encoding.UTF8.GetBytes("""{"action":"play","start":"2016-01-15T14:32:24Z","end":"2016-01-15T14:33:24Z","speed":1,"loop":"False"}""");

    [Benchmark(Description = "write one event message (JSON, UTF-8)")]
    public int WriteEvent()
    {
        _buffer.ResetWrittenCount();
        ServerMessageWriter.WriteEvent(_buffer, _event);
        return _buffer.WrittenCount;
    }

    [Benchmark(Description = "write one event message through Utf8JsonWriter (the path before 4 Dec; what odd channel names take)")]
    public int WriteEventThroughWriter()
    {
        _buffer.ResetWrittenCount();
        ServerMessageWriter.WriteEventWithWriter(_buffer, _event);
        return _buffer.WrittenCount;
    }

    private Delivery<ReadOnlyMemory<byte>>[] _leadFrame = null!;

    [GlobalSetup]
    public void Setup() =>
        _leadFrame = [.. Enumerable.Range(0, 40).Select(i => new Delivery<ReadOnlyMemory<byte>>(1, _event with { Seq = _event.Seq + i, DueTicks = _event.DueTicks + i * 100_000L }, null, default, false))];

    [Benchmark(Description = "write a lead frame of 40 event messages and its layout (per frame)")]
    public int WriteLeadFrame()
    {
        _buffer.ResetWrittenCount();
        ServerMessageWriter.WriteBatch(_buffer, _leadFrame, _event.DueTicks);
        return _buffer.WrittenCount;
    }

    [Benchmark(Description = "parse the seed's play message")]
    public bool ParsePlay() => ClientMessageParser.TryParse(_seed, out _, out _);
}

[MemoryDiagnoser]
public class DeliveryQueueBenchmarks
{
    private PlaybackBatch _batch = null!;
    private long _epoch;

    [GlobalSetup]
    public void Setup()
    {
        var now = DateTime.UtcNow.Ticks;
        // One 50 ms tick of a session at 100 events/s (the default tick was 50 ms until 4 Dec 2026): 5 events and a clock signal.
        _batch = new PlaybackBatch(1, 0,
            [.. Enumerable.Range(0, 5).Select(i => new SessionEvent("taxi", now + i, i, now + i * 100_000, i, "{}"))],
            [new ClockSignal(now, 5, now, 1, 0)]);
        _leadEvents = [.. Enumerable.Range(0, 40).Select(i => new SessionEvent("taxi", i, i, i * 100_000L, i, "{}"))];
        _leadQueue = new DeliveryQueue<ReadOnlyMemory<byte>>();
        _leadQueue.Add(new PlaybackBatch(1, 0, [.. _leadEvents], [])); // the push still waiting
    }

    private DeliveryQueue<ReadOnlyMemory<byte>> _leadQueue = null!;
    private SessionEvent[] _leadEvents = null!;
    private long _leadTick;

    /// <summary>A lead connection's queue in its steady state: a push of 40 events (400 ms at 100 events/s) and a clock
    /// signal arrives while the previous push's 40 still wait; the earlier 40 go out. Per push.</summary>
    [Benchmark(Description = "lead connection: queue a 40-event push behind 40 waiting, release 40 (per push)")]
    public int LeadPushAndTake()
    {
        var tick = ++_leadTick;
        var events = ImmutableArray.CreateBuilder<SessionEvent>(_leadEvents.Length);
        foreach (var e in _leadEvents)
        {
            events.Add(e with { DueTicks = e.DueTicks + tick * 4_000_000, Order = e.Order + tick * 100 });
        }

        _leadQueue.Add(new PlaybackBatch(1, 0, events.MoveToImmutable(), [new ClockSignal(tick * 4_000_000 + 1_000_000, tick * 100 + 10, 0, 1, 0)]));
        var n = 0;
        while (n < 41 && _leadQueue.TryTake(long.MaxValue, out _))
        {
            n++;
        }

        return n;
    }

    [Benchmark(Description = "queue a 5-event batch and release it (per batch)")]
    public int AddAndTake()
    {
        var queue = new DeliveryQueue<ReadOnlyMemory<byte>>();
        queue.Add(_batch with { Epoch = ++_epoch });
        var n = 0;
        while (queue.TryTake(long.MaxValue, out _))
        {
            n++;
        }

        return n;
    }
}
