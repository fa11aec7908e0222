using Twin.Grains.Infrastructure;
using Twin.History;
using Twin.Machines;

namespace Twin.Silo.History;

/// <summary>One reading to store, with the machine it belongs to.</summary>
public readonly record struct HistoryEntry(string Factory, string Machine, HistoryPoint Point);

/// <summary>What a cleanup removed.</summary>
public readonly record struct HistoryPurge(long Raw, long Aggregates);

/// <summary>
/// Where the history lives: raw readings, unique per machine, sensor, event time, source and
/// sequence number (so writing a reading twice stores it once), and 1-minute aggregates that are
/// updated in the same transaction, from the readings that were new.
/// </summary>
public interface IHistoryStore : IHistoryReader
{
    /// <summary>Creates what the store needs (SQLite tables); PostgreSQL tables come from the schema scripts.</summary>
    Task InitializeAsync(CancellationToken cancellationToken = default);

    /// <summary>Writes the readings in one transaction; returns how many were new.</summary>
    Task<int> WriteAsync(IReadOnlyList<HistoryEntry> entries, CancellationToken cancellationToken = default);

    /// <summary>Deletes raw readings older than <paramref name="rawBefore"/> and minutes older than <paramref name="aggregatesBefore"/>, at most <paramref name="batchSize"/> rows per statement.</summary>
    Task<HistoryPurge> PurgeAsync(DateTimeOffset rawBefore, DateTimeOffset aggregatesBefore, int batchSize, CancellationToken cancellationToken = default);
}

/// <summary>Times as the stores keep them: microseconds and minutes since 1970-01-01T00:00Z.</summary>
public static class HistoryTime
{
    public const long MicrosPerMinute = 60_000_000;

    public static long ToMicros(DateTimeOffset time) => (time.UtcTicks - DateTimeOffset.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond;

    public static DateTimeOffset FromMicros(long micros) => new(DateTimeOffset.UnixEpoch.Ticks + (micros * TimeSpan.TicksPerMicrosecond), TimeSpan.Zero);

    public static DateTimeOffset FromMinutes(long minutes) => DateTimeOffset.UnixEpoch.AddMinutes(minutes);

    /// <summary>Event time as stored: whole microseconds (PostgreSQL's resolution), UTC.</summary>
    public static DateTimeOffset Truncate(DateTimeOffset time) => FromMicros(ToMicros(time));

    /// <summary>The minute a reading's aggregate goes to.</summary>
    public static long MinuteOf(long micros) => FloorDiv(micros, MicrosPerMinute);

    /// <summary>The minutes an aggregate query reads: [first minute of the bucket holding from, minute of to) — a minute is in when it starts before to.</summary>
    public static (long FirstMinute, long EndMinute) MinuteRange(DateTimeOffset from, DateTimeOffset to, long stepMinutes)
    {
        var first = FloorDiv(MinuteOf(ToMicros(from)), stepMinutes) * stepMinutes;
        var toMicros = ToMicros(to);
        var end = FloorDiv(toMicros, MicrosPerMinute) + (toMicros % MicrosPerMinute == 0 ? 0 : 1);
        return (first, end);
    }

    public static long FloorDiv(long value, long divisor)
    {
        var quotient = value / divisor;
        return (value % divisor != 0 && (value < 0) != (divisor < 0)) ? quotient - 1 : quotient;
    }

    public static long StepMinutes(TimeSpan step)
    {
        if (step < TimeSpan.FromMinutes(1) || step.Ticks % TimeSpan.TicksPerMinute != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(step), step, "The step must be a whole number of minutes, at least one.");
        }

        return step.Ticks / TimeSpan.TicksPerMinute;
    }
}

/// <summary>Count, sum, minimum and maximum of the readings of one minute.</summary>
internal struct MinuteAggregate
{
    public long Count;
    public double Sum;
    public double Min;
    public double Max;

    /// <summary>Aggregates take readings that are not bad and have a finite value, as the twin's statistics do.</summary>
    public static bool Takes(in HistoryPoint point) => point.Quality != ReadingQuality.Bad && double.IsFinite(point.Value);

    public void Add(double value)
    {
        if (Count == 0)
        {
            Min = Max = value;
        }
        else
        {
            Min = Math.Min(Min, value);
            Max = Math.Max(Max, value);
        }

        Count++;
        Sum += value;
    }
}

/// <summary>The history cannot be read in this process (history off, or state kept in another process's memory).</summary>
public sealed class UnavailableHistoryReader(string reason) : IHistoryReader
{
    public string? UnavailableReason { get; } = reason;

    public Task<HistoryPage<HistoryRawPoint>> ReadRawAsync(HistoryQuery query, CancellationToken cancellationToken = default) =>
        throw new InvalidOperationException(UnavailableReason);

    public Task<HistoryPage<HistoryBucket>> ReadAggregatesAsync(HistoryQuery query, TimeSpan step, CancellationToken cancellationToken = default) =>
        throw new InvalidOperationException(UnavailableReason);
}

/// <summary>Reading query results into pages, the same for every store.</summary>
internal static class HistoryPages
{
    /// <summary>Reads up to <paramref name="limit"/> rows; the query asks for one more, which marks the page truncated.</summary>
    public static async Task<HistoryPage<T>> ReadAsync<T>(System.Data.Common.DbDataReader reader, int limit, Func<System.Data.Common.DbDataReader, T> row, CancellationToken cancellationToken)
    {
        var items = new List<T>();
        while (await reader.ReadAsync(cancellationToken))
        {
            if (items.Count == limit)
            {
                return new HistoryPage<T>([.. items], true);
            }

            items.Add(row(reader));
        }

        return new HistoryPage<T>([.. items], false);
    }

    /// <summary>A bucket row: minute number, count, min, max, sum.</summary>
    public static HistoryBucket Bucket(System.Data.Common.DbDataReader reader)
    {
        var count = reader.GetInt64(1);
        return new HistoryBucket(HistoryTime.FromMinutes(reader.GetInt64(0)), count, reader.GetDouble(2), reader.GetDouble(3), reader.GetDouble(4) / count);
    }
}
