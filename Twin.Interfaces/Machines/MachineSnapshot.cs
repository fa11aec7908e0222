using System.Collections.Immutable;

namespace Twin.Machines;

/// <summary>Rolling statistics of a sensor over the twin's window of event time.</summary>
[GenerateSerializer, Immutable, Alias("twin.SensorStatistics")]
public sealed record SensorStatistics(
    [property: Id(0)] long Count,
    [property: Id(1)] double Mean,
    [property: Id(2)] double Min,
    [property: Id(3)] double Max,
    [property: Id(4)] double StdDev,
    [property: Id(5)] TimeSpan Window);

/// <summary>The latest value of one sensor and its rolling statistics.</summary>
[GenerateSerializer, Immutable, Alias("twin.SensorSnapshot")]
public sealed record SensorSnapshot(
    [property: Id(0)] string Sensor,
    [property: Id(1)] double Value,
    [property: Id(2)] string? Unit,
    [property: Id(3)] DateTimeOffset Timestamp,
    [property: Id(4)] ReadingQuality Quality,
    [property: Id(5)] SensorStatistics Statistics,
    [property: Id(6)] double AnomalyScore = 0);

/// <summary>How the twin treated the messages it received, since it was created.</summary>
[GenerateSerializer, Immutable, Alias("twin.IngestCounters")]
public sealed record IngestCounters(
    [property: Id(0)] long Applied,
    [property: Id(1)] long Late,
    [property: Id(2)] long Duplicates,
    [property: Id(3)] long TooOld,
    [property: Id(4)] long SequenceRestarts);

/// <summary>Part counts of a machine.</summary>
/// <param name="Good">Good parts since the twin was created.</param>
/// <param name="Scrap">Scrap parts since the twin was created.</param>
/// <param name="GoodPerMinute">Good parts per minute over the throughput window (event time).</param>
[GenerateSerializer, Immutable, Alias("twin.PartCounts")]
public sealed record PartCounts(
    [property: Id(0)] long Good,
    [property: Id(1)] long Scrap,
    [property: Id(2)] double GoodPerMinute);

/// <summary>The full state of a machine twin.</summary>
[GenerateSerializer, Immutable, Alias("twin.MachineSnapshot")]
public sealed record MachineSnapshot(
    [property: Id(0)] string Factory,
    [property: Id(1)] string Id,
    [property: Id(2)] long Version,
    [property: Id(3)] MachineStatus Status,
    [property: Id(4)] DateTimeOffset? StatusSince,
    [property: Id(5)] DateTimeOffset? LastSeen,
    [property: Id(6)] long LastSeq,
    [property: Id(7)] ImmutableArray<SensorSnapshot> Sensors,
    [property: Id(8)] PartCounts Counts,
    [property: Id(9)] string? CurrentWorkOrder,
    [property: Id(10)] string? Line,
    [property: Id(11)] IngestCounters Ingest,
    [property: Id(12)] ImmutableArray<ActiveFault> ActiveFaults,
    [property: Id(13)] string? Name);

/// <summary>A one-line view of a machine, for lists and line roll-ups.</summary>
[GenerateSerializer, Immutable, Alias("twin.MachineSummary")]
public sealed record MachineSummary(
    [property: Id(0)] string Id,
    [property: Id(1)] long Version,
    [property: Id(2)] MachineStatus Status,
    [property: Id(3)] DateTimeOffset? LastSeen,
    [property: Id(4)] long Good,
    [property: Id(5)] long Scrap,
    [property: Id(6)] double GoodPerMinute,
    [property: Id(7)] int Sensors,
    [property: Id(8)] string? Line);
