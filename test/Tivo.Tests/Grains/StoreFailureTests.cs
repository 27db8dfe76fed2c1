using Microsoft.Extensions.DependencyInjection;
using Tivo.GrainInterfaces;
using Xunit;

namespace Tivo.Tests.Grains;

/// <summary>An unreachable store as the grains' callers see it: the contract's <see cref="StoreUnavailableGrainException"/>,
/// from the grains that read the store, and nothing in the way of the calls that do not.</summary>
public sealed class StoreFailureTests(PlaybackClusterFixture fixture) : IClassFixture<PlaybackClusterFixture>
{
    private const string Reason = "connection refused (the test's store is away)";

    [Fact]
    public async Task Each_grain_that_reads_an_unreachable_store_fails_with_store_unavailable_naming_the_cause_and_answers_once_it_is_back()
    {
        var client = fixture.Cluster.Client;
        var channel = client.GetGrain<IChannelGrain>("outage");
        var catalog = client.GetGrain<ICatalogGrain>(0);
        var window = new ExportRequest("outage", 0, TimeSpan.TicksPerDay, null, 0, 10);
        fixture.Store.Unavailable = Reason;
        try
        {
            Assert.Contains(Reason, (await Assert.ThrowsAsync<StoreUnavailableGrainException>(() => channel.GetChunks(0, 1))).Message);
            Assert.Contains(Reason, (await Assert.ThrowsAsync<StoreUnavailableGrainException>(() => channel.GetHistogram(0, 60, 1))).Message);
            Assert.Contains(Reason, (await Assert.ThrowsAsync<StoreUnavailableGrainException>(() => catalog.FindChannel("outage"))).Message);
            Assert.Contains(Reason, (await Assert.ThrowsAsync<StoreUnavailableGrainException>(async () =>
            {
                await foreach (var _ in client.GetGrain<IExportGrain>(Guid.NewGuid()).Read(window))
                {
                }
            })).Message);
        }
        finally
        {
            fixture.Store.Unavailable = null;
        }

        Assert.Single(await channel.GetChunks(0, 1));
        Assert.Null(await catalog.FindChannel("outage"));
        await foreach (var _ in client.GetGrain<IExportGrain>(Guid.NewGuid()).Read(window))
        {
            Assert.Fail("the channel has no events");
        }
    }

    [Fact]
    public void No_silo_wide_grain_call_filter_is_registered_so_timer_ticks_and_observer_pushes_go_without_one()
    {
        // A silo-wide filter made Orleans build an invoker object for every grain call, timer tick and gateway observer push
        // (5.7% of the embedded gateway's allocations at 1,000 plain sessions); the grains that read the store filter their own calls.
        var silo = fixture.Cluster.Silos[0].SiloHost.Services;
        Assert.Empty(silo.GetServices<IIncomingGrainCallFilter>());
        Assert.True(typeof(IIncomingGrainCallFilter).IsAssignableFrom(typeof(Tivo.Grains.ChannelGrain)));
        Assert.True(typeof(IIncomingGrainCallFilter).IsAssignableFrom(typeof(Tivo.Grains.CatalogGrain)));
    }
}
