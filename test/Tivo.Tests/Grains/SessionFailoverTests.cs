using Tivo.Events;
using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Runtime;
using Orleans.Storage;
using Orleans.TestingHost;
using Tivo.GrainInterfaces;
using Tivo.Grains;
using Tivo.Grains.Timing;
using Tivo.GrainInterfaces.Hosting;
using Tivo.Silo.Hosting;
using Tivo.Stores;
using Tivo.Stores.Embedded;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Grains;

/// <summary>
/// Two silos persisting sessions through Microsoft.Orleans.Persistence.AdoNet on a real PostgreSQL
/// (tables created by Tivo's setup): the silo holding a playing session is killed and the session
/// carries on from the other silo.
/// </summary>
[Collection(PostgreSqlCollection.Name)]
public sealed class SessionFailoverTests(PostgreSqlServerFixture postgres)
{
    private static readonly long Base = new DateTime(2020, 2, 2, 0, 0, 0, DateTimeKind.Utc).Ticks;

    [Fact]
    public async Task Grain_timers_run_on_Tivos_timer_queue_and_a_session_plays_its_window_on_it()
    {
        using var directory = new TempDirectory();
        var store = await BeatStoreAsync(directory);
        await using var cluster = await ClusterAsync(1, store, silo => silo.AddTivoSessionStorage(new TivoOrleansOptions()));
        var services = cluster.GetSiloServiceProvider();
        var clock = services.GetRequiredService<GrainTimerClock>();
        Assert.Same(clock, services.GetRequiredService<IGrainRuntime>().TimeProvider); // what Orleans gives grains and their timers

        var observer = new CollectingObserver();
        var session = cluster.Client.GetGrain<IPlaybackGrain>($"timers-{Guid.NewGuid():n}");
        await StartAsync(session, cluster.Client.CreateObjectReference<IPlaybackObserver>(observer));
        Assert.True(clock.Count > 0, "the playing session's tick is set on the queue");

        // 10 events a second, handed on by the ticks: 20 within about 2 s, in order, none missing.
        await Eventually.WaitAsync(() => observer.Events.Count >= 20, "twenty events");
        var events = observer.Events;
        Assert.Equal(Enumerable.Range(1, events.Count).Select(i => (long)i), events.Select(e => e.Seq));
        await session.Stop();
    }

