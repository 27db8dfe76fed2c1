using System.Collections.Immutable;
using Orleans.Concurrency;

namespace Tivo.GrainInterfaces;

/// <summary>
/// One playback session: its dilated clock, window, pacing, loop and participants. Key: the session id.
/// The gateway calls it once per control message; pushes go back through <see cref="IPlaybackObserver"/>.
/// </summary>
[Alias("tivo.IPlaybackGrain")]
public interface IPlaybackGrain : IGrainWithStringKey
{
    /// <summary>Adds (or renews) a participant. Participants that stop renewing expire. A new participant of a
    /// session that is playing first gets the last event per channel before the playhead (or, with
    /// <see cref="JoinRequest.LastSeq"/>, every event after that seq still held), then the shared stream.</summary>
    [Alias("Join")]
    Task<JoinResult> Join(string participantId, IPlaybackObserver observer, JoinRequest request);

    /// <summary>Removes a participant; the session stops when the last one leaves.</summary>
    [Alias("Leave")]
    Task Leave(string participantId);

    /// <summary>Starts playing a window (replacing whatever played before).</summary>
    [Alias("Play")]
    Task<ControlResult> Play(PlayRequest request);

    /// <summary>Freezes the clock; events not yet due are held back.</summary>
    [Alias("Pause")]
    Task<ControlResult> Pause();

    /// <summary>Restarts the clock from where it was paused.</summary>
    [Alias("Resume")]
    Task<ControlResult> Resume();

    /// <summary>Moves the playhead to <paramref name="toTicks"/> (inside the window), keeping the play/pause status.</summary>
    [Alias("Seek")]
    Task<ControlResult> Seek(long toTicks);

    /// <summary>Changes the speed factor from now on.</summary>
    [Alias("SetSpeed")]
    Task<ControlResult> SetSpeed(double speed);

    /// <summary>Stops playback; the playhead returns to the window start.</summary>
    [Alias("Stop")]
    Task<ControlResult> Stop();

    /// <summary>Its silo is stopping: a playing session writes the last event it handed on, tells its gateways (which
    /// call it back at once) and deactivates, to continue on another silo right after that event.</summary>
    [Alias("HandOver")]
    Task HandOver();

    /// <summary>The events <paramref name="fromSeq"/>..<paramref name="toSeq"/> still held in the replay log: a gateway
    /// that saw a hole in the shared stream (a push lost in transit, e.g. while a silo died) fills it.</summary>
    [Alias("Replay")]
    Task<ImmutableArray<SessionEvent>> Replay(long fromSeq, long toSeq);

    /// <summary>A gateway could not keep up: it sent this session's events up to <paramref name="lateTicks"/> after their
    /// due. The session holds its clock that long (a short pause without a cut) and reports a lower achieved speed,
    /// rather than letting every viewer fall further behind. Sent at most every
    /// <c>Tivo:Gateway:LateReportInterval</c> per gateway; nothing answers it.</summary>
    [Alias("SlowDown"), OneWay]
    Task SlowDown(long lateTicks);

    /// <summary>The session's state now.</summary>
    [Alias("GetState")]
    Task<SessionState> GetState();

    /// <summary>Called by a channel's grain when events were ingested through Tivo into <paramref name="channel"/>,
    /// which this session follows live: it reads the newest chunk now instead of at its next poll.</summary>
    [Alias("OnChannelAppended"), Orleans.Concurrency.OneWay]
    Task OnChannelAppended(string channel);
}

/// <summary>Receives a session's pushes. Implemented by the gateway, one per connection.</summary>
[Alias("tivo.IPlaybackObserver")]
public interface IPlaybackObserver : IGrainObserver
{
    /// <summary>Events and signals handed on ahead of their release time, in emission order.</summary>
    [OneWay]
    [Alias("OnBatch")]
    Task OnBatch(PlaybackBatch batch);
}

/// <summary>What a <c>play</c> asks for. Times are UTC ticks; null start/end mean the channels' extent. <see cref="LeadMs"/>
/// is the lead of the connection that sent it (0: none): the session hands events on that much further ahead, less often.</summary>
[GenerateSerializer, Immutable, Alias("tivo.PlayRequest")]
public sealed record PlayRequest(
    [property: Id(0)] ImmutableArray<string> Channels,
    [property: Id(1)] long? StartTicks,
    [property: Id(2)] long? EndTicks,
    [property: Id(3)] double Speed,
    [property: Id(4)] bool Loop,
    [property: Id(5)] double? DurationSeconds,
    [property: Id(6)] double? Rate,
    [property: Id(7)] double? MaxGapSeconds,
    [property: Id(8)] double LeadMs = 0);

