using System.Collections.Immutable;

namespace Twin.Machines;

/// <summary>What can be wrong with a sensor's signal.</summary>
public enum FaultKind
{
    /// <summary>Above its high limit for at least the minimum duration.</summary>
    LimitHigh = 0,

    /// <summary>Below its low limit for at least the minimum duration.</summary>
    LimitLow = 1,

    /// <summary>A single reading far outside the learned normal behaviour.</summary>
    Spike = 2,

    /// <summary>A sudden sustained change of level.</summary>
    LevelShift = 3,

    /// <summary>A slow sustained departure from the learned level.</summary>
    Drift = 4,

    /// <summary>Changing faster than its maximum rate.</summary>
    RateOfChange = 5,

    /// <summary>A sensor that normally varies repeats the same value (stuck).</summary>
    Flatline = 6,

    /// <summary>No reading for several times the sensor's usual interval.</summary>
    MissingSignal = 7,

    /// <summary>A degradation trend will reach a limit within the prediction horizon (predictive maintenance).</summary>
    Predicted = 8,

    /// <summary>SPC, Nelson rule 1: one point beyond 3 sigma of the centre line (a quality characteristic).</summary>
    Nelson1 = 9,

    /// <summary>SPC, Nelson rule 2: nine points in a row on one side of the centre line.</summary>
    Nelson2 = 10,

    /// <summary>SPC, Nelson rule 3: six points in a row steadily increasing or decreasing.</summary>
    Nelson3 = 11,

    /// <summary>SPC, Nelson rule 4: fourteen points in a row alternating up and down.</summary>
    Nelson4 = 12,

    /// <summary>SPC, Nelson rule 5: two of three points in a row beyond 2 sigma on the same side.</summary>
    Nelson5 = 13,

    /// <summary>SPC, Nelson rule 6: four of five points in a row beyond 1 sigma on the same side.</summary>
    Nelson6 = 14,

    /// <summary>SPC, Nelson rule 7: fifteen points in a row within 1 sigma of the centre line.</summary>
    Nelson7 = 15,

    /// <summary>SPC, Nelson rule 8: eight points in a row beyond 1 sigma, on both sides.</summary>
    Nelson8 = 16,
}

/// <summary>Master data of one sensor: limits and detector settings. Values in the sensor's canonical unit.</summary>
/// <param name="High">Alarm above this value (after <paramref name="MinDuration"/>).</param>
/// <param name="Low">Alarm below this value (after <paramref name="MinDuration"/>).</param>
/// <param name="Hysteresis">The alarm clears only once the value is this far back inside the limit.</param>
/// <param name="MinDuration">How long a limit must be breached before it alarms (event time).</param>
/// <param name="MaxRatePerSecond">Alarm when the value changes faster than this per second.</param>
/// <param name="FlatlineAfter">Alarm when an otherwise varying value stays exactly the same this long.</param>
/// <param name="ExpectedInterval">The sensor's reporting interval; missing signal after 5 of them (learned when null).</param>
[GenerateSerializer, Immutable, Alias("twin.SensorLimit")]
public sealed record SensorLimit(
    [property: Id(0)] double? High = null,
    [property: Id(1)] double? Low = null,
    [property: Id(2)] double Hysteresis = 0,
    [property: Id(3)] TimeSpan MinDuration = default,
    [property: Id(4)] double? MaxRatePerSecond = null,
    [property: Id(5)] TimeSpan? FlatlineAfter = null,
    [property: Id(6)] TimeSpan? ExpectedInterval = null);

/// <summary>Master data of a machine.</summary>
/// <param name="Name">Display name.</param>
/// <param name="Sensors">Limits and detector settings per canonical sensor name.</param>
/// <param name="IdealCycleTime">The fastest possible time per part (ISO 22400 planned unit process time); OEE performance needs it.</param>
/// <param name="Calendar">When production is planned; without one every hour is planned (24/7).</param>
[GenerateSerializer, Immutable, Alias("twin.MachineDefinition")]
public sealed record MachineDefinition(
    [property: Id(0)] string? Name,
    [property: Id(1)] ImmutableDictionary<string, SensorLimit> Sensors,
    [property: Id(2)] TimeSpan? IdealCycleTime = null,
    [property: Id(3)] ShiftCalendar? Calendar = null);

/// <summary>A shift: planned production from <paramref name="Start"/> to <paramref name="End"/> every day (local time of the calendar; an end before the start crosses midnight).</summary>
[GenerateSerializer, Immutable, Alias("twin.Shift")]
public sealed record Shift(
    [property: Id(0)] string Name,
    [property: Id(1)] TimeOnly Start,
    [property: Id(2)] TimeOnly End);

/// <summary>A planned stop inside shifts every day (breaks, cleaning): planned downtime, not a loss.</summary>
[GenerateSerializer, Immutable, Alias("twin.PlannedStop")]
public sealed record PlannedStop(
    [property: Id(0)] TimeOnly Start,
    [property: Id(1)] TimeOnly End,
    [property: Id(2)] string? Reason);

/// <summary>
/// The production calendar of a machine: shifts and daily planned stops, in local time
/// <paramref name="UtcOffset"/> ahead of UTC. Time outside shifts and inside planned stops is
/// planned downtime (ISO 22400): it counts against neither availability nor OEE.
/// </summary>
[GenerateSerializer, Immutable, Alias("twin.ShiftCalendar")]
public sealed record ShiftCalendar(
    [property: Id(0)] ImmutableArray<Shift> Shifts,
    [property: Id(1)] ImmutableArray<PlannedStop> Stops,
    [property: Id(2)] TimeSpan UtcOffset);

/// <summary>A fault that is active on a machine now.</summary>
[GenerateSerializer, Immutable, Alias("twin.ActiveFault")]
public sealed record ActiveFault(
    [property: Id(0)] string Sensor,
    [property: Id(1)] FaultKind Kind,
    [property: Id(2)] DateTimeOffset Since,
    [property: Id(3)] double Value);
