using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Tivo.Stores.Embedded;

/// <summary>Creates the embedded schema at start and seeds the demo data set into an empty file.</summary>
internal sealed partial class EmbeddedStoreInitializer(
    SqliteEventStore store,
    IOptions<EmbeddedStoreOptions> options,
    ILogger<EmbeddedStoreInitializer> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await store.InitializeAsync(cancellationToken);
        if (!options.Value.SeedDemoData || !await store.IsEmptyAsync(cancellationToken))
        {
            return;
        }

        var stopwatch = Stopwatch.StartNew();
        var total = 0;
        foreach (var (channel, events) in DemoData.Generate())
        {
            await store.AppendAsync(channel, events, cancellationToken);
            total += events.Count;
        }

        LogSeeded(logger, total, store.FilePath, stopwatch.ElapsedMilliseconds);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Seeded {Count} demo events into {Path} in {Elapsed} ms")]
    private static partial void LogSeeded(ILogger logger, int count, string path, long elapsed);
}
