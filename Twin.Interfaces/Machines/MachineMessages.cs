using System.Collections.Immutable;

namespace Twin.Machines;

/// <summary>The quality of an accepted reading.</summary>
public enum ReadingQuality
{
    /// <summary>Plausible and in a known unit.</summary>
    Good = 0,

    /// <summary>Accepted, but a rule was only partly met (e.g. a dimensionless value).</summary>
    Uncertain = 1,

    /// <summary>Implausible; kept for the record, excluded from analytics.</summary>
    Bad = 2,
}

/// <summary>The run state a machine reports on its status topic.</summary>
public enum MachineRunState
{
    /// <summary>Producing.</summary>
    Running = 0,

    /// <summary>Powered and ready, not producing.</summary>
    Idle = 1,

    /// <summary>Stopped by a fault or stop.</summary>
    Down = 2,
}

/// <summary>The status a machine twin shows: the reported run state, or offline when its heartbeat is lost.</summary>
public enum MachineStatus
{
    /// <summary>Nothing received yet.</summary>
    Unknown = 0,

    /// <summary>Producing.</summary>
    Running = 1,

    /// <summary>Powered and ready, not producing.</summary>
    Idle = 2,

    /// <summary>Stopped by a fault or stop.</summary>
    Down = 3,

    /// <summary>No message for longer than the heartbeat timeout.</summary>
    Offline = 4,
}

/// <summary>One sensor value in a telemetry message, already in its canonical name and unit.</summary>
/// <param name="Sensor">Canonical sensor name, e.g. <c>temperature</c>.</param>
/// <param name="Value">The value.</param>
/// <param name="Unit">Canonical unit, e.g. <c>degC</c>; null when dimensionless.</param>
/// <param name="Quality">Quality flag given by the edge.</param>
[GenerateSerializer, Immutable, Alias("twin.SensorReading")]
public sealed record SensorReading(
    [property: Id(0)] string Sensor,
    [property: Id(1)] double Value,
    [property: Id(2)] string? Unit,
    [property: Id(3)] ReadingQuality Quality = ReadingQuality.Good);

/// <summary>
/// A message from one device. Every device numbers its messages with one sequence across its
/// telemetry, status and counts topics; the twin applies each sequence number once.
/// </summary>
/// <param name="Seq">Per-device sequence number (positive).</param>
/// <param name="Timestamp">Event time: when the device observed it.</param>
[GenerateSerializer, Immutable, Alias("twin.MachineMessage")]
public abstract record MachineMessage(
    [property: Id(0)] long Seq,
    [property: Id(1)] DateTimeOffset Timestamp)
{
    /// <summary>
    /// Who numbered the message: null for the device itself, or a name such as
    /// <c>csv-2026-11</c> for a backfill that numbers its rows on its own. Each source has its
    /// own sequence window, so a backfill never collides with the live device's numbers.
    /// </summary>
    [Id(2)]
    public string? Source { get; init; }
}

/// <summary>Sensor values observed at one instant.</summary>
[GenerateSerializer, Immutable, Alias("twin.TelemetryMessage")]
public sealed record TelemetryMessage(
    long Seq,
    DateTimeOffset Timestamp,
    [property: Id(0)] ImmutableArray<SensorReading> Readings) : MachineMessage(Seq, Timestamp);

/// <summary>A change of run state.</summary>
[GenerateSerializer, Immutable, Alias("twin.StatusMessage")]
public sealed record StatusMessage(
    long Seq,
    DateTimeOffset Timestamp,
    [property: Id(0)] MachineRunState State) : MachineMessage(Seq, Timestamp);

/// <summary>Parts produced since the previous counts message (increments, not totals).</summary>
[GenerateSerializer, Immutable, Alias("twin.CountsMessage")]
public sealed record CountsMessage(
    long Seq,
    DateTimeOffset Timestamp,
    [property: Id(0)] long Good,
    [property: Id(1)] long Scrap,
    [property: Id(2)] string? WorkOrder) : MachineMessage(Seq, Timestamp);

/// <summary>
/// The device's connection ended (a Sparkplug NDEATH or DDEATH): the twin shows
/// <see cref="MachineStatus.Offline"/> until a later message is heard from it.
/// </summary>
/// <param name="Reason">What ended it, e.g. <c>sparkplug.ndeath</c>.</param>
[GenerateSerializer, Immutable, Alias("twin.OfflineMessage")]
public sealed record OfflineMessage(
    long Seq,
    DateTimeOffset Timestamp,
    [property: Id(0)] string Reason) : MachineMessage(Seq, Timestamp);

/// <summary>What the twin did with a batch, once it is durable.</summary>
/// <param name="Applied">Messages applied in order.</param>
/// <param name="Late">Messages older than the newest seen, applied without overwriting newer state.</param>
/// <param name="Duplicates">Messages whose sequence number was already applied; ignored.</param>
/// <param name="TooOld">Messages older than everything the twin remembers of their source (cannot be told from duplicates): not applied, and listed in <paramref name="Rejected"/> with reason <c>sequence.too-old</c>.</param>
/// <param name="Version">The twin's version after the batch.</param>
/// <param name="Rejected">Messages the twin refused (e.g. a sensor beyond the machine's limit), with the reason; not applied.</param>
[GenerateSerializer, Immutable, Alias("twin.IngestResult")]
public sealed record IngestResult(
    [property: Id(0)] int Applied,
    [property: Id(1)] int Late,
    [property: Id(2)] int Duplicates,
    [property: Id(3)] int TooOld,
    [property: Id(4)] long Version,
    [property: Id(5)] ImmutableArray<RejectedMessage> Rejected);

/// <summary>A message a twin refused, and why (<c>code: detail</c>).</summary>
[GenerateSerializer, Immutable, Alias("twin.RejectedMessage")]
public sealed record RejectedMessage(
    [property: Id(0)] long Seq,
    [property: Id(1)] string? Source,
    [property: Id(2)] string Reason);
