using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Twin.Deploy.Tests.Support;

namespace Twin.Deploy.Tests;

/// <summary>
/// The Grafana dashboard (deploy/grafana/factory-twin.json) queries Prometheus for the metrics the
/// application exports: the instrument names in the code are the contract.
/// </summary>
public sealed partial class DashboardTests
{
    private static readonly JsonNode Dashboard = JsonNode.Parse(Repository.ReadText("deploy/grafana/factory-twin.json"))
        ?? throw new InvalidDataException("deploy/grafana/factory-twin.json is empty.");

    private static List<JsonNode> Panels => [.. Dashboard["panels"].Items().Where(p => p.Str("type") != "row")];

    private static List<string> Expressions => [.. Panels.SelectMany(p => p["targets"].Items()).Select(t => t.Str("expr") ?? "")];

    [Fact]
    public void Dashboard_shows_ingestion_latency_tickets_and_twins()
    {
        var expressions = Expressions;

        Assert.Contains(expressions, e => e.Contains("rate(twin_readings_accepted_total", StringComparison.Ordinal));
        Assert.Contains(expressions, e => e.Contains("rate(twin_readings_rejected_total", StringComparison.Ordinal) && e.Contains("by (reason)", StringComparison.Ordinal));
        foreach (var quantile in new[] { "0.5", "0.95", "0.99" })
        {
            Assert.Contains(expressions, e => e.StartsWith($"histogram_quantile({quantile},", StringComparison.Ordinal) && e.Contains("twin_ingest_durable_seconds_bucket", StringComparison.Ordinal) && e.Contains("by (le)", StringComparison.Ordinal));
        }

        Assert.Contains(expressions, e => e.Contains("twin_tickets_open", StringComparison.Ordinal));
        Assert.Contains(expressions, e => e.Contains("twin_twins_active", StringComparison.Ordinal));
    }

    [Fact]
    public void Every_panel_queries_prometheus()
    {
        Assert.NotEmpty(Panels);
        var datasource = Dashboard["templating"]?["list"].Items().SingleOrDefault(v => v.Str("type") == "datasource");
        Assert.Equal("prometheus", datasource.Str("query"));
        Assert.All(Panels, p =>
        {
            Assert.Equal("prometheus", p.Str("datasource", "type"));
            Assert.NotEmpty(p["targets"].Items());
            Assert.All(p["targets"].Items(), t => Assert.False(string.IsNullOrWhiteSpace(t.Str("expr")), $"panel '{p.Str("title")}' has an empty query"));
        });
        var ids = Dashboard["panels"].Items().Select(p => p.Int("id")).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }

    [Fact]
    public void Dashboard_uses_only_metrics_the_code_exports()
    {
        var exported = ExportedMetricNames();
        Assert.Contains("twin_readings_accepted_total", exported);

        var used = Expressions.SelectMany(e => TwinMetric().Matches(e).Select(m => m.Value)).Distinct().ToList();
        Assert.NotEmpty(used);
        Assert.All(used, name => Assert.True(exported.Contains(name), $"The dashboard queries {name}, which no instrument in the code exports (exported: {string.Join(", ", exported.Order(StringComparer.Ordinal))})"));
    }

    /// <summary>
    /// The Prometheus names of the project's instruments (<c>meter.CreateCounter("twin.readings.accepted")</c>),
    /// named as the OpenTelemetry Prometheus exporter names them: dots become underscores, the unit
    /// is appended (s → _seconds), counters end in _total, histograms export _bucket, _sum and _count.
    /// </summary>
    private static HashSet<string> ExportedMetricNames()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var sources = Directory.GetDirectories(Repository.Root, "Twin.*")
            .SelectMany(d => Directory.GetFiles(d, "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal));
        foreach (var file in sources)
        {
            foreach (Match m in Instrument().Matches(File.ReadAllText(file)))
            {
                var unit = m.Groups["unit"].Success ? m.Groups["unit"].Value : UnitArgument().Match(m.Groups["rest"].Value) is { Success: true } u ? u.Groups[1].Value : "";
                var name = m.Groups["name"].Value.Replace('.', '_') + unit switch
                {
                    "" or "1" => "",
                    "s" => "_seconds",
                    "ms" => "_milliseconds",
                    "By" => "_bytes",
                    _ when unit.StartsWith('{') => "",
                    _ => "_" + unit,
                };
                switch (m.Groups["kind"].Value)
                {
                    case "Counter" or "ObservableCounter":
                        names.Add(name + "_total");
                        break;
                    case "Histogram":
                        names.UnionWith([name + "_bucket", name + "_sum", name + "_count"]);
                        break;
                    default:
                        names.Add(name);
                        break;
                }
            }
        }

        return names;
    }

    [GeneratedRegex(@"\btwin_[a-z0-9_]+")]
    private static partial Regex TwinMetric();

    [GeneratedRegex(@"Create(?<kind>Counter|Histogram|UpDownCounter|ObservableCounter|ObservableUpDownCounter|ObservableGauge|Gauge)\s*(?:<[^>]*>)?\s*\(\s*""(?<name>twin\.[a-z0-9_.]+)""\s*(?:,\s*""(?<unit>[^""]*)"")?(?<rest>[^;]*)", RegexOptions.Singleline)]
    private static partial Regex Instrument();

    [GeneratedRegex(@"unit:\s*""([^""]*)""")]
    private static partial Regex UnitArgument();
}