/// <summary>A session's state as reported in <c>state</c> messages. <see cref="BufferAheadSeconds"/> is the wall time
/// of playback already loaded beyond the playhead (null when everything up to the window end is loaded).
/// <see cref="LastOrder"/> is the order number of the last item the session pushed: a participant that has
/// received that order has received everything pushed before this state was taken (not sent on the wire).
/// <see cref="BehindLiveSeconds"/> is set for live sessions (no end): how far the playhead is behind now.</summary>
[GenerateSerializer, Immutable, Alias("tivo.SessionState")]
public sealed record SessionState(
    [property: Id(0)] SessionStatus Status,
    [property: Id(1)] long? PlayheadTicks,
    [property: Id(2)] double Speed,
    [property: Id(3)] double AchievedSpeed,
    [property: Id(4)] bool Loop,
    [property: Id(5)] long? WindowStartTicks,
    [property: Id(6)] long? WindowEndTicks,
    [property: Id(7)] int Iteration,
    [property: Id(8)] ImmutableArray<string> Channels,
    [property: Id(9)] double? DurationSeconds,
    [property: Id(10)] double? Rate,
    [property: Id(11)] double? MaxGapSeconds,
    [property: Id(12)] double? BufferAheadSeconds,
    [property: Id(13)] long LastOrder = 0,
    [property: Id(14)] double? BehindLiveSeconds = null,
    [property: Id(15)] int Participants = 0,
    [property: Id(16)] int Controllers = 0,
    [property: Id(17)] string? Host = null);

/// <summary>The answer to a control: success with the new state, or an error code and an actionable message.</summary>
[GenerateSerializer, Immutable, Alias("tivo.ControlResult")]
public sealed record ControlResult(
    [property: Id(0)] string? ErrorCode,
    [property: Id(1)] string? ErrorMessage,
    [property: Id(2)] SessionState? State)
{
    public bool Ok => ErrorCode is null;

    public static ControlResult Success(SessionState state) => new(null, null, state);

    public static ControlResult Fail(string code, string message) => new(code, message, null);
}

/// <summary>How a participant joins: its channels, its role, and where to resume from.</summary>
[GenerateSerializer, Immutable, Alias("tivo.JoinRequest")]
public sealed record JoinRequest(
    [property: Id(0)] ImmutableArray<string> Channels,
    [property: Id(1)] ParticipantRole Role = ParticipantRole.Controller,
    [property: Id(2)] long? LastSeq = null,
    [property: Id(3)] bool Renewal = false,
    [property: Id(4)] ResumeMark? Resume = null);

/// <summary>
/// The last event a gateway received of a session's shared stream: its seq, loop pass, stream time, how many events
/// at exactly that time it received (in that pass), and its due. A session restored after its silo died resumes right
/// after the lowest mark its gateways give, so no participant loses an event; gateways that had more drop the repeats
/// (the gateway's <c>SharedStreamTracker</c>).
/// </summary>
[GenerateSerializer, Immutable, Alias("tivo.ResumeMark")]
public sealed record ResumeMark(
    [property: Id(0)] long LastSeq,
    [property: Id(1)] int Pass,
    [property: Id(2)] long Ticks,
    [property: Id(3)] int SameTicks,
    [property: Id(4)] long DueTicks);

/// <summary>Participant roles: controllers may send controls, viewers only watch.</summary>
[GenerateSerializer]
public enum ParticipantRole
{
    Controller = 0,
    Viewer = 1,
}

/// <summary>The answer to a join. <see cref="CatchUpSent"/>: a catch-up batch went to the joiner before this
/// answer (its gateway holds the shared stream until the batch arrives). <see cref="NextSeq"/> and <see cref="Epoch"/>:
/// the first seq the session had not handed on, in which epoch — a gateway that has had nothing of the stream yet knows
/// from it that a first push starting above it was overtaken by the next (0: not said).</summary>
[GenerateSerializer, Immutable, Alias("tivo.JoinResult")]
public sealed record JoinResult(
    [property: Id(0)] SessionState State,
    [property: Id(1)] ParticipantRole Role,
    [property: Id(2)] bool CatchUpSent = false,
    [property: Id(3)] long NextSeq = 0,
    [property: Id(4)] long Epoch = 0);

/// <summary>
/// A batch of pushes. <see cref="Epoch"/> increases at every control; when a batch of a newer epoch
/// arrives, the receiver drops queued items of older epochs released after <see cref="CutoffTicks"/>.
/// A batch with a <see cref="Target"/> is for that participant only (a joiner's catch-up); the others go to
/// every participant behind the observer, which is shared by all participants of one gateway. A catch-up
/// says in <see cref="JoinedAtSeq"/> the first seq the session had not handed on at the join: it stands
/// for every shared event below it. A session restored after its silo died continues right after the lowest mark its
/// gateways gave, with the seqs its previous activation used: <see cref="ReplayedBelow"/> (non-zero) marks such a
/// continuation — seqs stay consecutive across it, so a receiver that sees a jump lost a push, and one that had more
/// drops the repeats (below this, any seq may have been handed on before).
/// </summary>
[GenerateSerializer, Immutable, Alias("tivo.PlaybackBatch")]
public sealed record PlaybackBatch(
    [property: Id(0)] long Epoch,
    [property: Id(1)] long CutoffTicks,
    [property: Id(2)] ImmutableArray<SessionEvent> Events,
    [property: Id(3)] ImmutableArray<SessionSignal> Signals,
    [property: Id(4)] string? Target = null,
    [property: Id(5)] long JoinedAtSeq = 0,
    [property: Id(6)] long ReplayedBelow = 0);

