using Microsoft.Extensions.Options;

namespace Tivo.Gateway.Connections;

/// <summary>
/// Notices sessions that fell silent while playing — a playing session pushes a clock tick every 250 ms, so silence
/// means the silo holding it is gone — and has their connections call them back at once with the last event received
/// (<see cref="SessionFanout.RejoinAsync"/>), instead of waiting for the next renewal: the session is restored on a live
/// silo and continues right after that event. Checks every half second; <c>Tivo:Gateway:SessionSilence</c> (2 s).
/// At the same beat it applies every connection's slow-consumer bounds, which are otherwise checked only when something
/// is queued for the connection: a reader that stalls after the session's last push (a short window, a pause, the end)
/// was closed only by the keep-alive.
/// </summary>
internal sealed class SessionWatchdog(SessionFanoutRegistry sessions, IOptions<GatewayOptions> options, TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500), time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                foreach (var session in sessions.All())
                {
                    session.CheckSlowConsumers();
                    if (session.SilentWhilePlaying(options.Value.SessionSilence))
                    {
                        _ = session.RejoinAsync();
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
