using Tivo.Grains.Playback;

namespace Tivo.Grains;

/// <summary>
/// What a session persists so that it outlives its silo, held directly as the grain's state: the plan as played,
/// the clock's anchor (absolute wall time, so the clock runs on while no silo holds the session), and counters
/// that must never go backwards. Written at every control and on the tick after any re-anchor; seq numbers are
/// reserved in blocks so a restored session never reuses one.
/// </summary>
[GenerateSerializer, Alias("tivo.PlaybackRecord.v2")]
public sealed class PlaybackRecord
{
    [Id(0)] public PlanSpec? Plan { get; set; }

    [Id(1)] public ClockAnchor? Clock { get; set; }

    [Id(2)] public long Epoch { get; set; }

    [Id(3)] public long SeqReservedUntil { get; set; } = 1;

    [Id(4)] public long Order { get; set; }

    /// <summary>Written when the activation is shut down (a silo's rolling update): the last event it handed on, so the
    /// next activation continues right after it instead of from where the clock would be.</summary>
    [Id(5)] public GrainInterfaces.ResumeMark? Resume { get; set; }

    /// <summary>With <see cref="Resume"/>: the newest events handed on, so the next activation can still fill a gateway's
    /// hole (a gateway whose last pushes were lost on the way, or which called back after the session had resumed).</summary>
    [Id(6)] public System.Collections.Immutable.ImmutableArray<GrainInterfaces.SessionEvent> Tail { get; set; } = [];

    /// <summary>With <see cref="Resume"/>: how many gateways were told of the handover (the next activation resumes as soon
    /// as each has called back with its mark).</summary>
    [Id(7)] public int HandoverGateways { get; set; }
}
