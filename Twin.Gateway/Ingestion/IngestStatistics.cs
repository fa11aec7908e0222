using System.Collections.Concurrent;

namespace Twin.Gateway.Ingestion;

/// <summary>Counts of what this gateway process ingested and rejected, since it started.</summary>
public sealed class IngestStatistics
{
    private readonly ConcurrentDictionary<string, long> _rejected = new(StringComparer.Ordinal);
    private long _accepted;
    private long _ignored;

    public long AcceptedMessages => Interlocked.Read(ref _accepted);

    public long IgnoredMessages => Interlocked.Read(ref _ignored);

    public IReadOnlyDictionary<string, long> RejectedByReason => _rejected;

    public void Accepted(int applied, int ignored)
    {
        Interlocked.Add(ref _accepted, applied);
        Interlocked.Add(ref _ignored, ignored);
    }

    public void Rejected(string reasonCode) => _rejected.AddOrUpdate(reasonCode, 1, (_, n) => n + 1);
}
