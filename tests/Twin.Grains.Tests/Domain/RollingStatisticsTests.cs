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
        Assert.Equal(Buckets, stats.Buckets.Length);
    }

    [Fact]
    public void A_late_value_lands_in_its_own_bucket_and_a_too_old_one_is_not_counted()
    {
        var stats = new RollingStatistics();
        stats.Add(T0.AddSeconds(55), 5, Width, Buckets);
        Assert.True(stats.Add(T0.AddSeconds(1), 1, Width, Buckets));
        Assert.Equal(2, stats.Buckets.Length);
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

    [Fact]
    public void Holds_exactly_the_buckets_in_use()
    {
        var stats = new RollingStatistics();
        stats.Add(T0, 1, Width, Buckets);
        Assert.Single(stats.Buckets);

        for (var i = 1; i < 200; i++)
        {
            stats.Add(T0.AddSeconds(i), i, Width, Buckets);
            Assert.Equal(Math.Min((i / 10) + 1, Buckets), stats.Buckets.Length);
        }

        // Silent for a while: the window moves on and the expired buckets go.
        stats.Add(T0.AddSeconds(245), 1, Width, Buckets);
        Assert.Equal(2, stats.Buckets.Length);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Keeps_the_same_buckets_as_a_plain_list_for_any_order_of_arrival(int seed)
    {
        var random = new Random(seed);
        var stats = new RollingStatistics();
        var reference = new List<StatBucket>();
        var newest = 0.0;
        for (var i = 0; i < 2000; i++)
        {
            // Mostly forward in time, sometimes late (within the window or beyond it), sometimes a jump.
            newest += random.NextDouble() * 3;
            var offset = random.Next(10) switch
            {
                0 => -random.NextDouble() * 50,
                1 => -random.NextDouble() * 120,
                2 when random.Next(20) == 0 => 90,
                _ => 0,
            };
            newest += offset == 90 ? 90 : 0;
            var at = T0.AddSeconds(newest + (offset == 90 ? 0 : offset));
            var value = random.NextDouble() * 100;

            Assert.Equal(ReferenceAdd(reference, at, value), stats.Add(at, value, Width, Buckets));
            Assert.Equal(reference, stats.Buckets);
        }
    }

    /// <summary>The window as a list that inserts, then drops the expired buckets.</summary>
    private static bool ReferenceAdd(List<StatBucket> buckets, DateTimeOffset eventTime, double value)
    {
        var width = Width.Ticks;
        var start = eventTime.UtcTicks - (((eventTime.UtcTicks % width) + width) % width);
        var index = buckets.FindLastIndex(b => b.StartTicks <= start);
        if (index >= 0 && buckets[index].StartTicks == start)
        {
            var bucket = buckets[index];
            bucket.Add(value);
            buckets[index] = bucket;
            return true;
        }

        var newestStart = buckets.Count == 0 ? start : Math.Max(start, buckets[^1].StartTicks);
        var oldestAllowed = newestStart - ((Buckets - 1) * width);
        if (start < oldestAllowed)
        {
            return false;
        }

        var created = new StatBucket { StartTicks = start };
        created.Add(value);
        buckets.Insert(index + 1, created);
        buckets.RemoveAll(b => b.StartTicks < oldestAllowed);
        return true;
    }
}
