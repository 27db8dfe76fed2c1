using Tivo.Events;
using Amazon.DynamoDBv2.Model;
using Microsoft.Extensions.Logging.Abstractions;
using Tivo.Stores;
using Tivo.Stores.DynamoDB;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Stores;

/// <summary>DynamoDB with Tivo's key design (hour buckets) against the store contract, on dynalite.</summary>
[Collection(DynamoDBCollection.Name)]
public sealed class DynamoDBStoreContractTests(DynaliteServerFixture dynalite) : EventStoreContractTests
{
    private DynamoDBEventStore? _store;

    internal static DynamoDBStoreOptions Options(Tivo.Testing.DynaliteServer server, string? table = null) => new()
    {
        ServiceUrl = server.ServiceUrl,
        AccessKey = "local",
        SecretKey = "local",
        TableName = table ?? "t" + Guid.NewGuid().ToString("n")[..12],
    };

    protected override async Task<IEventStore> CreateStoreAsync()
    {
        var options = Options(dynalite.Server);
        _store = new DynamoDBEventStore(DynamoDBEventStore.CreateClient(options), options, NullLogger<DynamoDBEventStore>.Instance);
        await _store.CreateTableAsync(CancellationToken.None);
        return _store;
    }

    protected override Task DisposeStoreAsync()
    {
        _store?.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_window_across_hour_buckets_is_read_in_order_from_each_partition()
    {
        var events = Enumerable.Range(0, 50).Select(i => new StoredEvent(T0 + i * 17 * TimeSpan.TicksPerMinute, $"{{\"i\":{i}}}")).ToList();
        await Store.AppendAsync("hours", events, CancellationToken.None);
        var read = new List<StoredEvent>();
        await foreach (var e in Store.ReadAsync("hours", T0 + TimeSpan.TicksPerHour, T0 + 10 * TimeSpan.TicksPerHour, CancellationToken.None))
        {
            read.Add(e);
        }

        Assert.Equal(events.Where(e => e.Ticks >= T0 + TimeSpan.TicksPerHour && e.Ticks < T0 + 10 * TimeSpan.TicksPerHour).Select(e => e.Ticks), read.Select(e => e.Ticks));
    }

    [Fact]
    public async Task An_existing_table_with_iso_sort_keys_and_map_payloads_is_read_by_configuration()
    {
        var options = Options(dynalite.Server);
        options.PartitionKey = "device";
        options.SortKey = "at";
        options.SortKeyFormat = SortKeyFormats.Iso8601;
        options.BucketSeconds = 0;
        options.DataAttribute = "reading";
        Assert.True(new DynamoDBStoreOptionsValidator().Validate(null, options).Succeeded);
        using var store = new DynamoDBEventStore(DynamoDBEventStore.CreateClient(options), options, NullLogger<DynamoDBEventStore>.Instance);
        await store.CreateTableAsync(CancellationToken.None);
        using var client = DynamoDBEventStore.CreateClient(options);
        foreach (var (at, temp) in new[] { ("2021-06-01T12:00:01.0000000Z", "20.5"), ("2021-06-01T12:00:03.5000000Z", "21") })
        {
            await client.PutItemAsync(new PutItemRequest
            {
                TableName = options.TableName,
                Item = new()
                {
                    ["device"] = new AttributeValue { S = "boiler-1" },
                    ["at"] = new AttributeValue { S = at },
                    ["reading"] = new AttributeValue { M = new() { ["temp"] = new AttributeValue { N = temp }, ["unit"] = new AttributeValue { S = "C" } } },
                },
            });
        }

        var channels = await store.ListChannelsAsync(CancellationToken.None); // no extent items: found by one scan
        Assert.Equal("boiler-1", channels.Single().Name);
        Assert.Equal(2, channels.Single().Count);
        var read = new List<StoredEvent>();
        await foreach (var e in store.ReadAsync("boiler-1", T0, T0 + 10 * TimeSpan.TicksPerSecond, CancellationToken.None))
        {
            read.Add(e);
        }

        Assert.Equal([T0 + TimeSpan.TicksPerSecond, T0 + 35 * TimeSpan.TicksPerSecond / 10], read.Select(e => e.Ticks));
        AssertJson("{\"temp\":20.5,\"unit\":\"C\"}", read[0].Data);
    }

    [Fact]
    public async Task A_missing_table_is_store_unavailable_naming_the_setting()
    {
        var options = Options(dynalite.Server, "does-not-exist");
        using var store = new DynamoDBEventStore(DynamoDBEventStore.CreateClient(options), options, NullLogger<DynamoDBEventStore>.Instance);
        var error = await Assert.ThrowsAsync<StoreUnavailableException>(() => store.ListChannelsAsync(CancellationToken.None));
        Assert.Contains("Tivo:Store:TableName", error.Message, StringComparison.Ordinal);
    }
}
