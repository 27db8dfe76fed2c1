namespace Tivo.GrainInterfaces;

/// <summary>
/// Reads a window of one channel's stored events for export (<c>GET /channels/{channel}/events</c>), straight
/// from the store, without a session or the chunk cache, streamed in batches. Key: a new id per export, so a long
/// export occupies an activation of its own and never holds up a channel's playback.
/// </summary>
[Alias("tivo.IExportGrain")]
public interface IExportGrain : IGrainWithGuidKey
{
    /// <summary>The rows of <see cref="ExportRequest"/> in time order (store order for equal times).</summary>
    /// <exception cref="StoreUnavailableGrainException">The store failed; rows already returned stay valid.</exception>
    [Alias("Read")]
    IAsyncEnumerable<ChunkEvent> Read(ExportRequest request);
}

/// <summary>What to export: the window <c>[FromTicks, ToTicks)</c> of <see cref="Channel"/>, resuming after a cursor
/// (rows at exactly <see cref="AfterTicks"/> are skipped up to <see cref="SkipAtAfter"/> of them), at most
/// <see cref="Limit"/> rows.</summary>
[GenerateSerializer, Immutable, Alias("tivo.ExportRequest")]
public sealed record ExportRequest(
    [property: Id(0)] string Channel,
    [property: Id(1)] long FromTicks,
    [property: Id(2)] long ToTicks,
    [property: Id(3)] long? AfterTicks,
    [property: Id(4)] int SkipAtAfter,
    [property: Id(5)] long Limit);
