using Tivo.Events;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Tivo.Stores;
using Tivo.Stores.Embedded;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Stores;

/// <summary>The embedded SQLite store against the store contract, on a fresh file.</summary>
public sealed class EmbeddedStoreContractTests : EventStoreContractTests
{
    private readonly TempDirectory _directory = new();

    protected override Task<IEventStore> CreateStoreAsync() =>
        Task.FromResult<IEventStore>(new SqliteEventStore(
            Options.Create(new EmbeddedStoreOptions { Path = _directory.File("contract.db"), SeedDemoData = false }),
            NullLogger<SqliteEventStore>.Instance));

    protected override Task DisposeStoreAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _directory.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task An_unreadable_file_is_reported_as_store_unavailable()
    {
        var folderAsFile = _directory.File("not-a-db");
        Directory.CreateDirectory(folderAsFile);
        var store = new SqliteEventStore(Options.Create(new EmbeddedStoreOptions { Path = folderAsFile }), NullLogger<SqliteEventStore>.Instance);
        var error = await Assert.ThrowsAsync<StoreUnavailableException>(() => store.ListChannelsAsync(CancellationToken.None));
        Assert.Contains(folderAsFile, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_demo_data_set_is_deterministic_and_shaped_for_playback()
    {
        var first = DemoData.Generate().ToDictionary(c => c.Channel, c => c.Events);
        var second = DemoData.Generate().ToDictionary(c => c.Channel, c => c.Events);
        Assert.Equal(first.Keys, second.Keys);
        foreach (var (channel, events) in first)
        {
            Assert.Equal(events, second[channel]);
            Assert.True(events.Zip(events.Skip(1)).All(p => p.First.Ticks <= p.Second.Ticks), $"{channel} is in time order");
        }

        Assert.True(first.Count >= 3);
        var taxi = first["taxi"];
        Assert.True(new TimeSpan(taxi[^1].Ticks - taxi[0].Ticks) >= TimeSpan.FromHours(24));

        // Daily rhythm: the evening rush is far busier than 04:00.
        static int InHour(IReadOnlyList<StoredEvent> events, int hour) =>
            events.Count(e => new DateTime(e.Ticks, DateTimeKind.Utc) is { Day: 15 } d && d.Hour == hour);
        Assert.True(InHour(taxi, 18) > 3 * InHour(taxi, 4));

        // Quiet gap: the sensor outage, and no trades on Saturday.
        var outage = new DateTime(2016, 1, 15, 4, 0, 0, DateTimeKind.Utc).Ticks;
        Assert.DoesNotContain(first["sensors"], e => Math.Abs(e.Ticks - outage) < TimeSpan.TicksPerHour);
        Assert.DoesNotContain(first["trades"], e => new DateTime(e.Ticks, DateTimeKind.Utc).DayOfWeek == DayOfWeek.Saturday);

        // Payloads a visualization can draw: numbers, categories, coordinates.
        Assert.Contains("\"lat\":", taxi[0].Data, StringComparison.Ordinal);
        Assert.Contains("\"zone\":", taxi[0].Data, StringComparison.Ordinal);
    }
}
