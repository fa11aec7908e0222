using Twin.Machines;

namespace Twin.Grains.Infrastructure;

/// <summary>One accepted sensor reading as the history keeps it.</summary>
[GenerateSerializer, Immutable, Alias("twin.HistoryPoint")]
public readonly record struct HistoryPoint(
    [property: Id(0)] string Sensor,
    [property: Id(1)] DateTimeOffset Timestamp,
    [property: Id(2)] double Value,
    [property: Id(3)] ReadingQuality Quality,
    [property: Id(4)] double AnomalyScore,
    [property: Id(5)] string? Source,
    [property: Id(6)] long Seq);

/// <summary>
/// Where a machine twin hands the readings it made durable, to be written to the history in
/// batches off the hot path. The twin keeps the readings in its own state until the returned task
/// says they are written, so a crash in between loses nothing: the next activation hands them
/// over again (the store ignores a reading it has).
/// </summary>
public interface IHistorySink
{
    /// <summary>Completes when the readings are written; waits while the history's queue is full; faults only when the host stops first.</summary>
    Task AppendAsync(string machineKey, IReadOnlyList<HistoryPoint> points);
}

/// <summary>No history (tests, or history switched off).</summary>
public sealed class NullHistorySink : IHistorySink
{
    public Task AppendAsync(string machineKey, IReadOnlyList<HistoryPoint> points) => Task.CompletedTask;
}

/// <summary>The twin's list of readings waiting for the history.</summary>
public static class HistoryRules
{
    /// <summary>Takes <paramref name="written"/> out of the pending list (usually its head, in order).</summary>
    public static void Written(Twin.Grains.Domain.MachineState state, IReadOnlyList<HistoryPoint> written)
    {
        if (state.HistoryPending is not { } pending)
        {
            return;
        }

        var head = 0;
        while (head < written.Count && head < pending.Count && pending[head].Equals(written[head]))
        {
            head++;
        }

        if (head == written.Count)
        {
            pending.RemoveRange(0, head);
        }
        else
        {
            var done = written.ToHashSet();
            pending.RemoveAll(done.Contains);
        }

        if (pending.Count == 0)
        {
            state.HistoryPending = null;
        }
    }
}
