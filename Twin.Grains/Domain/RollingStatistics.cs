namespace Twin.Grains.Domain;

/// <summary>Running moments of the values that fell into one slice of event time.</summary>
[GenerateSerializer, Alias("twin.StatBucket")]
public struct StatBucket
{
    [Id(0)] public long StartTicks { get; set; }
    [Id(1)] public long Count { get; set; }
    [Id(2)] public double Mean { get; set; }
    [Id(3)] public double M2 { get; set; }
    [Id(4)] public double Min { get; set; }
    [Id(5)] public double Max { get; set; }

    public void Add(double value)
    {
        Count++;
        var delta = value - Mean;
        Mean += delta / Count;
        M2 += delta * (value - Mean);
        if (Count == 1)
        {
            Min = value;
            Max = value;
        }
        else
        {
            Min = Math.Min(Min, value);
            Max = Math.Max(Max, value);
        }
    }
}

/// <summary>Statistics merged over a window.</summary>
public readonly record struct WindowStatistics(long Count, double Sum, double Mean, double Min, double Max, double StdDev, TimeSpan Span);

/// <summary>
/// Mean, min, max and standard deviation over a sliding window of event time, kept as a fixed
/// number of buckets (Welford moments per bucket, merged with Chan's formula), so memory is
/// constant and late readings land in the bucket of their own time.
/// </summary>
/// <remarks>
/// Every sensor of every active twin holds one, so the buckets live in an array of exactly the
/// buckets in use (a sensor heard once holds one), not in a list with spare capacity.
/// </remarks>
[GenerateSerializer, Alias("twin.RollingStatistics")]
public sealed class RollingStatistics
{
    /// <summary>The buckets as state saved before they were kept in an array has them: read, never written.</summary>
    [Id(0)]
    public List<StatBucket>? LegacyBuckets
    {
        get => null;
        set
        {
            if (value is { Count: > 0 })
            {
                Buckets = [.. value];
            }
        }
    }

    /// <summary>The buckets holding values, oldest first, no two with the same start.</summary>
    [Id(1)]
    public StatBucket[] Buckets { get; set; } = [];

    /// <summary>
    /// Adds a value observed at <paramref name="eventTime"/>. A value older than the window
    /// (measured from the newest bucket) is not counted.
    /// </summary>
    /// <returns>False when the value was too old for the window.</returns>
    public bool Add(DateTimeOffset eventTime, double value, TimeSpan bucketWidth, int bucketCount)
    {
        var buckets = Buckets;
        var added = Add(ref buckets, eventTime, value, bucketWidth, bucketCount);
        Buckets = buckets;
        return added;
    }

    /// <summary>Merges the buckets; <see cref="WindowStatistics.Span"/> runs from the oldest bucket's start to the end of the newest.</summary>
    public WindowStatistics Compute(TimeSpan bucketWidth) => Compute(Buckets, bucketWidth);

    /// <summary>
    /// <see cref="Add(DateTimeOffset, double, TimeSpan, int)"/> on a bare bucket array (oldest
    /// first), for holders that keep the array themselves rather than a <see cref="RollingStatistics"/>.
    /// </summary>
    public static bool Add(ref StatBucket[] buckets, DateTimeOffset eventTime, double value, TimeSpan bucketWidth, int bucketCount)
    {
        var width = bucketWidth.Ticks;
        var ticks = eventTime.UtcTicks;
        var start = ticks - (((ticks % width) + width) % width);

        var index = buckets.Length - 1;
        while (index >= 0 && buckets[index].StartTicks > start)
        {
            index--;
        }

        if (index >= 0 && buckets[index].StartTicks == start)
        {
            buckets[index].Add(value);
            return true;
        }

        var newestStart = buckets.Length == 0 ? start : Math.Max(start, buckets[^1].StartTicks);
        var oldestAllowed = newestStart - ((bucketCount - 1) * width);
        if (start < oldestAllowed)
        {
            return false;
        }

        var expired = 0;
        while (expired < buckets.Length && buckets[expired].StartTicks < oldestAllowed)
        {
            expired++;
        }

        // Buckets [expired, index] stay before the new one, (index, end) after it. Once the window
        // is full a new bucket replaces an expired one in place; only growing or shrinking reallocates.
        var kept = buckets.Length - expired;
        var target = kept + 1 == buckets.Length ? buckets : new StatBucket[kept + 1];
        var position = index + 1 - expired;
        Array.Copy(buckets, expired, target, 0, position);
        Array.Copy(buckets, index + 1, target, position + 1, buckets.Length - index - 1);
        target[position] = new StatBucket { StartTicks = start };
        target[position].Add(value);
        buckets = target;
        return true;
    }

    /// <summary><see cref="Compute(TimeSpan)"/> over a bare bucket array (oldest first).</summary>
    public static WindowStatistics Compute(StatBucket[] buckets, TimeSpan bucketWidth)
    {
        long count = 0;
        double mean = 0, m2 = 0, min = double.NaN, max = double.NaN;
        foreach (var b in buckets)
        {
            if (b.Count == 0)
            {
                continue;
            }

            var total = count + b.Count;
            var delta = b.Mean - mean;
            mean += delta * b.Count / total;
            m2 += b.M2 + (delta * delta * count * b.Count / total);
            min = count == 0 ? b.Min : Math.Min(min, b.Min);
            max = count == 0 ? b.Max : Math.Max(max, b.Max);
            count = total;
        }

        if (count == 0)
        {
            return new WindowStatistics(0, 0, double.NaN, double.NaN, double.NaN, double.NaN, TimeSpan.Zero);
        }

        var span = TimeSpan.FromTicks(buckets[^1].StartTicks - buckets[0].StartTicks) + bucketWidth;
        var stdDev = count > 1 ? Math.Sqrt(m2 / (count - 1)) : 0;
        return new WindowStatistics(count, mean * count, mean, min, max, stdDev, span);
    }
}
