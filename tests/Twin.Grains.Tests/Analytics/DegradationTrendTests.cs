using Twin.Grains.Analytics;

namespace Twin.Grains.Tests.Analytics;

public class DegradationTrendTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 0, 0, 0, TimeSpan.Zero);
    private static readonly PredictionOptions Options = new() { Interval = TimeSpan.FromMinutes(1), Points = 60, MinPoints = 8, Horizon = TimeSpan.FromHours(2) };

    [Fact]
    public void A_noisy_drift_towards_the_high_limit_is_predicted_well_before_it_is_reached()
    {
        var random = new Random(7);
        var trend = new TrendState();
        Prediction? raised = null;
        var raisedAt = TimeSpan.Zero;
        double value = 0;
        // 70 °C rising 0.1 °C a minute with ±1 °C noise; the limit 80 is reached after 100 minutes.
        for (var second = 0; second < 100 * 60 && raised is null; second += 5)
        {
            value = 70 + (0.1 * second / 60.0) + Noise(random);
            raised = DegradationTrend.Observe(trend, T0.AddSeconds(second), value, high: 80, low: null, Options);
            raisedAt = TimeSpan.FromSeconds(second);
        }

        Assert.NotNull(raised);
        Assert.True(raisedAt < TimeSpan.FromMinutes(40), $"raised after {raisedAt}");
        Assert.Equal(80, raised.Limit);

        // The estimate brackets the truth: the limit is actually reached at minute 100.
        var actual = TimeSpan.FromMinutes(100) - raisedAt;
        Assert.InRange(actual, raised.Earliest - TimeSpan.FromMinutes(10), raised.Latest + TimeSpan.FromMinutes(10));
        Assert.InRange(raised.Expected.TotalMinutes, actual.TotalMinutes * 0.7, actual.TotalMinutes * 1.3);

        // Raised once, not again every interval.
        for (var second = (int)raisedAt.TotalSeconds + 5; second < (int)raisedAt.TotalSeconds + 600; second += 5)
        {
            Assert.Null(DegradationTrend.Observe(trend, T0.AddSeconds(second), 70 + (0.1 * second / 60.0) + Noise(random), 80, null, Options));
        }
    }

    [Fact]
    public void Noise_and_spikes_around_a_steady_level_never_raise_a_prediction()
    {
        foreach (var seed in Enumerable.Range(1, 5))
        {
            var random = new Random(seed);
            var trend = new TrendState();
            for (var second = 0; second < 24 * 3600; second += 10)
            {
                var spike = random.NextDouble() < 0.01 ? 8 : 0;
                var value = 70 + Noise(random) + spike;
                Assert.Null(DegradationTrend.Observe(trend, T0.AddSeconds(second), value, high: 80, low: 60, Options));
            }
        }
    }

    [Fact]
    public void A_falling_trend_is_predicted_against_the_low_limit()
    {
        var trend = new TrendState();
        Prediction? raised = null;
        for (var minute = 0; minute < 120 && raised is null; minute++)
        {
            raised = DegradationTrend.Observe(trend, T0.AddMinutes(minute), 5.0 - (0.02 * minute), high: null, low: 3.0, Options);
        }

        Assert.NotNull(raised);
        Assert.Equal(3.0, raised.Limit);
        Assert.Contains("low limit", raised.Describe("pressure", "low"), StringComparison.Ordinal);
    }

    private static double Noise(Random random)
    {
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Sin(2.0 * Math.PI * u2);
    }
}