    [Fact]
    public async Task A_playing_session_carries_on_from_another_silo_when_its_silo_dies()
    {
        await using var run = await PlayingAsync("failover");
        var (cluster, session, observer, reference) = (run.Cluster, run.Session, run.Observer, run.Reference);
        await Eventually.WaitAsync(() => observer.Events.Count >= 10, "ten events before the failure");

        var statistics = await cluster.Client.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics();
        var host = statistics.Single(s => s.GrainId == session.GetGrainId()).SiloAddress;
        await cluster.KillSiloAsync(cluster.Silos.Single(s => s.SiloAddress.Equals(host)));

        // A participant reconnecting meanwhile had less (its last events were on its old socket): it joins with its last
        // seq and that event's mark (its gateway had it). Then the gateway calls back with the last event it received; the
        // session activates on the surviving silo from its record and continues right after the lower of the two.
        var last = observer.Events[^1];
        var mark = new ResumeMark(last.Seq, last.Pass, last.Ticks, 1, last.DueTicks);
        var had = observer.Events[^6];
        var reconnecting = new CollectingObserver();
        var reconnectingReference = cluster.Client.CreateObjectReference<IPlaybackObserver>(reconnecting);
        await Eventually.WaitAsync(async () =>
        {
            try
            {
                await session.GetState();
                return true;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                return false;
            }
        }, "the session to answer from the surviving silo", TimeSpan.FromSeconds(60));
        await session.Join("reconnecting", reconnectingReference, new JoinRequest(["beat"], LastSeq: had.Seq,
            Resume: new ResumeMark(had.Seq, had.Pass, had.Ticks, 1, had.DueTicks)));
        await session.Join("viewer", reference, new JoinRequest(["beat"], Renewal: true, Resume: mark));

        await Eventually.WaitAsync(async () => (await session.GetState()).Status == SessionStatus.Playing, "the restored session to play");
        var state = await session.GetState();
        Assert.Equal(Base, state.WindowStartTicks);
        Assert.Equal(Base + 60 * TimeSpan.TicksPerSecond, state.WindowEndTicks);

        await Eventually.WaitAsync(() => observer.Events.Count(e => e.Seq > last.Seq) >= 10, "ten events from the surviving silo");
        var after = observer.Events.Where(e => e.Seq > last.Seq).ToList();
        // Right after the last event received: the next seq, the next counter, nothing skipped and nothing twice.
        Assert.Equal(last.Seq + 1, after[0].Seq);
        Assert.Equal(last.Ticks + TimeSpan.TicksPerSecond / 10, after[0].Ticks);
        Assert.Equal(Enumerable.Range(0, after.Count).Select(i => last.Ticks + (i + 1) * TimeSpan.TicksPerSecond / 10), after.Select(e => e.Ticks));
        Assert.NotEqual(host, (await cluster.Client.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics()).Single(s => s.GrainId == session.GetGrainId()).SiloAddress);

        // The reconnecting participant misses nothing and is told of no gap (before: a gap of the five events only the
        // others had). Its gateway keeps its catch-up and drops the shared copies below the catch-up's JoinedAtSeq
        // (DeliveryQueue); the events it had come again to the others, whose gateway drops them (SharedStreamTrackerTests).
        await Eventually.WaitAsync(() => reconnecting.Events.Count(e => e.Seq > had.Seq) >= 20, "the reconnecting participant's events");
        var batches = reconnecting.Received.ToList();
        var catchUp = batches.Single(b => b.Target == "reconnecting");
        var delivered = catchUp.Events.Concat(batches.Where(b => b.Target is null).SelectMany(b => b.Events).Where(e => e.Seq >= catchUp.JoinedAtSeq)).ToList();
        Assert.Equal(reconnecting.Events.Max(e => e.Seq), delivered[^1].Seq); // before: nothing after the catch-up (its
        // JoinedAtSeq was the restored session's seq reservation, 100,000 ahead, so every continuing event was dropped)
        Assert.Equal(Enumerable.Range(1, delivered.Count).Select(i => had.Seq + i), delivered.Select(e => e.Seq));
        Assert.Equal(Enumerable.Range(1, delivered.Count).Select(i => had.Ticks + i * TimeSpan.TicksPerSecond / 10), delivered.Select(e => e.Ticks));
        Assert.Empty(reconnecting.Gaps);
    }

    [Fact]
    public async Task A_session_handed_over_by_its_stopping_silo_continues_at_once_on_the_silo_it_names()
    {
        await using var run = await PlayingAsync("handover");
        var (cluster, session, observer, reference) = (run.Cluster, run.Session, run.Observer, run.Reference);
        await Eventually.WaitAsync(() => observer.Events.Count >= 10, "ten events before the handover");
        var host = (await cluster.Client.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics()).Single(s => s.GrainId == session.GetGrainId()).SiloAddress;

        // What a stopping silo does to each of its sessions; the gateway hears of it once the old activation is gone.
        await session.HandOver();
        await Eventually.WaitAsync(() => observer.Handovers.Count == 1, "the handover signal");
        var successor = observer.Handovers[0].Successor;
        Assert.NotNull(successor);
        Assert.NotEqual(host, successor);

        // The gateway calls back on the silo named (a placement hint), with the last event it received. Every gateway the
        // session told is back, so it resumes within that call rather than after the resume window.
        var last = observer.Events[^1];
        RequestContext.Set(Orleans.Runtime.Placement.IPlacementDirector.PlacementHintKey, successor);
        await session.Join("viewer", reference, new JoinRequest(["beat"], Renewal: true, Resume: new ResumeMark(last.Seq, last.Pass, last.Ticks, 1, last.DueTicks)));
        RequestContext.Clear();
        Assert.Equal(SessionStatus.Playing, (await session.GetState()).Status);
        Assert.Equal(successor, (await cluster.Client.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics()).Single(s => s.GrainId == session.GetGrainId()).SiloAddress);

        await Eventually.WaitAsync(() => observer.Events.Count(e => e.Seq > last.Seq) >= 10, "ten events from the successor");
        var after = observer.Events.Where(e => e.Seq > last.Seq).ToList();
        Assert.Equal(Enumerable.Range(0, after.Count).Select(i => last.Ticks + (i + 1) * TimeSpan.TicksPerSecond / 10), after.Select(e => e.Ticks));
        Assert.Equal(Enumerable.Range(0, after.Count).Select(i => last.Seq + 1 + i), after.Select(e => e.Seq));
    }

