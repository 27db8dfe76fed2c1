using Tivo.GrainInterfaces;

namespace Tivo.Grains.Playback;

/// <summary>
/// Where a restored playing session continues: right after the lowest of a handover's mark (written by its previous
/// activation on the way out: the last event it handed on) and the marks its gateways offer while it waits (each says
/// the last event it received; the lowest is where no participant misses anything); when there is none — nobody
/// watched — where its clock is. After a handover it need not wait out the window: once every gateway that watched
/// has offered its mark, the lowest is known.
/// </summary>
internal sealed class ResumeChoice
{
    private readonly HashSet<IPlaybackObserver> _offered = [];
    private ResumeMark? _best;
    private int _expected;

    /// <summary>The lowest mark so far (what the session would continue after if it resumed now).</summary>
    public ResumeMark? Lowest => Pending ? _best : null;

    /// <summary>Waiting to resume.</summary>
    public bool Pending { get; private set; }

    /// <summary>Starts waiting; <paramref name="handover"/> is the mark the previous activation left, if any, and
    /// <paramref name="gateways"/> how many gateways it told (0: unknown, wait out the window).</summary>
    public void Expect(ResumeMark? handover, int gateways = 0)
    {
        (Pending, _best, _expected) = (true, handover, handover is null ? 0 : gateways);
        _offered.Clear();
    }

    /// <summary>Starts waiting as <paramref name="record"/> says, and gives the longest wait: after a handover the
    /// gateways call back at once (an eighth of <paramref name="window"/>); after a silo's death they first notice the
    /// silence (the whole window).</summary>
    public TimeSpan Expect(PlaybackRecord record, TimeSpan window)
    {
        Expect(record.Resume, record.HandoverGateways);
        return record.Resume is null ? window : window / 8;
    }

    /// <summary>A gateway's mark: kept when it is the lowest so far (and a resume is pending). True when every gateway
    /// expected has now offered one: the session can resume without waiting longer.</summary>
    public bool Offer(ResumeMark? mark, IPlaybackObserver gateway)
    {
        if (!Pending || mark is null)
        {
            return false;
        }

        if (_best is null || mark.LastSeq < _best.LastSeq)
        {
            _best = mark;
        }

        _offered.Add(gateway);
        return _expected > 0 && _offered.Count >= _expected;
    }

    /// <summary>Ends the wait: true when a resume was pending, with the mark to continue after (null: the clock).</summary>
    public bool Take(out ResumeMark? mark)
    {
        (mark, _best) = (_best, null);
        _offered.Clear();
        var pending = Pending;
        Pending = false;
        return pending;
    }

    /// <summary>A control came first: it decides where the session is.</summary>
    public void Cancel() => (Pending, _best) = (false, null);
}
