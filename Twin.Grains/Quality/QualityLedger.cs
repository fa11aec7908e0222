using System.Collections.Immutable;
using Twin.Kpis;
using Twin.Quality;

namespace Twin.Grains.Quality;

/// <summary>
/// A machine's inspections counted by hour of event time (inspected, first pass, scrap, defect
/// codes, shifts), the recent hours kept: what the factory's quality KPIs are summed from. Pure.
/// </summary>
public static class QualityLedger
{
    /// <summary>Hours kept behind the newest.</summary>
    public const int HoursKept = 48;

    /// <summary>The hour (UTC) that <paramref name="time"/> falls in.</summary>
    public static DateTimeOffset HourOf(DateTimeOffset time) =>
        new(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerHour), TimeSpan.Zero);

    /// <summary>Counts one inspection into its hour; false when that hour is older than the ones kept.</summary>
    public static bool Add(List<QualityBucket> buckets, InspectionRecord record)
    {
        var hour = HourOf(record.Time);
        if (buckets.Count > 0 && hour < buckets[^1].Hour - TimeSpan.FromHours(HoursKept))
        {
            return false;
        }

        var index = buckets.FindIndex(b => b.Hour == hour);
        var bucket = index >= 0
            ? buckets[index]
            : new QualityBucket(hour, 0, 0, 0, 0, ImmutableDictionary<string, long>.Empty.WithComparers(StringComparer.Ordinal), ImmutableDictionary<string, QualityCount>.Empty.WithComparers(StringComparer.Ordinal));
        var failed = record.Failed ? 1 : 0;
        var shift = record.Shift ?? "";
        var shiftCount = bucket.Shifts.TryGetValue(shift, out var kept) ? kept : new QualityCount(0, 0);
        var defectCount = record.Defect is { } defect && bucket.Defects.TryGetValue(defect, out var n) ? n : 0;
        bucket = bucket with
        {
            Inspected = bucket.Inspected + 1,
            FirstPass = bucket.FirstPass + (record.Reinspection ? 0 : 1),
            FirstPassGood = bucket.FirstPassGood + (record.Reinspection || record.Failed ? 0 : 1),
            Scrap = bucket.Scrap + failed,
            Defects = record.Defect is { } code ? bucket.Defects.SetItem(code, defectCount + 1) : bucket.Defects,
            Shifts = bucket.Shifts.SetItem(shift, new QualityCount(shiftCount.Inspected + 1, shiftCount.Scrap + failed)),
        };

        if (index >= 0)
        {
            buckets[index] = bucket;
        }
        else
        {
            var at = buckets.FindIndex(b => b.Hour > hour);
            buckets.Insert(at < 0 ? buckets.Count : at, bucket);
        }

        var oldest = buckets[^1].Hour - TimeSpan.FromHours(HoursKept);
        buckets.RemoveAll(b => b.Hour < oldest);
        return true;
    }
}
