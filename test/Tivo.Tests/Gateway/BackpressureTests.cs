using System.Reflection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Tivo.GrainInterfaces;
using Tivo.Gateway;
using Tivo.Gateway.Connections;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>A gateway that runs late tells the session — past the threshold, the worst lag, at most once per interval —
/// so the session holds its clock (SessionPlayerTests covers the hold itself).</summary>
public sealed class BackpressureTests
{
    [Fact]
    public void Lateness_past_the_threshold_is_reported_at_most_once_per_interval_with_the_worst_lag_since()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var session = DispatchProxy.Create<IPlaybackGrain, SlowDownRecorder>();
        var fanout = new SessionFanout("s", time, session, NullLogger.Instance,
            new GatewayOptions { LateReportThreshold = TimeSpan.FromMilliseconds(50), LateReportInterval = TimeSpan.FromMilliseconds(250) });
        var reports = ((SlowDownRecorder)(object)session).Reports;

        fanout.ReportLate(Ms(30));  // under the threshold: a hiccup, not pressure
        Assert.Empty(reports);
        fanout.ReportLate(Ms(60));
        Assert.Equal([Ms(60)], reports);
        fanout.ReportLate(Ms(120)); // within the interval: kept as the worst
        fanout.ReportLate(Ms(70));
        Assert.Equal([Ms(60)], reports);

        time.Advance(TimeSpan.FromMilliseconds(250));
        fanout.ReportLate(Ms(55));
        Assert.Equal([Ms(60), Ms(120)], reports);

        var off = new SessionFanout("s", time, session, NullLogger.Instance, new GatewayOptions { LateReportThreshold = TimeSpan.Zero });
        time.Advance(TimeSpan.FromSeconds(1));
        off.ReportLate(Ms(5_000));
        Assert.Equal(2, reports.Count);
    }

    private static long Ms(int ms) => ms * TimeSpan.TicksPerMillisecond;

    /// <summary>Stands for the session grain: records SlowDown, refuses anything else.</summary>
    public class SlowDownRecorder : DispatchProxy
    {
        public List<long> Reports { get; } = [];

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            if (targetMethod?.Name != nameof(IPlaybackGrain.SlowDown))
            {
                throw new NotSupportedException(targetMethod?.Name);
            }

            Reports.Add((long)args![0]!);
            return Task.CompletedTask;
        }
    }
}
