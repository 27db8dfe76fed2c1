using System.Diagnostics.Tracing;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;

namespace Tivo.Bench;

/// <summary>One garbage collection of a process (the gateway, or the benchmark's driver) in a row's counted window: when it
/// started (seconds from the window's start, the same seconds as the row's p99 by second), its generation, how long the
/// runtime held the process's threads for it (from the suspension before it to the restart after it), how much of that went to suspending them (each thread must
/// reach a safe point) and the bytes it promoted.</summary>
internal sealed record ProcessCollection(double AtSeconds, int Generation, double PausedMs, double SuspendingMs, double PromotedMb)
{
    public override string ToString() =>
        FormattableString.Invariant($"gen{Generation} at {AtSeconds:F1} s, {PausedMs:F1} ms ({SuspendingMs:F1} ms of it suspending the threads; {PromotedMb:F1} MB promoted)");
}

/// <summary>
/// A process's garbage collections over one row — the gateway's, or the benchmark driver's own — read through the runtime's
/// event pipe (the GC keyword at the informational level: a handful of events per collection, nothing per allocation), so
/// that a row can say in which of its seconds the process was paused and for how long — a second whose p99 stands out either has one or does not. The
/// runtime's metrics give only the count and the total pause.
/// </summary>
internal sealed class ProcessCollections
{
    /// <summary>The runtime provider's GC keyword.</summary>
    internal const long GcKeyword = 0x1;

    private readonly EventPipeSession _session;
    private readonly Task _reading;
    private readonly List<(DateTime Start, int Generation, double PausedMs, double SuspendingMs, long Promoted)> _collections = new();

    private ProcessCollections(EventPipeSession session)
    {
        _session = session;
        // Its own thread: the reader blocks for the whole row, and on the thread pool it held one of the driver's two (on two
        // cores) — the driver's own listing made two, and its sessions' receives waited up to 2 s for a thread.
        _reading = Task.Factory.StartNew(Read, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>Starts listening to the process <paramref name="processId"/>; null (and a warning) when its diagnostics port does
    /// not answer: the row goes on without these figures.</summary>
    public static ProcessCollections? Start(int processId)
    {
        try
        {
            var session = new DiagnosticsClient(processId).StartEventPipeSession(
                [new EventPipeProvider("Microsoft-Windows-DotNETRuntime", EventLevel.Informational, GcKeyword)], requestRundown: false);
            return new ProcessCollections(session);
        }
        catch (Exception ex) when (ex is ServerNotAvailableException or UnsupportedCommandException or TimeoutException or IOException)
        {
            Console.WriteLine($"  warning: the gateway's collections are not listed for this row ({ex.Message})");
            return null;
        }
    }

    private void Read()
    {
        using var source = new EventPipeEventSource(_session.EventStream);
        DateTime? suspended = null;
        source.Clr.GCStart += e => _collections.Add((e.TimeStamp.ToUniversalTime(), e.Depth, 0, 0, 0));
        double suspending = 0;
        source.Clr.GCSuspendEEStart += e => suspended = e.TimeStamp;
        source.Clr.GCSuspendEEStop += e => suspending = suspended is { } from ? (e.TimeStamp - from).TotalMilliseconds : 0;
        source.Clr.GCRestartEEStop += e =>
        {
            // A pause belongs to the collection that started inside it (a blocking one), or to the background collection
            // running when it came.
            if (suspended is { } from && _collections.Count > 0)
            {
                var last = _collections[^1];
                _collections[^1] = last with { PausedMs = last.PausedMs + (e.TimeStamp - from).TotalMilliseconds, SuspendingMs = last.SuspendingMs + suspending };
            }

            (suspended, suspending) = (null, 0);
        };
        source.Clr.GCHeapStats += e =>
        {
            // What the collection promoted out of the generations it collected (a young collection during a background one
            // reports the older generations' figures too).
            if (_collections.Count > 0 && _collections[^1] is var last)
            {
                var promoted = e.TotalPromotedSize0 + (last.Generation >= 1 ? e.TotalPromotedSize1 : 0) + (last.Generation >= 2 ? e.TotalPromotedSize2 + e.TotalPromotedSize3 : 0);
                _collections[^1] = last with { Promoted = promoted };
            }
        };
        source.Process();
    }

    /// <summary>Stops listening; the collections that started at <paramref name="from"/> (UTC) or later, in order.</summary>
    public async Task<IReadOnlyList<ProcessCollection>> StopAsync(DateTime from)
    {
        await _session.StopAsync(CancellationToken.None);
        await _reading;
        _session.Dispose();
        return _collections
            .Where(c => c.Start >= from)
            .Select(c => new ProcessCollection((c.Start - from).TotalSeconds, c.Generation, c.PausedMs, c.SuspendingMs, c.Promoted / 1e6))
            .ToList();
    }
}