    [Fact]
    public async Task A_session_persisted_as_json_by_an_earlier_version_carries_on_after_the_upgrade()
    {
        // Until 4 Dec 2026 session records were written with the storage provider's default serializer (JSON, through
        // Newtonsoft.Json); they are now written with Orleans' own. A cluster upgraded while sessions played reads the old
        // records: the session continues right after the last event its viewer had.
        var connectionString = await postgres.Server.CreateDatabaseAsync("upgrade");
        using var directory = new TempDirectory();
        var store = await BeatStoreAsync(directory);
        var orleans = Persisting(connectionString);
        var session = $"upgrade-{Guid.NewGuid():n}";
        SessionEvent last;
        await using (var before = await ClusterAsync(1, store, silo =>
        {
            silo.AddTivoSessionStorage(orleans);
            silo.Services.AddOptions<AdoNetGrainStorageOptions>(PlaybackGrain.StorageName)
                .PostConfigure<IGrainStorageSerializer>((o, json) => o.GrainStorageSerializer = json); // the version before
        }))
        {
            var observer = new CollectingObserver();
            await StartAsync(before.Client.GetGrain<IPlaybackGrain>(session), before.Client.CreateObjectReference<IPlaybackObserver>(observer));
            await Eventually.WaitAsync(() => observer.Events.Count >= 10, "ten events before the upgrade");
            last = observer.Events[^1];
            Assert.Equal((byte)'{', (await StoredRecordAsync(connectionString))[0]); // what the version before wrote: JSON
        }

        await using var after = await ClusterAsync(1, store, silo => silo.AddTivoSessionStorage(orleans));
        var grain = after.Client.GetGrain<IPlaybackGrain>(session);
        var state = await grain.GetState(); // activates the session from the JSON record
        Assert.Equal(Base, state.WindowStartTicks);
        Assert.Equal(Base + 60 * TimeSpan.TicksPerSecond, state.WindowEndTicks);
        var resumed = new CollectingObserver();
        await grain.Join("viewer", after.Client.CreateObjectReference<IPlaybackObserver>(resumed),
            new JoinRequest(["beat"], Renewal: true, Resume: new ResumeMark(last.Seq, last.Pass, last.Ticks, 1, last.DueTicks)));
        await Eventually.WaitAsync(() => resumed.Events.Count(e => e.Seq > last.Seq) >= 10, "ten events after the upgrade");
        var events = resumed.Events.Where(e => e.Seq > last.Seq).ToList();
        Assert.Equal(Enumerable.Range(0, events.Count).Select(i => last.Seq + 1 + i), events.Select(e => e.Seq));
        Assert.Equal(Enumerable.Range(0, events.Count).Select(i => last.Ticks + (i + 1) * TimeSpan.TicksPerSecond / 10), events.Select(e => e.Ticks));
        // Its next record is written with Orleans' serializer, which reads back (the session played on from it above).
        Assert.NotEqual((byte)'{', (await StoredRecordAsync(connectionString))[0]);
    }

    /// <summary>Two silos persisting sessions on a fresh PostgreSQL database, and a session playing 10 events/s of a
    /// 60-s window to one observer (the gateway's part).</summary>
    private async Task<PlayingRun> PlayingAsync(string name)
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync(name);
        var directory = new TempDirectory();
        var store = await BeatStoreAsync(directory);
        var orleans = Persisting(connectionString);
        var cluster = await ClusterAsync(2, store, silo => silo.AddTivoSessionStorage(orleans));

