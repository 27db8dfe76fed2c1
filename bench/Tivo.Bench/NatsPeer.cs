using System.Diagnostics;
using System.Globalization;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using Tivo.Testing;

namespace Tivo.Bench;

/// <summary>
/// NATS JetStream as the 1× peer: Debian's nats-server with a file-backed stream, the same events
/// published at 100 per second, then read back by N consumers with replay policy <c>original</c>
/// (the server re-creates the gaps between the stored publish times). Due time of message k for a
/// consumer: arrival of its first message + (stored time k − stored time of the first).
/// </summary>
internal sealed class NatsPeer : IAsyncDisposable
{
    private const string Stream = "BENCH";
    private const string Subject = "bench.x1";
    private readonly string _folder;
    private readonly NatsConnection _connection;
    private readonly NatsJSContext _js;
    private int _run;

    private NatsPeer(Process process, string folder, NatsConnection connection, string version)
    {
        Process = process;
        _folder = folder;
        _connection = connection;
        _js = new NatsJSContext(connection);
        Version = version;
    }

    public Process Process { get; }

    public string Version { get; }

    public static async Task<NatsPeer> StartAsync(int seconds)
    {
        var server = File.Exists("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server";
        var folder = Directory.CreateTempSubdirectory("tivo-bench-nats-").FullName;
        var port = TestPorts.Free();
        Process process;
        try
        {
            process = Process.Start(new ProcessStartInfo(server)
            {
                ArgumentList = { "-js", "-a", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-sd", folder },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("nats-server is not installed (apt-get install nats-server).", ex);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var version = (await RunAsync(server, "--version")).Trim();
        var connection = new NatsConnection(new NatsOpts { Url = $"nats://127.0.0.1:{port}", ConnectTimeout = TimeSpan.FromSeconds(30) });
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                await connection.ConnectAsync();
                break;
            }
            catch (NatsException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }

        var peer = new NatsPeer(process, folder, connection, version);
        await peer.PublishAsync(seconds);
        return peer;
    }

    private async Task PublishAsync(int seconds)
    {
        await _js.CreateStreamAsync(new StreamConfig(Stream, [Subject]) { Storage = StreamConfigStorage.File });
        var count = DeliveryBenchmark.EventCount(seconds);
        var lines = SyntheticEvents.Lines(DeliveryBenchmark.Base, 1.0 / DeliveryBenchmark.Rate, 0, count).ToArray();
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            // The stream stores publish times; replay policy "original" reproduces their gaps.
            var at = TimeSpan.FromSeconds((double)i / DeliveryBenchmark.Rate);
            while (clock.Elapsed < at)
            {
                var left = at - clock.Elapsed;
                if (left > TimeSpan.FromMilliseconds(2))
                {
                    await Task.Delay(left - TimeSpan.FromMilliseconds(1));
                }
                else
                {
                    Thread.SpinWait(50);
                }
            }

            var ack = await _js.PublishAsync(Subject, System.Text.Encoding.UTF8.GetBytes(lines[i]));
            ack.EnsureSuccess();
        }
    }

    /// <summary>A consumer idle this long is dropped by the server.</summary>
    private static readonly TimeSpan InactiveThreshold = TimeSpan.FromSeconds(30);

    public async Task<DeliveryRow> DriveAsync(int sessions, int seconds)
    {
        var run = Interlocked.Increment(ref _run);
        var consumers = new INatsJSConsumer[sessions];
        for (var i = 0; i < sessions; i++)
        {
            consumers[i] = await _js.CreateOrUpdateConsumerAsync(Stream, new ConsumerConfig($"r{run}-{i}")
            {
                DeliverPolicy = ConsumerConfigDeliverPolicy.All,
                ReplayPolicy = ConsumerConfigReplayPolicy.Original,
                AckPolicy = ConsumerConfigAckPolicy.None,
                InactiveThreshold = InactiveThreshold,
            });
        }

        var errors = new List<double>[sessions];
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds + 1));
        var meter = new RowMeter(Process);
        await Task.WhenAll(consumers.Select((c, i) => ConsumeAsync(c, errors[i] = new List<double>(seconds * 110), meter.CountFrom, stop.Token)));
        var (measured, _) = await meter.StopAsync();
        var row = DeliveryRow.From("nats-jetstream", sessions, 1, errors.SelectMany(e => e), measured);
        try
        {
            foreach (var c in consumers)
            {
                await _js.DeleteConsumerAsync(Stream, c.Info.Name);
            }
        }
        catch (NatsJSApiNoResponseException)
        {
            // Only tidying: the server drops a consumer idle for its InactiveThreshold by itself, and the next row's have other
            // names. A server too busy to answer (after 1,000 consumers replayed at once, 3 Dec 2026) ended the whole benchmark
            // here, every figure of the run lost.
            Console.WriteLine($"  nats-jetstream: the server did not answer a consumer's deletion after {sessions} sessions; the rest expire after {InactiveThreshold.TotalSeconds:0} s");
        }

        return row;
    }

    private static async Task ConsumeAsync(INatsJSConsumer consumer, List<double> errors, DateTime countFrom, CancellationToken cancellationToken)
    {
        double? firstArrival = null;
        DateTimeOffset firstStored = default;
        try
        {
            await foreach (var msg in consumer.ConsumeAsync<byte[]>(opts: new NatsJSConsumeOpts { MaxMsgs = 1000 }, cancellationToken: cancellationToken))
            {
                var arrival = (DateTime.UtcNow - DateTime.UnixEpoch).TotalMilliseconds;
                var stored = msg.Metadata?.Timestamp ?? throw new InvalidOperationException("JetStream message without metadata");
                if (firstArrival is null)
                {
                    firstArrival = arrival;
                    firstStored = stored;
                    continue;
                }

                if (DateTime.UtcNow >= countFrom)
                {
                    errors.Add(arrival - (firstArrival.Value + (stored - firstStored).TotalMilliseconds));
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static async Task<string> RunAsync(string file, string args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return output;
    }

    public async ValueTask DisposeAsync()
    {
        await _connection.DisposeAsync();
        await ChildProcess.StopAsync(Process, _folder);
    }
}
