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

    /// <summary>The newest events a handover writes with its mark.</summary>
    public const int HandoverTail = 1_000;

    public PlaybackRecord State => record.State;

    public bool Exists => record.RecordExists;

    /// <summary>Every seq below this may have been handed on by an earlier activation.</summary>
    public long ReservedUntil { get; private set; } = 1;

    /// <summary>Half the block is used: write before handing more seqs out.</summary>
    public bool RunningOut(long nextSeq) => nextSeq + SeqBlock / 2 > ReservedUntil;

    public async Task SaveAsync(SessionPlayer player, ResumeMark? handover = null)
    {
        ReservedUntil = Math.Max(ReservedUntil, player.Cursor.NextSeq + SeqBlock);
        var r = record.State;
        (r.Plan, r.Clock, r.Epoch, r.SeqReservedUntil, r.Order, r.Resume) =
            (player.Plan?.Spec, player.Clock.Anchor, player.Cursor.Epoch, ReservedUntil, player.Cursor.Order, handover);
        r.Tail = handover is null ? [] : [.. player.Log.Newest(HandoverTail)];
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
