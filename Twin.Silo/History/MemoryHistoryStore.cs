using Twin.History;

namespace Twin.Silo.History;

/// <summary>
/// The history in memory, for <c>Twin:Storage:Provider=Memory</c> (tests, demos): the same rules
/// as the database stores, lost on stop. Besides the retention, it keeps at most
/// <see cref="MaxRawPerSensor"/> raw readings per sensor (the newest), so a long demo cannot fill the memory.
/// </summary>
public sealed class MemoryHistoryStore : IHistoryStore
{
    public const int MaxRawPerSensor = 20_000;

    private readonly Lock _lock = new();
    private readonly Dictionary<(string Factory, string Machine, string Sensor), Series> _series = [];

    public string? UnavailableReason => null;

    public Task InitializeAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task<int> WriteAsync(IReadOnlyList<HistoryEntry> entries, CancellationToken cancellationToken = default)
    {
        var inserted = 0;
        lock (_lock)
        {
            foreach (var (factory, machine, point) in entries)
            {
                if (!_series.TryGetValue((factory, machine, point.Sensor), out var series))
                {
                    series = new Series();
                    _series.Add((factory, machine, point.Sensor), series);
                }

                var micros = HistoryTime.ToMicros(point.Timestamp);
                var stored = new HistoryRawPoint(HistoryTime.FromMicros(micros), point.Value, point.Quality, point.AnomalyScore);
                if (!series.Raw.TryAdd((micros, point.Source ?? "", point.Seq), stored))
                {
                    continue;
                }

                inserted++;
                if (series.Raw.Count > MaxRawPerSensor)
                {
                    series.Raw.Remove(series.Raw.Keys.First());
                }

                if (MinuteAggregate.Takes(point))
                {
                    var minute = HistoryTime.MinuteOf(micros);
                    series.Minutes.TryGetValue(minute, out var aggregate);
                    aggregate.Add(point.Value);
                    series.Minutes[minute] = aggregate;
                }
            }
        }

        return Task.FromResult(inserted);
    }

    public Task<HistoryPage<HistoryRawPoint>> ReadRawAsync(HistoryQuery query, CancellationToken cancellationToken = default)
    {
        var from = HistoryTime.ToMicros(query.From);
        var to = HistoryTime.ToMicros(query.To);
        lock (_lock)
        {
            if (!_series.TryGetValue((query.Factory, query.Machine, query.Sensor), out var series))
            {
                return Task.FromResult(new HistoryPage<HistoryRawPoint>([], false));
            }

            var points = series.Raw.Where(r => r.Key.Micros >= from && r.Key.Micros < to).Select(r => r.Value).Take(query.Limit + 1).ToList();
            var truncated = points.Count > query.Limit;
            return Task.FromResult(new HistoryPage<HistoryRawPoint>([.. truncated ? points[..query.Limit] : points], truncated));
        }
    }

    public Task<HistoryPage<HistoryBucket>> ReadAggregatesAsync(HistoryQuery query, TimeSpan step, CancellationToken cancellationToken = default)
    {
        var stepMinutes = HistoryTime.StepMinutes(step);
        var (first, end) = HistoryTime.MinuteRange(query.From, query.To, stepMinutes);
        lock (_lock)
        {
            if (!_series.TryGetValue((query.Factory, query.Machine, query.Sensor), out var series))
            {
                return Task.FromResult(new HistoryPage<HistoryBucket>([], false));
            }

            var buckets = series.Minutes
                .Where(m => m.Key >= first && m.Key < end)
                .GroupBy(m => first + ((m.Key - first) / stepMinutes * stepMinutes))
                .Select(g =>
                {
                    var count = g.Sum(m => m.Value.Count);
                    return new HistoryBucket(HistoryTime.FromMinutes(g.Key), count, g.Min(m => m.Value.Min), g.Max(m => m.Value.Max), g.Sum(m => m.Value.Sum) / count);
                })
                .Take(query.Limit + 1)
                .ToList();
            var truncated = buckets.Count > query.Limit;
            return Task.FromResult(new HistoryPage<HistoryBucket>([.. truncated ? buckets[..query.Limit] : buckets], truncated));
        }
    }

    public Task<HistoryPurge> PurgeAsync(DateTimeOffset rawBefore, DateTimeOffset aggregatesBefore, int batchSize, CancellationToken cancellationToken = default)
    {
        var raw = HistoryTime.ToMicros(rawBefore);
        var minute = HistoryTime.MinuteOf(HistoryTime.ToMicros(aggregatesBefore));
        long rawDeleted = 0, minutesDeleted = 0;
        lock (_lock)
        {
            foreach (var series in _series.Values)
            {
                foreach (var key in series.Raw.Keys.TakeWhile(k => k.Micros < raw).ToList())
                {
                    series.Raw.Remove(key);
                    rawDeleted++;
                }

                foreach (var key in series.Minutes.Keys.TakeWhile(k => k < minute).ToList())
                {
                    series.Minutes.Remove(key);
                    minutesDeleted++;
                }
            }
        }

        return Task.FromResult(new HistoryPurge(rawDeleted, minutesDeleted));
    }

    private sealed class Series
    {
        public SortedDictionary<(long Micros, string Source, long Seq), HistoryRawPoint> Raw { get; } = new(Comparer<(long, string, long)>.Create((a, b) =>
        {
            var c = a.Item1.CompareTo(b.Item1);
            if (c == 0)
            {
                c = string.CompareOrdinal(a.Item2, b.Item2);
            }

            return c != 0 ? c : a.Item3.CompareTo(b.Item3);
        }));

        public SortedDictionary<long, MinuteAggregate> Minutes { get; } = [];
    }
}
