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

    [GeneratedRegex(@"^(?<name>[a-z_]+)(\{[^}]*\})? (?<value>[-0-9.e+]+)", RegexOptions.Multiline)]
    private static partial Regex Sample();
}
