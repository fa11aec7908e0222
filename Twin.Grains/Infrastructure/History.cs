using Twin.Machines;

namespace Twin.Grains.Infrastructure;

/// <summary>One accepted sensor reading as the history keeps it.</summary>
public readonly record struct HistoryPoint(
    string Sensor,
    DateTimeOffset Timestamp,
    double Value,
    ReadingQuality Quality,
    double AnomalyScore,
    string? Source,
    long Seq);

/// <summary>
/// Where a machine twin hands the readings it made durable, to be written to the history in
/// batches off the hot path. Must not block and must not throw.
/// </summary>
public interface IHistorySink
{
    void Append(string machineKey, IReadOnlyList<HistoryPoint> points);
}

/// <summary>No history (tests, or history switched off).</summary>
public sealed class NullHistorySink : IHistorySink
{
    public void Append(string machineKey, IReadOnlyList<HistoryPoint> points)
    {
    }
}
