using System.Globalization;

namespace Twin.Grains.Analytics;

/// <summary>Predictive maintenance settings (<c>Twin:Machine:Prediction</c>).</summary>
public sealed class PredictionOptions
{
    /// <summary>Predict for sensors that have a high or low limit.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Readings are averaged over this interval; the trend is fitted to those averages.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How many averages the trend looks back over (at most 128).</summary>
    [SettingRange(3, 128)]
    public int Points { get; set; } = 60;

    /// <summary>No prediction from fewer averages than this (at most <see cref="Points"/>).</summary>
    [SettingRange(3, 128)]
    public int MinPoints { get; set; } = 8;

    /// <summary>A "predicted" ticket opens when a limit is expected within this time.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00.001", "365.00:00:00")]
    public TimeSpan Horizon { get; set; } = TimeSpan.FromHours(24);
}

/// <summary>A sensor's recent interval averages and whether a prediction is raised.</summary>
[GenerateSerializer, Alias("twin.TrendState")]
public sealed class TrendState
{
    [Id(0)] public long Slot { get; set; } = -1;
    [Id(1)] public double Sum { get; set; }
    [Id(2)] public int Count { get; set; }
    [Id(3)] public List<double> Times { get; set; } = [];
    [Id(4)] public List<double> Means { get; set; } = [];
    [Id(5)] public bool Raised { get; set; }
}

/// <summary>When the trend reaches a limit, with a confidence band.</summary>
/// <param name="Limit">The limit value the trend heads for.</param>
/// <param name="Expected">Time from the last average until the fitted trend reaches the limit.</param>
/// <param name="Earliest">The same with the steep end of the slope band (10th–90th percentile of pairwise slopes).</param>
/// <param name="Latest">The same with the shallow end of the band.</param>
public sealed record Prediction(double Limit, TimeSpan Expected, TimeSpan Earliest, TimeSpan Latest, DateTimeOffset At)
{
    public string Describe(string sensor, string side) => string.Format(
        CultureInfo.InvariantCulture,
        "{0} trends to its {1} limit {2:0.###} in about {3} ({4} to {5})",
        sensor, side, Limit, Format(Expected), Format(Earliest), Latest == TimeSpan.MaxValue ? "later" : Format(Latest));

    private static string Format(TimeSpan span) => span.TotalMinutes < 2
        ? string.Format(CultureInfo.InvariantCulture, "{0:0} s", span.TotalSeconds)
        : span.TotalHours < 2
            ? string.Format(CultureInfo.InvariantCulture, "{0:0} min", span.TotalMinutes)
            : string.Format(CultureInfo.InvariantCulture, "{0:0.#} h", span.TotalHours);
}

/// <summary>
/// Degradation trend for predictive maintenance: readings are averaged per interval, a robust
/// Theil–Sen line (median of pairwise slopes, so single spikes and noise barely move it) is fitted
/// to the recent averages, and the time until the line reaches the sensor's limit is estimated,
/// with a band from the 10th and 90th percentile slopes. A prediction is raised only while the
/// whole band heads for the limit (the trend is real, not noise) and the expected time is within
/// the horizon; it clears once the expectation is beyond 1.5 × the horizon or the trend turns.
/// </summary>
public static class DegradationTrend
{
    private const int MaxPoints = 128;

    /// <summary>Adds a reading; returns a newly raised prediction when an interval closes and the rule fires.</summary>
    public static Prediction? Observe(TrendState trend, DateTimeOffset time, double value, double? high, double? low, PredictionOptions options)
    {
        var slot = time.UtcTicks / options.Interval.Ticks;
        if (slot < trend.Slot)
        {
            return null; // late reading of a closed interval
        }

        Prediction? raised = null;
        if (slot > trend.Slot)
        {
            if (trend.Count > 0)
            {
                Close(trend, options);
                raised = Evaluate(trend, high, low, options);
            }

            trend.Slot = slot;
            trend.Sum = 0;
            trend.Count = 0;
        }

        trend.Sum += value;
        trend.Count++;
        return raised;
    }

