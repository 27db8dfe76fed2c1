using System.Diagnostics.Metrics;
using Tivo.Grains.Caching;
using Tivo.Grains.Playback;

namespace Tivo.Grains.Diagnostics;

/// <summary>
/// The silo side's metrics (meter <see cref="MeterName"/>): store queries, chunk cache hits, misses and
/// size, active sessions, events pushed, the holds of backpressure, and what the sessions' replay logs hold. Exported by whatever OpenTelemetry pipeline the host
/// configures; the gateway serves them at <c>/metrics</c> in the embedded mode.
/// </summary>
public sealed class TivoGrainMetrics
{
    public const string MeterName = "Tivo";

    private readonly Counter<long> _storeQueries;
    private readonly Counter<long> _cacheHits;
    private readonly Counter<long> _cacheMisses;
    private readonly UpDownCounter<long> _sessions;
    private readonly Counter<long> _eventsPushed;
    private readonly Counter<long> _holds;
    private readonly Counter<double> _held;

    public TivoGrainMetrics(IMeterFactory meters, ChunkCache cache, ReplayBudget replay)
    {
        var meter = meters.Create(MeterName);
        _storeQueries = meter.CreateCounter<long>("tivo.store.queries", "{query}", "Store reads issued by channel grains (one per run of missing chunks).");
        _cacheHits = meter.CreateCounter<long>("tivo.cache.hits", "{chunk}", "Chunks served from the silo's chunk cache.");
        _cacheMisses = meter.CreateCounter<long>("tivo.cache.misses", "{chunk}", "Chunks not in the cache and not already being read.");
        _sessions = meter.CreateUpDownCounter<long>("tivo.sessions.active", "{session}", "Playback sessions active on this silo.");
        _eventsPushed = meter.CreateCounter<long>("tivo.events.pushed", "{event}", "Events pushed by sessions to their gateways (once per gateway).");
        _holds = meter.CreateCounter<long>("tivo.sessions.holds", "{hold}", "Times sessions held their clocks because their gateways ran late (backpressure).");
        _held = meter.CreateCounter<double>("tivo.sessions.held", "s", "Clock time sessions were held because their gateways ran late (backpressure), summed over sessions.");
        meter.CreateObservableGauge("tivo.cache.size", () => cache.Bytes, "By", "Estimated bytes held by the silo's chunk cache.");
        meter.CreateObservableGauge("tivo.cache.limit", () => cache.MaxBytes, "By", "The chunk cache's configured bound (Tivo:Cache:MaxBytes).");
        meter.CreateObservableGauge("tivo.cache.chunks", () => (long)cache.Count, "{chunk}", "Chunks held by the silo's chunk cache.");
        meter.CreateObservableGauge("tivo.replay.size", () => replay.Bytes, "By", "Estimated bytes the sessions' replay logs on this silo hold together (for clients resuming with lastSeq).");
        meter.CreateObservableGauge("tivo.replay.pool", () => replay.PooledBytes, "By",
            "Emptied replay-log segments this silo keeps for new sessions' logs (at most an eighth of Tivo:Playback:ReplayMemoryLimit; half of what no session took is given back every minute).");
        meter.CreateObservableGauge("tivo.replay.limit", () => replay.Limit, "By", "The silo-wide bound on the replay logs (Tivo:Playback:ReplayMemoryLimit; 0: none).");

        // A zero for every series from the start (the host makes this at startup): a scrape of a fresh silo shows them all,
        // and rate() over a counter's first increase has a point before it.
        _storeQueries.Add(0);
        _cacheHits.Add(0);
        _cacheMisses.Add(0);
        _sessions.Add(0);
        _eventsPushed.Add(0);
        _holds.Add(0);
        _held.Add(0);
    }

    public void StoreQuery() => _storeQueries.Add(1);

    public void CacheHit() => _cacheHits.Add(1);

    public void CacheMiss() => _cacheMisses.Add(1);

    public void SessionActivated() => _sessions.Add(1);

    public void SessionDeactivated() => _sessions.Add(-1);

    /// <summary>A session held its clock for <paramref name="held"/> because its gateways ran late.</summary>
    public void SessionHeld(TimeSpan held)
    {
        _holds.Add(1);
        _held.Add(held.TotalSeconds);
    }

    public void EventsPushed(int count)
    {
        if (count > 0)
        {
            _eventsPushed.Add(count);
        }
    }
}
