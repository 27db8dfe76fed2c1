using Microsoft.Extensions.Logging;
using Tivo.GrainInterfaces;
using Tivo.Stores;

namespace Tivo.Grains;

/// <summary>
/// The one place a store failure becomes what callers across the cluster see: a grain call that fails with the
/// stores' <see cref="StoreUnavailableException"/> (not part of the grain contracts) leaves the silo as a
/// <see cref="StoreUnavailableGrainException"/>, which the gateway answers as <c>store_unavailable</c>. The grains that
/// call a store are their own incoming-call filters through <see cref="TranslateAsync"/> (<see cref="ChannelGrain"/>,
/// <see cref="CatalogGrain"/>; <see cref="ExportGrain"/> translates as it streams, where no filter sees the failure).
/// It was a silo-wide filter until 3 Dec 2026: that ran for every grain call, timer tick and gateway observer push,
/// each of which then cost an invoker object (5.7% of the embedded gateway's allocations at 1,000 plain sessions,
/// docs/performance.md), though only these grains can meet the failure.
/// </summary>
internal static partial class StoreFailures
{
    public static async Task TranslateAsync(IIncomingGrainCallContext context, ILogger logger)
    {
        try
        {
            await context.Invoke();
        }
        catch (StoreUnavailableException ex)
        {
            throw Translated(ex, logger, context.TargetId.ToString(), context.MethodName);
        }
    }

    /// <summary>Logs <paramref name="failure"/> (met while <paramref name="grain"/> answered <paramref name="method"/>) and
    /// gives what the caller is to see.</summary>
    public static StoreUnavailableGrainException Translated(StoreUnavailableException failure, ILogger logger, string grain, string method)
    {
        LogStoreFailed(logger, grain, method, failure.Message);
        return new StoreUnavailableGrainException(failure.Message);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The store failed while {Grain} answered {Method}: {Reason}")]
    private static partial void LogStoreFailed(ILogger logger, string grain, string method, string reason);
}
