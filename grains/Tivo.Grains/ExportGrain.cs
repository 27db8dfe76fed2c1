using Microsoft.Extensions.Logging;
using Tivo.Events;
using Tivo.GrainInterfaces;
using Tivo.Stores;

namespace Tivo.Grains;

/// <summary>
/// One export: reads the store directly, in time order, and hands rows on as the caller asks for them (Orleans
/// streams an <see cref="IAsyncEnumerable{T}"/> result in batches), so memory stays constant for any window.
/// </summary>
public sealed class ExportGrain(IEventStore store, ILogger<ExportGrain> logger) : Grain, IExportGrain
{
    public async IAsyncEnumerable<ChunkEvent> Read(ExportRequest request)
    {
        var cancellationToken = CancellationToken.None; // the caller disposing the enumeration ends it
        var from = request.AfterTicks is { } after ? Math.Max(request.FromTicks, after) : request.FromTicks;
        var skip = request.SkipAtAfter;
        var sent = 0L;
        await using var rows = store.ReadAsync(request.Channel, from, request.ToTicks, cancellationToken).GetAsyncEnumerator(cancellationToken);
        while (sent < request.Limit && await MoveNextAsync(rows))
        {
            var row = rows.Current;
            if (row.Ticks == request.AfterTicks && skip > 0)
            {
                skip--;
                continue;
            }

            sent++;
            yield return new ChunkEvent(row.Ticks, row.Data);
        }

        // Done with this export: the activation need not wait for the idle collection.
        DeactivateOnIdle();
    }

    /// <summary>The next row; a store failure leaves as <see cref="StoreUnavailableGrainException"/> (no call filter sees an
    /// enumeration's failures: they come after the call has returned).</summary>
    private async ValueTask<bool> MoveNextAsync(IAsyncEnumerator<StoredEvent> rows)
    {
        try
        {
            return await rows.MoveNextAsync();
        }
        catch (StoreUnavailableException ex)
        {
            throw StoreFailures.Translated(ex, logger, this.GetGrainId().ToString(), nameof(Read)); // the id only when it fails, not per row
        }
    }
}
