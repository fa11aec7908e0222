using Orleans.Concurrency;
using Twin.History;

namespace Twin.Grains.Infrastructure;

/// <summary>Reads the stored history (a silo's view of its history store).</summary>
public interface IHistoryReader
{
    /// <summary>Null when history can be read here; otherwise why not (naming the setting).</summary>
    string? UnavailableReason { get; }

    /// <summary>Raw readings in time order.</summary>
    Task<HistoryPage<HistoryRawPoint>> ReadRawAsync(HistoryQuery query, CancellationToken cancellationToken = default);

    /// <summary>
    /// Aggregates over buckets of <paramref name="step"/> (a whole number of minutes), aligned to
    /// multiples of the step since 1970-01-01T00:00Z: every bucket from the one that contains
    /// <see cref="HistoryQuery.From"/> up to <see cref="HistoryQuery.To"/>, built from the 1-minute aggregates.
    /// </summary>
    Task<HistoryPage<HistoryBucket>> ReadAggregatesAsync(HistoryQuery query, TimeSpan step, CancellationToken cancellationToken = default);
}

/// <summary>Answers history queries on whichever silo it runs (stateless, local, as many as the load needs).</summary>
[StatelessWorker]
internal sealed class HistoryQueryGrain(IHistoryReader reader) : Grain, IHistoryGrain
{
    public Task<string?> GetUnavailableReasonAsync() => Task.FromResult(reader.UnavailableReason);

    public Task<HistoryPage<HistoryRawPoint>> ReadRawAsync(HistoryQuery query) => reader.ReadRawAsync(query);

    public Task<HistoryPage<HistoryBucket>> ReadAggregatesAsync(HistoryQuery query, TimeSpan step) => reader.ReadAggregatesAsync(query, step);
}
