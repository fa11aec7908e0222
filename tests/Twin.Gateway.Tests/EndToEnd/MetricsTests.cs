using System.Globalization;
using Twin.Testing;
using Xunit.Abstractions;

namespace Twin.Gateway.Tests.EndToEnd;

/// <summary>The Prometheus endpoint of a running gateway counts exactly what it ingested.</summary>
public sealed class MetricsTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Metrics_count_the_readings_accepted_and_rejected_by_reason()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Sub("data"));
        await gateway.StartAsync();
        await using var device = await TestDevice.ConnectAsync(gateway.MqttPort);

        const int Good = 25;
        for (var seq = 1; seq <= Good; seq++)
        {
            await device.PublishAsync("factory/metrics/machine/press-1/telemetry", $"{{\"seq\":{seq},\"ts\":\"{TestDevice.Now(seq - 100)}\",\"values\":{{\"temperature\":{20 + seq}}}}}");
        }

        await device.PublishAsync("factory/metrics/machine/press-1/telemetry", "{not json");
        await device.PublishAsync("factory/metrics/machine/press-1/telemetry", "{\"seq\":99}");
        await device.PublishAsync("factory/metrics/machine/press-2/telemetry", "[1,2,3]");
        const int Bad = 3;

        var metrics = await Wait.ForAsync(
            async () =>
            {
                var text = await gateway.Http.GetStringAsync("/metrics");
                return Sum(text, "twin_readings_accepted_total", "source=\"mqtt\"") == Good
                    && Sum(text, "twin_readings_rejected_total", "source=\"mqtt\"") == Bad ? text : null;
            },
            TimeSpan.FromSeconds(20),
            $"{Good} accepted and {Bad} rejected readings in /metrics");

        foreach (var line in metrics.Split('\n').Where(l => l.StartsWith("twin_", StringComparison.Ordinal)))
        {
            output.WriteLine(line);
        }

        Assert.Equal(Good, Sum(metrics, "twin_ingest_durable_seconds_count", "source=\"mqtt\""));
        Assert.Equal(0, Sum(metrics, "twin_readings_ignored_total", "source=\"mqtt\""));
        Assert.Equal(1, Sum(metrics, "twin_twins_active", "kind=\"machine\""));
        Assert.True(Sum(metrics, "twin_readings_rejected_total", "reason=\"payload.malformed\"") >= 1, "rejections are labelled with their reason");
        Assert.Contains("\norleans_", metrics, StringComparison.Ordinal);
    }

    /// <summary>Sums the samples of one metric whose labels contain <paramref name="label"/>.</summary>
    private static double Sum(string exposition, string metric, string label) =>
        exposition.Split('\n')
            .Where(l => l.StartsWith(metric + "{", StringComparison.Ordinal) || l.StartsWith(metric + " ", StringComparison.Ordinal))
            .Where(l => l.Contains(label, StringComparison.Ordinal))
            .Sum(l => double.Parse((l.Contains('}', StringComparison.Ordinal) ? l[(l.LastIndexOf('}') + 1)..] : l[l.IndexOf(' ', StringComparison.Ordinal)..]).Trim().Split(' ')[0], CultureInfo.InvariantCulture));
}