    /// <summary>The current estimate (for display), whether or not it raises.</summary>
    public static Prediction? Estimate(TrendState trend, double? high, double? low, PredictionOptions options)
    {
        if (trend.Means.Count < options.MinPoints)
        {
            return null;
        }

        var (slope, lower, upper, level, lastTime) = Fit(trend);
        var (limit, headsTo) = high is { } h && slope > 0 ? (h, 1) : low is { } l && slope < 0 ? (l, -1) : (0, 0);
        if (headsTo == 0 || (headsTo > 0 ? level >= limit : level <= limit))
        {
            return null;
        }

        var steep = headsTo > 0 ? upper : lower;
        var shallow = headsTo > 0 ? lower : upper;
        var at = new DateTimeOffset((long)(lastTime * options.Interval.Ticks), TimeSpan.Zero);
        return new Prediction(
            limit,
            Until(limit, level, slope, options),
            Until(limit, level, steep, options),
            shallow * headsTo > 0 ? Until(limit, level, shallow, options) : TimeSpan.MaxValue,
            at);
    }

    private static void Close(TrendState trend, PredictionOptions options)
    {
        trend.Times.Add(trend.Slot);
        trend.Means.Add(trend.Sum / trend.Count);
        var keep = Math.Clamp(options.Points, 2, MaxPoints);
        if (trend.Means.Count > keep)
        {
            trend.Times.RemoveRange(0, trend.Means.Count - keep);
            trend.Means.RemoveRange(0, trend.Means.Count - keep);
        }
    }

    private static Prediction? Evaluate(TrendState trend, double? high, double? low, PredictionOptions options)
    {
        var estimate = Estimate(trend, high, low, options);
        var robust = estimate is not null && estimate.Latest != TimeSpan.MaxValue;
        if (trend.Raised)
        {
            if (estimate is null || estimate.Expected > options.Horizon * 1.5)
            {
                trend.Raised = false;
            }

            return null;
        }

        if (robust && estimate!.Expected <= options.Horizon)
        {
            trend.Raised = true;
            return estimate;
        }

        return null;
    }

    private static TimeSpan Until(double limit, double level, double slopePerSlot, PredictionOptions options)
    {
        var slots = (limit - level) / slopePerSlot;
        return slots is > 0 and < 1e9 ? TimeSpan.FromTicks((long)(slots * options.Interval.Ticks)) : TimeSpan.MaxValue;
    }

    /// <summary>Theil–Sen: median pairwise slope, its 10th/90th percentiles, and the fitted level at the last point.</summary>
    private static (double Slope, double Lower, double Upper, double Level, double LastTime) Fit(TrendState trend)
    {
        var n = trend.Means.Count;
        var slopes = new List<double>(n * (n - 1) / 2);
        for (var i = 0; i < n; i++)
        {
            for (var j = i + 1; j < n; j++)
            {
                slopes.Add((trend.Means[j] - trend.Means[i]) / (trend.Times[j] - trend.Times[i]));
            }
        }

        slopes.Sort();
        var slope = Percentile(slopes, 0.5);
        var intercepts = new List<double>(n);
        for (var i = 0; i < n; i++)
        {
            intercepts.Add(trend.Means[i] - (slope * (trend.Times[i] - trend.Times[0])));
        }

        intercepts.Sort();
        var last = trend.Times[^1];
        var level = Percentile(intercepts, 0.5) + (slope * (last - trend.Times[0]));
        return (slope, Percentile(slopes, 0.1), Percentile(slopes, 0.9), level, last);
    }

    private static double Percentile(List<double> sorted, double p)
    {
        var position = p * (sorted.Count - 1);
        var below = (int)Math.Floor(position);
        var above = Math.Min(sorted.Count - 1, below + 1);
        return sorted[below] + ((sorted[above] - sorted[below]) * (position - below));
    }
}