/// <summary>An event with its session sequence number, due wall time (UTC ticks) and loop pass. A snapshot event is
/// context for a late joiner (the last event of its channel before the playhead): seq 0, due at the join.</summary>
[GenerateSerializer, Immutable, Alias("tivo.SessionEvent")]
public sealed record SessionEvent(
    [property: Id(0)] string Channel,
    [property: Id(1)] long Ticks,
    [property: Id(2)] long Seq,
    [property: Id(3)] long DueTicks,
    [property: Id(4)] long Order,
    [property: Id(5)] string Data,
    [property: Id(6)] bool Snapshot = false,
    [property: Id(7)] int Pass = 0);

/// <summary>A non-event push with the wall time (UTC ticks) it is released at and its place in the session's
/// emission order. One record per kind: <see cref="ClockSignal"/>, <see cref="LoopSignal"/>,
/// <see cref="StateSignal"/>, <see cref="ErrorSignal"/>.</summary>
[GenerateSerializer, Immutable, Alias("tivo.SessionSignal")]
public abstract record SessionSignal(
    [property: Id(0)] long ReleaseTicks,
    [property: Id(1)] long Order);

/// <summary>The playhead at a wall time, sent every clock interval while playing.</summary>
[GenerateSerializer, Immutable, Alias("tivo.ClockSignal")]
public sealed record ClockSignal(
    long ReleaseTicks,
    long Order,
    [property: Id(0)] long PlayheadTicks,
    [property: Id(1)] double Speed,
    [property: Id(2)] int Iteration) : SessionSignal(ReleaseTicks, Order);

/// <summary>A looping window wrapped: pass <see cref="Iteration"/> begins.</summary>
[GenerateSerializer, Immutable, Alias("tivo.LoopSignal")]
public sealed record LoopSignal(
    long ReleaseTicks,
    long Order,
    [property: Id(0)] int Iteration) : SessionSignal(ReleaseTicks, Order);

/// <summary>The session's state changed (a control, buffering, the end of the window).</summary>
[GenerateSerializer, Immutable, Alias("tivo.StateSignal")]
public sealed record StateSignal(
    long ReleaseTicks,
    long Order,
    [property: Id(0)] SessionState State) : SessionSignal(ReleaseTicks, Order);

/// <summary>Events <see cref="FromSeq"/> to <see cref="ToSeq"/> cannot be delivered to this participant (a reconnect
/// asked for events older than the session still holds): said once, with why, before the stream goes on.</summary>
[GenerateSerializer, Immutable, Alias("tivo.GapSignal")]
public sealed record GapSignal(
    long ReleaseTicks,
    long Order,
    [property: Id(0)] long FromSeq,
    [property: Id(1)] long ToSeq,
    [property: Id(2)] string Message) : SessionSignal(ReleaseTicks, Order);

/// <summary>The session is leaving its silo (a rolling update): gateways call it back at once so it continues on another
/// silo right after the last event it handed on. <see cref="Successor"/> is the silo it should continue on (given to Orleans'
/// placement as a hint: the stopping silo still counts as active, and placement could otherwise put the session straight
/// back on it); null when there is no other. Not written to clients.</summary>
[GenerateSerializer, Immutable, Alias("tivo.HandoverSignal")]
public sealed record HandoverSignal(
    long ReleaseTicks,
    long Order,
    [property: Id(0)] SiloAddress? Successor) : SessionSignal(ReleaseTicks, Order);

/// <summary>Something every participant must know that is not an answer to its own command (the store is away,
/// events a reconnecting participant missed are no longer held).</summary>
[GenerateSerializer, Immutable, Alias("tivo.ErrorSignal")]
public sealed record ErrorSignal(
    long ReleaseTicks,
    long Order,
    [property: Id(0)] string Code,
    [property: Id(1)] string Message) : SessionSignal(ReleaseTicks, Order);

/// <summary>Error codes of wire protocol v1.</summary>
public static class ErrorCodes
{
    public const string BadRequest = "bad_request";
    public const string UnknownChannel = "unknown_channel";
    public const string Unauthorized = "unauthorized";
    public const string Forbidden = "forbidden";
    public const string TooLarge = "too_large";
    public const string RateLimited = "rate_limited";
    public const string StoreUnavailable = "store_unavailable";
    public const string SlowConsumer = "slow_consumer";
    public const string Internal = "internal";
}

/// <summary>Where a session's clock is. The wire names (<c>"playing"</c>, …) are written by the gateway.</summary>
[GenerateSerializer]
public enum SessionStatus
{
    Idle = 0,
    Playing = 1,
    Paused = 2,
    Stopped = 3,
    Ended = 4,
    Buffering = 5,
}
