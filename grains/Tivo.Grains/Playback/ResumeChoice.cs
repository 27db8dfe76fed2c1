using Tivo.GrainInterfaces;

namespace Tivo.Grains.Playback;

/// <summary>
/// Where a restored playing session continues: right after the lowest of a handover's mark (written by its previous
/// activation on the way out: the last event it handed on) and the marks its gateways offer while it waits (each says
/// the last event it received; the lowest is where no participant misses anything); when there is none — nobody
/// watched — where its clock is.
/// </summary>
internal sealed class ResumeChoice
{
    private ResumeMark? _best;

    /// <summary>Waiting to resume.</summary>
    public bool Pending { get; private set; }

    /// <summary>Starts waiting; <paramref name="handover"/> is the mark the previous activation left, if any.</summary>
    public void Expect(ResumeMark? handover) => (Pending, _best) = (true, handover);

    /// <summary>A gateway's mark: kept when it is the lowest so far (and a resume is pending).</summary>
    public void Offer(ResumeMark? mark)
    {
        if (Pending && mark is not null && (_best is null || mark.LastSeq < _best.LastSeq))
        {
            _best = mark;
        }
    }

    /// <summary>Ends the wait: true when a resume was pending, with the mark to continue after (null: the clock).</summary>
    public bool Take(out ResumeMark? mark)
    {
        (mark, _best) = (_best, null);
        var pending = Pending;
        Pending = false;
        return pending;
    }

    /// <summary>A control came first: it decides where the session is.</summary>
    public void Cancel() => (Pending, _best) = (false, null);
}
