using Twin.Grains.Infrastructure;
using Twin.History;
using Twin.Machines;

namespace Twin.Grains.Quality;

/// <summary>A sensor's readings over one part's processing window: how many, their mean, extremes and spread.</summary>
public readonly record struct SensorWindowSummary(int Count, double Mean, double Min, double Max, double StdDev);

/// <summary>
/// Sensor statistics over a part's processing window on its machine, from the stored history:
/// the readings with start ≤ time &lt; end whose quality is not <c>bad</c>. The summary is pure; the
/// read goes through <see cref="IHistoryReader"/>.
/// </summary>
public static class SensorWindowStatistics
{
    /// <summary>Readings asked for per page of a history read.</summary>
    public const int PageSize = 20_000;

    /// <summary>
    /// The summary over [<paramref name="start"/>, <paramref name="end"/>) of <paramref name="points"/>
    /// (in time order); null when no usable reading falls in it.
    /// </summary>
    public static SensorWindowSummary? Summarise(IReadOnlyList<HistoryRawPoint> points, DateTimeOffset start, DateTimeOffset end)
    {
        var i = FirstAtOrAfter(points, start);
        int count = 0;
        double mean = 0, m2 = 0, min = double.PositiveInfinity, max = double.NegativeInfinity;
        for (; i < points.Count && points[i].Time < end; i++)
        {
            var p = points[i];
            if (p.Quality == ReadingQuality.Bad || !double.IsFinite(p.Value))
            {
                continue;
            }

            // Welford: one pass, no cancellation on large values.
            count++;
            var delta = p.Value - mean;
            mean += delta / count;
            m2 += delta * (p.Value - mean);
            min = Math.Min(min, p.Value);
            max = Math.Max(max, p.Value);
        }

        return count == 0 ? null : new SensorWindowSummary(count, mean, min, max, count > 1 ? Math.Sqrt(m2 / (count - 1)) : 0);
    }

    /// <summary>Every stored reading of one sensor in [from, to), page by page, up to <paramref name="maxPoints"/>; Truncated when there were more.</summary>
    public static async Task<(List<HistoryRawPoint> Points, bool Truncated)> ReadAsync(
        IHistoryReader reader, string factory, string machine, string sensor, DateTimeOffset from, DateTimeOffset to, int maxPoints, CancellationToken cancellationToken = default)
    {
        var points = new List<HistoryRawPoint>();
        var next = from;
        while (next < to)
        {
            var page = await reader.ReadRawAsync(new HistoryQuery(factory, machine, sensor, next, to, Math.Min(PageSize, maxPoints - points.Count)), cancellationToken);
            points.AddRange(page.Points);
            if (!page.Truncated || page.Points.IsDefaultOrEmpty)
            {
                return (points, false);
            }

            if (points.Count >= maxPoints)
            {
                return (points, true);
            }

            // The store keeps microseconds: the next page starts just after the last reading.
            next = page.Points[^1].Time.AddTicks(10);
        }

        return (points, false);
    }

    private static int FirstAtOrAfter(IReadOnlyList<HistoryRawPoint> points, DateTimeOffset start)
    {
        int low = 0, high = points.Count;
        while (low < high)
        {
            var mid = (low + high) / 2;
            if (points[mid].Time < start)
            {
                low = mid + 1;
            }
            else
            {
                high = mid;
            }
        }

        return low;
    }
}
