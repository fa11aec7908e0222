using Twin.Grains.Domain;

namespace Twin.Grains.Tests.Domain;

public class RollingStatisticsTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Width = TimeSpan.FromSeconds(10);
    private const int Buckets = 6;

    [Fact]
    public void Matches_a_naive_computation_over_the_window()
    {
        var stats = new RollingStatistics();
        var random = new Random(3);
        var points = new List<(DateTimeOffset Ts, double Value)>();
        for (var i = 0; i < 300; i++)
        {
            var p = (T0.AddSeconds(i * 0.5), 1000 + (random.NextDouble() * 10));
            points.Add(p);
            stats.Add(p.Item1, p.Item2, Width, Buckets);
        }

        // The window is the newest bucket and the five before it.
        var newest = points[^1].Ts;
        var newestStart = newest.UtcTicks - (newest.UtcTicks % Width.Ticks);
        var oldestStart = newestStart - ((Buckets - 1) * Width.Ticks);
        var inWindow = points.Where(p => p.Ts.UtcTicks >= oldestStart).Select(p => p.Value).ToList();
        var mean = inWindow.Average();
        var std = Math.Sqrt(inWindow.Sum(v => (v - mean) * (v - mean)) / (inWindow.Count - 1));

        var result = stats.Compute(Width);
        Assert.Equal(inWindow.Count, result.Count);
        Assert.Equal(mean, result.Mean, 9);
        Assert.Equal(std, result.StdDev, 9);
        Assert.Equal(inWindow.Min(), result.Min);
        Assert.Equal(inWindow.Max(), result.Max);
        Assert.Equal(TimeSpan.FromMinutes(1), result.Span);
        Assert.Equal(Buckets, stats.Buckets.Count);
    }

    [Fact]
    public void A_late_value_lands_in_its_own_bucket_and_a_too_old_one_is_not_counted()
    {
        var stats = new RollingStatistics();
        stats.Add(T0.AddSeconds(55), 5, Width, Buckets);
        Assert.True(stats.Add(T0.AddSeconds(1), 1, Width, Buckets));
        Assert.Equal(2, stats.Buckets.Count);
        Assert.True(stats.Buckets[0].StartTicks < stats.Buckets[1].StartTicks);

        Assert.False(stats.Add(T0.AddSeconds(-30), 100, Width, Buckets));
        var result = stats.Compute(Width);
        Assert.Equal(2, result.Count);
        Assert.Equal(5, result.Max);
    }

    [Fact]
    public void Empty_window_reports_no_values()
    {
        var result = new RollingStatistics().Compute(Width);
        Assert.Equal(0, result.Count);
        Assert.True(double.IsNaN(result.Mean));
    }
}
