using System.Collections.Immutable;

namespace Twin.Machines;

/// <summary>
/// OEE of one machine (or line) over one window, by ISO 22400: availability = run time / planned
/// busy time; performance = ideal cycle time × produced quantity / run time; quality = good /
/// produced; OEE = availability × performance × quality. Ratios are null when their inputs are
/// missing (no planned time, no run time, no ideal cycle time, nothing produced).
/// </summary>
/// <param name="Window">"shift" (the current shift), "1h", "8h" or "24h" (rolling).</param>
/// <param name="PlannedSeconds">Planned busy time: the window minus planned downtime (outside shifts, planned stops).</param>
/// <param name="RunSeconds">Actual production time: running within the window.</param>
/// <param name="DownSeconds">Time down (faults, unplanned stops).</param>
/// <param name="IdleSeconds">Time idle: powered, waiting (starved or blocked).</param>
[GenerateSerializer, Immutable, Alias("twin.OeeFigures")]
public sealed record OeeFigures(
    [property: Id(0)] string Window,
    [property: Id(1)] DateTimeOffset From,
    [property: Id(2)] DateTimeOffset To,
    [property: Id(3)] double PlannedSeconds,
    [property: Id(4)] double RunSeconds,
    [property: Id(5)] double DownSeconds,
    [property: Id(6)] double IdleSeconds,
    [property: Id(7)] long Good,
    [property: Id(8)] long Scrap,
    [property: Id(9)] double? Availability,
    [property: Id(10)] double? Performance,
    [property: Id(11)] double? Quality,
    [property: Id(12)] double? Oee);

/// <summary>A machine's OEE over the current shift and rolling windows.</summary>
[GenerateSerializer, Immutable, Alias("twin.MachineOee")]
public sealed record MachineOee(
    [property: Id(0)] string Factory,
    [property: Id(1)] string Id,
    [property: Id(2)] TimeSpan? IdealCycleTime,
    [property: Id(3)] ImmutableArray<OeeFigures> Windows);
