using System.Collections.Immutable;
using Twin.Machines;

namespace Twin.Lines;

/// <summary>Master data of a line: its machines in flow order (the last one is the line's output).</summary>
[GenerateSerializer, Immutable, Alias("twin.LineDefinition")]
public sealed record LineDefinition(
    [property: Id(0)] string? Name,
    [property: Id(1)] ImmutableArray<string> Machines);

/// <summary>The aggregated status of a line.</summary>
public enum LineStatus
{
    /// <summary>No machines, or none has reported.</summary>
    Unknown = 0,

    /// <summary>Every reporting machine runs.</summary>
    Running = 1,

    /// <summary>Some machines run, some are idle.</summary>
    PartlyIdle = 2,

    /// <summary>No machine runs and none is down.</summary>
    Idle = 3,

    /// <summary>At least one machine is down or offline.</summary>
    Impaired = 4,
}

/// <summary>The state of a line twin with its machines' summaries.</summary>
/// <param name="Throughput">Good parts per minute of the line's output machine (the last in flow order).</param>
[GenerateSerializer, Immutable, Alias("twin.LineSnapshot")]
public sealed record LineSnapshot(
    [property: Id(0)] string Factory,
    [property: Id(1)] string Id,
    [property: Id(2)] long Version,
    [property: Id(3)] string? Name,
    [property: Id(4)] LineStatus Status,
    [property: Id(5)] double Throughput,
    [property: Id(6)] long Good,
    [property: Id(7)] long Scrap,
    [property: Id(8)] ImmutableArray<MachineSummary> Machines);

/// <summary>The twin of a production line, keyed <c>"{factory}/{line}"</c>.</summary>
[Alias("twin.ILineGrain")]
public interface ILineGrain : IGrainWithStringKey
{
    /// <summary>Replaces the line's master data; machines leaving or joining are told.</summary>
    [Alias("Define")]
    Task<LineSnapshot> DefineAsync(LineDefinition definition);

    /// <summary>The line with its machines' current summaries.</summary>
    [Alias("GetSnapshot")]
    Task<LineSnapshot> GetSnapshotAsync();

    /// <summary>The line's OEE windows, its bottleneck and each machine's utilisation.</summary>
    [Alias("GetPerformance")]
    Task<LinePerformance> GetPerformanceAsync();

    /// <summary>Whether the line has been defined.</summary>
    [Alias("Exists")]
    Task<bool> ExistsAsync();
}

/// <summary>How much of the observed time one machine of a line was active, over the last hour.</summary>
/// <param name="Active">(run + down) / observed time: the share of time the machine itself was the limit, not waiting.</param>
/// <param name="Utilisation">Run time / planned busy time.</param>
[GenerateSerializer, Immutable, Alias("twin.MachineUtilisation")]
public sealed record MachineUtilisation(
    [property: Id(0)] string Machine,
    [property: Id(1)] double Active,
    [property: Id(2)] double Run,
    [property: Id(3)] double Down,
    [property: Id(4)] double Idle,
    [property: Id(5)] double? Utilisation,
    [property: Id(6)] double GoodPerMinute);

/// <summary>The machine that constrains the line's throughput now (active-period method), with the evidence.</summary>
[GenerateSerializer, Immutable, Alias("twin.Bottleneck")]
public sealed record Bottleneck(
    [property: Id(0)] string Machine,
    [property: Id(1)] double Active,
    [property: Id(2)] string Evidence);

/// <summary>A line's OEE (from its output machine, with the line's ideal cycle time) and its bottleneck.</summary>
[GenerateSerializer, Immutable, Alias("twin.LinePerformance")]
public sealed record LinePerformance(
    [property: Id(0)] string Factory,
    [property: Id(1)] string Id,
    [property: Id(2)] string? OutputMachine,
    [property: Id(3)] TimeSpan? IdealCycleTime,
    [property: Id(4)] ImmutableArray<OeeFigures> Windows,
    [property: Id(5)] Bottleneck? Bottleneck,
    [property: Id(6)] ImmutableArray<MachineUtilisation> Machines);
