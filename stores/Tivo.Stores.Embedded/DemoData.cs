using Tivo.Events;
using System.Globalization;

namespace Tivo.Stores.Embedded;

/// <summary>
/// The deterministic demo data set seeded into an empty embedded store: three days of stream time
/// (2016-01-14 to 2016-01-17 UTC) over four channels with a daily rhythm, bursts and quiet gaps.
/// The same seed always yields the same events, so docs and tests can name exact windows.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><c>taxi</c>: pickups with coordinates, zone, fare and passengers; a day/night rhythm with
/// rush hours, and bursts of 5 pickups/s when venues empty.</item>
/// <item><c>sensors</c>: six weather sensors reporting every minute; a day-long temperature wave;
/// an outage from 2016-01-15 03:00 to 05:30 with no readings.</item>
/// <item><c>trades</c>: trades of five symbols during market hours (14:30–21:00 UTC) on Thursday and
/// Friday, nothing on Saturday; volatility bursts of 20 trades/s.</item>
/// <item><c>alerts</c>: sparse operational alerts with severity, service and host.</item>
/// </list>
/// </remarks>
public static class DemoData
{
    /// <summary>First instant of the demo data (inclusive).</summary>
    public static readonly DateTime Start = new(2016, 1, 14, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>End of the demo data (exclusive).</summary>
    public static readonly DateTime End = new(2016, 1, 17, 0, 0, 0, DateTimeKind.Utc);

    private static readonly string[] Zones = ["Midtown", "Upper East Side", "Chelsea", "SoHo", "Harlem", "Williamsburg", "JFK", "LaGuardia"];
    private static readonly (double Lat, double Lon)[] ZoneCenters =
        [(40.754, -73.984), (40.773, -73.956), (40.746, -74.001), (40.723, -74.003), (40.811, -73.946), (40.708, -73.957), (40.641, -73.778), (40.776, -73.874)];
    private static readonly string[] Sensors = ["roof-1", "roof-2", "lobby", "garage", "river-n", "river-s"];
    private static readonly string[] Symbols = ["AAPL", "MSFT", "AMZN", "GOOG", "TSLA"];
    private static readonly double[] BasePrices = [97.1, 51.4, 570.2, 710.0, 206.5];
    private static readonly string[] Services = ["checkout", "search", "auth", "payments", "cdn"];
    private static readonly string[] Severities = ["info", "warning", "critical"];

    /// <summary>Generates every demo channel with its events in time order.</summary>
    public static IEnumerable<(string Channel, IReadOnlyList<StoredEvent> Events)> Generate()
    {
        yield return ("taxi", Taxi());
        yield return ("sensors", SensorReadings());
        yield return ("trades", Trades());
        yield return ("alerts", Alerts());
    }

    private static List<StoredEvent> Taxi()
    {
        var random = new Random(20160115);
        var events = new List<StoredEvent>(220_000);
        // Bursts: ten-minute spells of 5 pickups/s when venues let out.
        (double Start, double End)[] bursts = [(22.5, 22.67), (23.1, 23.27), (46.75, 46.92), (47.2, 47.37), (70.9, 71.07)];
        Poisson(random, hours: 72, maxRate: 6.0, rate: h =>
        {
            foreach (var (s, e) in bursts)
            {
                if (h >= s && h < e)
                {
                    return 5.0;
                }
            }

            return 0.9 * Daily(h % 24);
        }, emit: (ticks, r) =>
        {
            var zone = r.Next(Zones.Length);
            var (lat, lon) = ZoneCenters[zone];
            events.Add(new StoredEvent(ticks, Json(
                $"{{\"zone\":\"{Zones[zone]}\",\"lat\":{lat + (r.NextDouble() - 0.5) * 0.02:F5},\"lon\":{lon + (r.NextDouble() - 0.5) * 0.02:F5},\"fare\":{4 + r.NextDouble() * 46:F2},\"passengers\":{1 + r.Next(4)},\"payment\":\"{(r.NextDouble() < 0.7 ? "card" : "cash")}\"}}")));
        });
        return events;
    }

    private static List<StoredEvent> SensorReadings()
    {
        var random = new Random(7);
        var events = new List<StoredEvent>();
        var outageStart = new DateTime(2016, 1, 15, 3, 0, 0, DateTimeKind.Utc).Ticks;
        var outageEnd = new DateTime(2016, 1, 15, 5, 30, 0, DateTimeKind.Utc).Ticks;
        for (var minute = 0; minute < 72 * 60; minute++)
        {
            for (var s = 0; s < Sensors.Length; s++)
            {
                var ticks = Start.Ticks + minute * TimeSpan.TicksPerMinute + (long)(s * 7.5 * TimeSpan.TicksPerSecond) + Jitter(random, TimeSpan.TicksPerSecond);
                if (ticks >= outageStart && ticks < outageEnd)
                {
                    continue;
                }

                var hour = (minute / 60.0) % 24;
                var temp = -2 + 6 * Math.Sin((hour - 9) / 24 * 2 * Math.PI) + s * 0.8 + (random.NextDouble() - 0.5);
                events.Add(new StoredEvent(ticks, Json(
                    $"{{\"sensor\":\"{Sensors[s]}\",\"temp\":{temp:F2},\"humidity\":{55 + 20 * Math.Cos(hour / 24 * 2 * Math.PI) + random.NextDouble() * 5:F1},\"battery\":{1 - minute / 20000.0 - s * 0.01:F3}}}")));
            }
        }

        events.Sort((a, b) => a.Ticks.CompareTo(b.Ticks));
        return events;
    }

    private static List<StoredEvent> Trades()
    {
        var random = new Random(42);
        var events = new List<StoredEvent>();
        var prices = (double[])BasePrices.Clone();
        // Market hours on Thursday and Friday only: Saturday is one long quiet gap.
        (double Start, double End)[] sessions = [(14.5, 21.0), (38.5, 45.0)];
        (double Start, double End)[] spikes = [(15.0, 15.0083), (17.25, 17.2583), (39.6, 39.6083), (44.9, 44.9083)];
        Poisson(random, hours: 72, maxRate: 20.0, rate: h =>
        {
            foreach (var (s, e) in spikes)
            {
                if (h >= s && h < e)
                {
                    return 20.0;
                }
            }

            foreach (var (s, e) in sessions)
            {
                if (h >= s && h < e)
                {
                    // U-shaped intraday volume: busy at the open and the close.
                    var x = (h - s) / (e - s);
                    return 0.6 + 2.4 * (4 * (x - 0.5) * (x - 0.5));
                }
            }

            return 0;
        }, emit: (ticks, r) =>
        {
            var i = r.Next(Symbols.Length);
            prices[i] *= 1 + (r.NextDouble() - 0.5) * 0.002;
            events.Add(new StoredEvent(ticks, Json(
                $"{{\"symbol\":\"{Symbols[i]}\",\"price\":{prices[i]:F2},\"qty\":{(1 + r.Next(20)) * 50},\"side\":\"{(r.NextDouble() < 0.5 ? "buy" : "sell")}\"}}")));
        });
        return events;
    }

    private static List<StoredEvent> Alerts()
    {
        var random = new Random(99);
        var events = new List<StoredEvent>();
        Poisson(random, hours: 72, maxRate: 0.02, rate: h => 0.002 + 0.018 * Math.Max(0, Daily(h % 24) - 0.8), emit: (ticks, r) =>
        {
            var severity = Severities[r.NextDouble() switch { < 0.6 => 0, < 0.9 => 1, _ => 2 }];
            var service = Services[r.Next(Services.Length)];
            events.Add(new StoredEvent(ticks, Json(
                $"{{\"severity\":\"{severity}\",\"service\":\"{service}\",\"host\":\"web-{1 + r.Next(12):D2}\",\"message\":\"p99 latency {200 + r.Next(1800)} ms\"}}")));
        });
        return events;
    }

    /// <summary>Relative activity by hour of day: night low, morning and evening rush peaks.</summary>
    private static double Daily(double hour) =>
        0.15 + 0.9 * Bump(hour, 8.5, 1.5) + 1.1 * Bump(hour, 18, 2) + 0.5 * Bump(hour, 13, 3);

    private static double Bump(double x, double center, double width) => Math.Exp(-((x - center) * (x - center)) / (2 * width * width));

    /// <summary>A non-homogeneous Poisson process by thinning, with microsecond timestamps.</summary>
    private static void Poisson(Random random, int hours, double maxRate, Func<double, double> rate, Action<long, Random> emit)
    {
        var t = 0.0;
        var end = hours * 3600.0;
        while (true)
        {
            t += -Math.Log(1 - random.NextDouble()) / maxRate;
            if (t >= end)
            {
                return;
            }

            if (random.NextDouble() * maxRate <= rate(t / 3600))
            {
                var micros = (long)(t * 1_000_000);
                emit(Start.Ticks + micros * 10, random);
            }
        }
    }

    private static long Jitter(Random random, long range) => (long)(random.NextDouble() * range) / 10 * 10;

    private static string Json(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
