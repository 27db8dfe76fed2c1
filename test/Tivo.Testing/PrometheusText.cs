using System.Globalization;
using System.Text.RegularExpressions;

namespace Tivo.Testing;

/// <summary>Reads the Prometheus text exposition of <c>GET /metrics</c>: the tests' and the benchmark's view of Tivo's metrics.</summary>
public static partial class PrometheusText
{
    /// <summary>Every sample's value, summed over its labels: metric name → value.</summary>
    public static Dictionary<string, double> Parse(string text)
    {
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (Match m in Sample().Matches(text))
        {
            var name = m.Groups["name"].Value;
            values[name] = values.GetValueOrDefault(name) + double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture);
        }

        return values;
    }

    /// <summary>A histogram's cumulative bucket counts (upper bound → observations at or below it, summed over its other
    /// labels; the last bound is +Inf), from the <c>{name}_bucket</c> samples.</summary>
    public static SortedDictionary<double, double> Buckets(string text, string name)
    {
        var buckets = new SortedDictionary<double, double>();
        foreach (Match m in Bucket().Matches(text))
        {
            if (m.Groups["name"].Value != name)
            {
                continue;
            }

            var le = m.Groups["le"].Value == "+Inf" ? double.PositiveInfinity : double.Parse(m.Groups["le"].Value, CultureInfo.InvariantCulture);
            buckets[le] = buckets.GetValueOrDefault(le) + double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture);
        }

        return buckets;
    }

    /// <summary>The <paramref name="q"/> quantile of what a histogram observed between two scrapes (cumulative buckets from
    /// <see cref="Buckets"/>), interpolated linearly within its bucket as Prometheus' <c>histogram_quantile</c> does; NaN
    /// when nothing was observed, the highest finite bound when the quantile falls in the +Inf bucket.</summary>
    public static double Quantile(SortedDictionary<double, double> before, SortedDictionary<double, double> after, double q)
    {
        var bounds = after.Keys.ToArray();
        var counts = bounds.Select(b => after[b] - before.GetValueOrDefault(b)).ToArray();
        if (counts.Length == 0 || counts[^1] <= 0)
        {
            return double.NaN;
        }

        var rank = q * counts[^1];
        var lower = 0.0;
        var below = 0.0;
        for (var i = 0; i < bounds.Length; i++)
        {
            if (counts[i] >= rank)
            {
                if (double.IsPositiveInfinity(bounds[i]))
                {
                    return lower;
                }

                var inBucket = counts[i] - below;
                return inBucket <= 0 ? bounds[i] : lower + ((bounds[i] - lower) * (rank - below) / inBucket);
            }

            (lower, below) = (bounds[i], counts[i]);
        }

        return lower;
    }

    [GeneratedRegex(@"^(?<name>[a-z_]+)(\{[^}]*\})? (?<value>[-0-9.e+]+)", RegexOptions.Multiline)]
    private static partial Regex Sample();

    [GeneratedRegex(@"^(?<name>[a-z_]+)_bucket\{[^}]*\ble=""(?<le>[^""]+)""[^}]*\} (?<value>[-0-9.e+]+)", RegexOptions.Multiline)]
    private static partial Regex Bucket();
}
