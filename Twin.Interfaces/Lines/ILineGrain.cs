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

    /// <summary>Whether the line has been defined.</summary>
    [Alias("Exists")]
    Task<bool> ExistsAsync();
}