        var observer = new CollectingObserver();
        var reference = cluster.Client.CreateObjectReference<IPlaybackObserver>(observer);
        var session = cluster.Client.GetGrain<IPlaybackGrain>($"{name}-{Guid.NewGuid():n}");
        await StartAsync(session, reference);
        return new PlayingRun(cluster, directory, session, observer, reference);
    }

    private static TivoOrleansOptions Persisting(string connectionString) =>
        new() { Persistence = PersistenceKind.AdoNet, PersistenceConnectionString = connectionString, CreatePersistenceSchema = true };

    /// <summary>A channel "beat" of 600 events, 10 per second from <see cref="Base"/>.</summary>
    private static async Task<IEventStore> BeatStoreAsync(TempDirectory directory)
    {
        var store = new SqliteEventStore(Options.Create(new EmbeddedStoreOptions { Path = directory.File("beat.db"), SeedDemoData = false }), NullLogger<SqliteEventStore>.Instance);
        await store.AppendAsync("beat", [.. Enumerable.Range(0, 600).Select(i => new StoredEvent(Base + i * TimeSpan.TicksPerSecond / 10, $"{{\"i\":{i}}}"))], CancellationToken.None);
        return store;
    }

    /// <summary>Silos over <paramref name="store"/> with the session storage <paramref name="storage"/> registers.</summary>
    private static async Task<InProcessTestCluster> ClusterAsync(short silos, IEventStore store, Action<ISiloBuilder> storage)
    {
        var builder = new InProcessTestClusterBuilder(silos);
        builder.Options.ServiceId = "tivo"; // records are keyed by the service: the upgraded cluster is the same service
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.AddSingleton(store);
            storage(silo);
            silo.Services.AddTivoGrainServices(new ConfigurationBuilder().Build());
            // A silo that dies hands nothing over. KillSiloAsync stops the silo with a cancelled token, and its sessions
            // sometimes still wrote a handover mark first (then the restored session waited only an eighth of the resume
            // window, 125 ms, and on a loaded machine went on before the test's joins: 1 of 2 full runs of the suite) and
            // sometimes not: without the stopping silo's handover the kill is a death every time. The handover test
            // calls HandOver itself.
            silo.Services.Remove(silo.Services.Single(d => d.ImplementationType == typeof(SessionHandover)));
            // The restored session waits this long for its gateways' marks (default 1 s): the test's joins come after
            // the call that activates it, which on a loaded machine can take longer than a second.
            silo.Services.PostConfigure<PlaybackOptions>(o => o.ResumeWindow = TimeSpan.FromSeconds(5));
        });
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    private static async Task StartAsync(IPlaybackGrain session, IPlaybackObserver viewer)
    {
        await session.Join("viewer", viewer, new JoinRequest(["beat"]));
        var played = await session.Play(new PlayRequest(["beat"], Base, Base + 60 * TimeSpan.TicksPerSecond, 1, false, null, null, null));
        Assert.True(played.Ok, played.ErrorMessage);
    }

    /// <summary>The one session record in the database, as stored.</summary>
    private static async Task<byte[]> StoredRecordAsync(string connectionString)
    {
        await using var connection = new Npgsql.NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT payloadbinary FROM orleansstorage", connection);
        return (byte[])(await command.ExecuteScalarAsync())!;
    }

    private sealed record PlayingRun(InProcessTestCluster Cluster, TempDirectory Directory, IPlaybackGrain Session, CollectingObserver Observer, IPlaybackObserver Reference) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Cluster.DisposeAsync();
            Directory.Dispose();
        }
    }

    private sealed class CollectingObserver : IPlaybackObserver
    {
        private readonly ConcurrentQueue<SessionEvent> _events = new();
        private readonly ConcurrentQueue<HandoverSignal> _handovers = new();

        public IReadOnlyList<SessionEvent> Events => [.. _events.OrderBy(e => e.Seq)];

        public IReadOnlyList<HandoverSignal> Handovers => [.. _handovers];

        public List<GapSignal> Gaps { get; } = [];

        public ConcurrentQueue<PlaybackBatch> Received { get; } = new();

        public Task OnBatch(PlaybackBatch batch)
        {
            foreach (var e in batch.Events)
            {
                _events.Enqueue(e);
            }

            foreach (var h in batch.Signals.OfType<HandoverSignal>())
            {
                _handovers.Enqueue(h);
            }

            Received.Enqueue(batch);
            lock (Gaps)
            {
                Gaps.AddRange(batch.Signals.OfType<GapSignal>());
            }

            return Task.CompletedTask;
        }
    }
}
