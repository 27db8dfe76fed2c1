using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;
using Tivo.Grains;
using Tivo.Silo.Hosting;
using Tivo.Stores;
using Tivo.Stores.Embedded;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Grains;

/// <summary>
/// One in-process Orleans silo whose grain timers run on a <see cref="FakeTimeProvider"/>, over a
/// real SQLite store (wrapped to count reads) holding <see cref="GrainTestData"/>. Chunks are one
/// second long so short windows cross many chunk boundaries.
/// </summary>
public sealed class PlaybackClusterFixture : IAsyncLifetime
{
    private readonly TempDirectory _directory = new();

    /// <summary>A small replay log bound, so a test can play past it.</summary>
    public const long ReplayBytes = 4096;

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));

    internal CountingEventStore Store { get; private set; } = null!;

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var sqlite = new SqliteEventStore(
            Options.Create(new EmbeddedStoreOptions { Path = _directory.File("grains.db"), SeedDemoData = false }),
            NullLogger<SqliteEventStore>.Instance);
        await GrainTestData.WriteAsync(sqlite);
        Store = new CountingEventStore(sqlite);

        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.AddSingleton<IEventStore>(Store);
            silo.Services.AddTivoGrainServices(new ConfigurationBuilder().Build());
            silo.AddMemoryGrainStorage(PlaybackGrain.StorageName);
            silo.Services.PostConfigure<CacheOptions>(o => o.ChunkSeconds = 1);
            silo.Services.PostConfigure<PlaybackOptions>(o => o.ReplayBytes = ReplayBytes);
            silo.Services.AddSingleton(Time);
            silo.Services.Replace(ServiceDescriptor.Singleton<TimeProvider>(sp => sp.GetRequiredService<FakeTimeProvider>()));
            silo.Services.UseTimeProviderForBackgroundAreas(TimeProvider.System);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        _directory.Dispose();
    }
}
