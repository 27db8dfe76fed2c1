using Tivo.Gateway.Protocol;
using Tivo.GrainInterfaces;

namespace Tivo.Gateway.Connections;

/// <summary>
/// Runs a connection's commands, one at a time in arrival order: the role check (viewers may only ask for status),
/// the grain call, and the reply. While a control is in flight the outbox holds the session's pushes back, so the
/// ack (or error) goes out before the state the control caused (hello, ack, state, then clock and events).
/// </summary>
internal sealed partial class ControlDispatcher(SessionMembership membership, ConnectionOutbox outbox, WireFormat format, ILogger logger, TimeSpan timeout)
{
    /// <summary>Parses and runs one client message; every outcome is answered through the outbox.</summary>
    public async Task HandleAsync(ReadOnlyMemory<byte> utf8)
    {
        if (!ClientMessageParser.TryParse(utf8, out var command, out var error))
        {
            outbox.EnqueueError(error!.IdJson, error.Code, error.Message);
            return;
        }

        outbox.ControlStarted();
        try
        {
            // Bounded: while a control is in flight this connection's pushes wait, and a call to a silo that just died
            // would otherwise hang for Orleans' 30 s response timeout.
            var result = await RunAsync(command!).WaitAsync(timeout);
            if (result.Ok)
            {
                outbox.EnqueueLocal(buffer => format.WriteAck(buffer, command!.IdJson, command.Action));
            }
            else
            {
                outbox.EnqueueError(command!.IdJson, result.ErrorCode!, result.ErrorMessage!);
            }
        }
        catch (TimeoutException)
        {
            outbox.EnqueueError(command!.IdJson, ErrorCodes.Internal,
                $"Session {membership.SessionId} did not answer {command.Action} within {timeout.TotalSeconds:0} s (Tivo:Gateway:ControlTimeout; its silo may be failing over): the control may not have taken effect. Send status, then try again.");
        }
        catch (StoreUnavailableGrainException ex)
        {
            outbox.EnqueueError(command!.IdJson, ErrorCodes.StoreUnavailable, $"The event store is unavailable ({ex.Message}); try again shortly.");
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            LogControlFailed(logger, command!.Action, membership.SessionId, ex);
            outbox.EnqueueError(command.IdJson, ErrorCodes.Internal,
                $"The server failed to {command.Action}; the session is unchanged. Try again; if it persists, report it with session {membership.SessionId}.");
        }
        finally
        {
            outbox.ControlEnded();
        }
    }

    private async Task<ControlResult> RunAsync(ClientCommand command)
    {
        if (membership.Role == ParticipantRole.Viewer && command.Controls)
        {
            return ControlResult.Fail(ErrorCodes.Forbidden,
                $"This connection joined session {membership.SessionId} as a viewer and cannot {command.Action}; connect with role=controller to control playback.");
        }

        var session = membership.Session;
        switch (command)
        {
            case PlayCommand play:
                if (play.Lead is { } lead)
                {
                    outbox.UseLead(lead); // this connection's delivery only: other participants keep theirs
                }

                if (!play.Channels.IsDefaultOrEmpty)
                {
                    await membership.AddChannelsAsync(play.Channels);
                }

                return await session.Play(play.ToRequest(outbox.Lead)); // without channels: every channel the session's participants connected with
            case SeekCommand seek:
                return await session.Seek(seek.To);
            case SpeedCommand speed:
                return await session.SetSpeed(speed.Speed);
            case PauseCommand:
                return await session.Pause();
            case ResumeCommand:
                return await session.Resume();
            case StopCommand:
                return await session.Stop();
            case StatusCommand:
                var state = await session.GetState();
                outbox.EnqueueLocal(buffer => format.WriteState(buffer, state));
                return ControlResult.Success(state);
            default:
                return ControlResult.Fail(ErrorCodes.BadRequest, $"Unsupported action {command.Action}.");
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Control {Action} failed in session {Session}")]
    private static partial void LogControlFailed(ILogger logger, string action, string session, Exception exception);
}
