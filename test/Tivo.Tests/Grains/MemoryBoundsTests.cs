using System.Globalization;
using Tivo.Grains;
using Tivo.Testing;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Grains;

/// <summary>The silo's memory bounds against the memory its process may use: a container of 1 GiB with the default bounds
/// (the cache 256 MiB, the replay logs 1 GiB and their pool 128 MiB) runs out of memory under load before any bound acts.</summary>
public sealed class MemoryBoundsTests
{
    private const long MiB = 1024 * 1024, GiB = 1024 * MiB;

    [Fact]
    public void The_defaults_fit_a_machine_and_not_a_container_of_one_gigabyte()
    {
        var defaults = (new CacheOptions().MaxBytes, new PlaybackOptions().ReplayMemoryLimit);
        Assert.Equal(1408 * MiB, MemoryBounds.Bounded(defaults.MaxBytes, defaults.ReplayMemoryLimit));
        Assert.Null(MemoryBounds.Check(defaults.MaxBytes, defaults.ReplayMemoryLimit, 16 * GiB));

        // A container limited to 1 GiB: the runtime's heap may use 75% of it.
        var warning = MemoryBounds.Check(defaults.MaxBytes, defaults.ReplayMemoryLimit, 768 * MiB);
        Assert.Equal(
            "Tivo:Cache:MaxBytes (256 MiB) and Tivo:Playback:ReplayMemoryLimit (1 GiB, with the 128 MiB of emptied segments it lets " +
            "the silo keep) add up to 1.4 GiB, more than half of the 768 MiB this process may use (its container's memory limit, " +
            "GCHeapHardLimit, or the machine's memory): under load it can run out of memory before these bounds act. Lower them " +
            "(docs/deployment.md, \"Sizing\").",
            warning);
    }

    [Fact]
    public void The_kubernetes_silos_bounds_fit_their_container()
    {
        // deploy/kubernetes/silo.yaml: 2 GiB limit (the heap may use 1.5 GiB), the cache 128 MiB, the replay logs 512 MiB.
        var silo = File.ReadAllText(Path.Combine(DynaliteServer.RepositoryRoot(), "deploy", "kubernetes", "silo.yaml"));
        Assert.Contains("limits: { memory: 2Gi }", silo, StringComparison.Ordinal);
        var cache = Setting(silo, "Tivo__Cache__MaxBytes");
        var replay = Setting(silo, "Tivo__Playback__ReplayMemoryLimit");
        Assert.Equal((128 * MiB, 512 * MiB), (cache, replay));
        Assert.Null(MemoryBounds.Check(cache, replay, 1536 * MiB));
        Assert.NotNull(MemoryBounds.Check(cache, replay, 768 * MiB)); // and would not fit the 1 GiB they had

        static long Setting(string yaml, string name)
        {
            var at = yaml.IndexOf($"name: {name}, value: \"", StringComparison.Ordinal);
            Assert.True(at >= 0, $"{name} is set in silo.yaml");
            var start = yaml.IndexOf('"', at) + 1;
            return long.Parse(yaml[start..yaml.IndexOf('"', start)], CultureInfo.InvariantCulture);
        }
    }

    [Fact]
    public void Without_a_silo_wide_replay_bound_the_warning_says_so_and_nothing_known_warns_of_nothing()
    {
        var warning = MemoryBounds.Check(256 * MiB, 0, 512 * MiB);
        Assert.NotNull(warning);
        Assert.Contains("Tivo:Playback:ReplayMemoryLimit is 0, so the logs themselves have no silo-wide bound", warning, StringComparison.Ordinal);
        Assert.Null(MemoryBounds.Check(256 * MiB, GiB, 0));
    }

    [Fact]
    public async Task A_server_whose_bounds_do_not_fit_its_memory_says_so_at_start()
    {
        // 1 PiB of replay logs: more than any machine this runs on has.
        await using var gateway = await GatewayProcess.StartAsync("--Tivo:Playback:ReplayMemoryLimit", (1L << 50).ToString(CultureInfo.InvariantCulture));
        await Eventually.WaitAsync(() => gateway.Output.Contains("add up to", StringComparison.Ordinal), "the warning in the log");
        Assert.Contains("Tivo:Playback:ReplayMemoryLimit (", gateway.Output, StringComparison.Ordinal);
        Assert.Contains("docs/deployment.md", gateway.Output, StringComparison.Ordinal);

        await using var fitting = await GatewayProcess.StartAsync();
        Assert.Equal(200, (int)(await fitting.Http.GetAsync("healthz")).StatusCode);
        Assert.DoesNotContain("add up to", fitting.Output, StringComparison.Ordinal);
    }
}
