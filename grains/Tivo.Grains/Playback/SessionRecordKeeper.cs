using Tivo.GrainInterfaces;

namespace Tivo.Grains.Playback;

/// <summary>
/// A session's persisted record (<see cref="PlaybackRecord"/>: the plan's spec, the clock's anchor, the counters and a
/// handover's mark) and its seq reservation: every write reserves the next block of seqs, so a session restored without a
/// mark never reuses one. Written at every control, on the tick after any other re-anchor, and before a block runs out.
/// </summary>
internal sealed class SessionRecordKeeper(IPersistentState<PlaybackRecord> record)
{
    /// <summary>Seqs reserved per write.</summary>
    public const long SeqBlock = 100_000;

    /// <summary>The newest events a handover writes with its mark: at most this many...</summary>
    public const int HandoverTail = 1_000;

    /// <summary>...due no earlier than this before the last one handed on. A gateway lacks what was in flight when the silo
    /// stopped (pushes lost on the way: tens of milliseconds), or, had it missed the handover itself, what played before its
    /// watchdog noticed the silence (2 s); 5 s covers both without writing (and the next silo reading) a thousand events per
    /// session while the stopping silo is being waited for.</summary>
    public static readonly TimeSpan HandoverTailSpan = TimeSpan.FromSeconds(5);

    public PlaybackRecord State => record.State;

    public bool Exists => record.RecordExists;

    /// <summary>Every seq below this may have been handed on by an earlier activation.</summary>
    public long ReservedUntil { get; private set; } = 1;

    /// <summary>Half the block is used: write before handing more seqs out.</summary>
    public bool RunningOut(long nextSeq) => nextSeq + SeqBlock / 2 > ReservedUntil;

    public async Task SaveAsync(SessionPlayer player, ResumeMark? handover = null, int gateways = 0)
    {
        ReservedUntil = Math.Max(ReservedUntil, player.Cursor.NextSeq + SeqBlock);
        var r = record.State;
        (r.Plan, r.Clock, r.Epoch, r.SeqReservedUntil, r.Order, r.Resume) =
            (player.Plan?.Spec, player.Clock.Anchor, player.Cursor.Epoch, ReservedUntil, player.Cursor.Order, handover);
        r.Tail = handover is null ? [] : [.. player.Log.Newest(HandoverTail, handover.DueTicks - HandoverTailSpan.Ticks)];
        r.HandoverGateways = handover is null ? 0 : gateways;
        player.Clock.MarkSaved();
        await record.WriteStateAsync();
    }

    /// <summary>Continues the counters of the record (epochs, seqs above the reservation, order numbers) and a handover's
    /// tail of events in the replay log.</summary>
    public void RestoreCounters(SessionPlayer player)
    {
        ReservedUntil = record.State.SeqReservedUntil;
        player.Cursor.Restore(record.State.Epoch, ReservedUntil, record.State.Order + SeqBlock);
        foreach (var e in record.State.Tail.IsDefault ? [] : record.State.Tail)
        {
            player.Log.Add(e);
        }
    }

    public async Task ClearAsync()
    {
        if (record.RecordExists)
        {
            await record.ClearStateAsync();
        }
    }
}
