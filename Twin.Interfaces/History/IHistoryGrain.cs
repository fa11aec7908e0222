using System.Collections.Immutable;
using Twin.Machines;

namespace Twin.History;

/// <summary>A stored reading as a query returns it.</summary>
[GenerateSerializer, Immutable, Alias("twin.HistoryRawPoint")]
public sealed record HistoryRawPoint(
    [property: Id(0)] DateTimeOffset Time,
    [property: Id(1)] double Value,
    [property: Id(2)] ReadingQuality Quality,
    [property: Id(3)] double AnomalyScore);

/// <summary>
/// Readings of one step-long bucket that starts at <see cref="Time"/>: how many, their minimum,
/// maximum and mean. Only readings whose quality is not <c>bad</c> are aggregated.
/// </summary>
[GenerateSerializer, Immutable, Alias("twin.HistoryBucket")]
public sealed record HistoryBucket(
    [property: Id(0)] DateTimeOffset Time,
    [property: Id(1)] long Count,
    [property: Id(2)] double Min,
    [property: Id(3)] double Max,
    [property: Id(4)] double Avg);

/// <summary>What one sensor's history query asks for: readings with <see cref="From"/> ≤ time &lt; <see cref="To"/>.</summary>
[GenerateSerializer, Immutable, Alias("twin.HistoryQuery")]
public sealed record HistoryQuery(
    [property: Id(0)] string Factory,
    [property: Id(1)] string Machine,
    [property: Id(2)] string Sensor,
    [property: Id(3)] DateTimeOffset From,
    [property: Id(4)] DateTimeOffset To,
    [property: Id(5)] int Limit);

/// <summary>Up to the query's limit of points; <see cref="Truncated"/> when there were more.</summary>
[GenerateSerializer, Immutable, Alias("twin.HistoryPage`1")]
public sealed record HistoryPage<T>(
    [property: Id(0)] ImmutableArray<T> Points,
    [property: Id(1)] bool Truncated);

/// <summary>
/// Reads the stored history of the cluster (raw readings and aggregates), wherever it is stored:
/// the silos own the history store; clients ask through this grain (any silo answers).
/// </summary>
[Alias("twin.IHistoryGrain")]
public interface IHistoryGrain : IGrainWithIntegerKey
{
    /// <summary>Null when the history can be read; otherwise why not (naming the setting).</summary>
    [Alias("GetUnavailableReason")]
    Task<string?> GetUnavailableReasonAsync();

    /// <summary>Raw readings in time order.</summary>
    [Alias("ReadRaw")]
    Task<HistoryPage<HistoryRawPoint>> ReadRawAsync(HistoryQuery query);

    /// <summary>
    /// Aggregates over buckets of <paramref name="step"/> (a whole number of minutes), aligned to
    /// multiples of the step since 1970-01-01T00:00Z, built from the 1-minute aggregates.
    /// </summary>
    [Alias("ReadAggregates")]
    Task<HistoryPage<HistoryBucket>> ReadAggregatesAsync(HistoryQuery query, TimeSpan step);
}
