using Microsoft.Extensions.Logging;
using Tivo.GrainInterfaces;
using Tivo.Stores;

namespace Tivo.Grains;

/// <summary>
/// The one place a store failure becomes what callers across the cluster see: a grain call that fails with the
/// stores' <see cref="StoreUnavailableException"/> (not part of the grain contracts) leaves the silo as a
/// <see cref="StoreUnavailableGrainException"/>, which the gateway answers as <c>store_unavailable</c>. Registered
/// by <c>AddTivoSilo</c> for every grain call (grain code catches nothing of it).
/// </summary>
public sealed partial class StoreFailureGrainCallFilter(ILogger<StoreFailureGrainCallFilter> logger) : IIncomingGrainCallFilter
{
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        try
        {
            await context.Invoke();
        }
        catch (StoreUnavailableException ex)
        {
            LogStoreFailed(logger, context.TargetId.ToString(), context.MethodName, ex.Message);
            throw new StoreUnavailableGrainException(ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The store failed while {Grain} answered {Method}: {Reason}")]
    private static partial void LogStoreFailed(ILogger logger, string grain, string method, string reason);
}
