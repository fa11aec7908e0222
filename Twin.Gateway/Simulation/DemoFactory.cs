using System.Collections.Immutable;
using Twin.Bins;
using Twin.Machines;
using Twin.Lines;
using Twin.WorkOrders;

namespace Twin.Gateway.Simulation;

/// <summary>The demo plant: two lines, eight machines, six bins, four work orders.</summary>
internal static class DemoFactory
{
    public sealed record SensorSpec(string Name, string Unit, double Baseline, double Noise, double Swing);

    public sealed record MachineSpec(string Id, string Line, SensorSpec[] Sensors, double PartsPerMinute);

    public static readonly SensorSpec[] PressSensors =
    [
        new("temperature", "degC", 62, 0.4, 3),
        new("vibration", "mm/s", 2.1, 0.15, 0.3),
        new("pressure", "bar", 180, 1.5, 6),
        new("power", "kW", 45, 1, 5),
    ];

    public static readonly SensorSpec[] CncSensors =
    [
        new("temperature", "degC", 48, 0.3, 2),
        new("vibration", "mm/s", 1.4, 0.1, 0.2),
        new("spindle_speed", "rpm", 12000, 60, 400),
        new("power", "kW", 18, 0.5, 2),
    ];

    public static readonly SensorSpec[] OvenSensors =
    [
        new("temperature", "degC", 180, 0.8, 4),
        new("humidity", "%", 35, 0.5, 2),
        new("power", "kW", 60, 1.2, 4),
    ];

    public static readonly MachineSpec[] Machines =
    [
        new("press-1", "assembly", PressSensors, 12),
        new("press-2", "assembly", PressSensors, 12),
        new("weld-1", "assembly", PressSensors, 11),
        new("paint-1", "assembly", OvenSensors, 10),
        new("cnc-1", "machining", CncSensors, 6),
        new("cnc-2", "machining", CncSensors, 6),
        new("cnc-3", "machining", CncSensors, 5),
        new("inspect-1", "machining", CncSensors, 5), // inspects what cnc-3, the slowest, makes
    ];

    /// <summary>What an inspecting machine measures of each part, and the defect codes of its scrap.</summary>
    /// <param name="DriftAfter">From this part on the characteristic drifts by <paramref name="DriftPerPart"/> a part (0: never).</param>
    public sealed record InspectionSpec(string Characteristic, string Unit, double Nominal, double Tolerance, double Noise, long DriftAfter, double DriftPerPart, string[] Defects);

    /// <summary>
    /// The inspections of the demo: the machining line's inspection station measures each shaft's
    /// diameter, which starts to drift once its control limits are learned (from its 26th part); the paint
    /// line measures film thickness. Scrap carries a defect code, for the Pareto.
    /// </summary>
    public static InspectionSpec? Inspection(string machine) => machine switch
    {
        "inspect-1" => new InspectionSpec("diameter", "mm", 40.0, 0.05, 0.006, 25, 0.0008, ["burr", "chatter-marks", "scratch"]),
        "paint-1" => new InspectionSpec("film_thickness", "um", 80, 20, 4, 0, 0, ["paint-run", "orange-peel", "dust-inclusion", "paint-run"]),
        _ => null,
    };

    /// <summary>The machine whose temperature drifts up until its limit alarms (the loop closing).</summary>
    public const string DriftingMachine = "cnc-3";

    /// <summary>Limits per sensor for every demo machine.</summary>
    public static MachineDefinition Definition(MachineSpec spec) => new(
        spec.Id,
        spec.Sensors.ToImmutableDictionary(
            s => s.Name,
            s => s.Name == "temperature"
                ? new SensorLimit(High: s.Baseline + 12, Hysteresis: 2, MinDuration: TimeSpan.FromSeconds(30))
                : new SensorLimit()),
        // Nominal pace with 15 % headroom: the fastest the machine could go.
        TimeSpan.FromSeconds(Math.Round(60.0 / (spec.PartsPerMinute * 1.15), 2)));

    public static readonly (string Id, LineDefinition Definition)[] Lines =
    [
        ("assembly", new LineDefinition("Body assembly", ["press-1", "press-2", "weld-1", "paint-1"])),
        ("machining", new LineDefinition("Shaft machining", ["cnc-1", "cnc-2", "cnc-3", "inspect-1"])),
    ];

    public static readonly (string Id, BinDefinition Definition, decimal InitialStock)[] Bins =
    [
        ("bin-steel", new BinDefinition("steel-sheet-2mm", 200, 1000, "A-01"), 1500),
        ("bin-bolts", new BinDefinition("bolt-m8", 2000, 10000, "A-02"), 2600),
        ("bin-paint", new BinDefinition("paint-red-20l", 10, 40, "B-01"), 60),
        ("bin-bar", new BinDefinition("alu-bar-40mm", 100, 500, "C-01"), 800),
        ("bin-coolant", new BinDefinition("coolant-5l", 5, 20, "C-02"), 30),
        ("bin-boxes", new BinDefinition("box-600x400", 150, 1000, "D-01"), 900),
    ];

    public static readonly (string Id, WorkOrderDefinition Definition, WorkOrderStatus Status)[] WorkOrders =
    [
        ("WO-1001", new WorkOrderDefinition("body-panel-L", 5000, null, [new("steel-sheet-2mm", 1, "bin-steel"), new("bolt-m8", 8, "bin-bolts")], "assembly"), WorkOrderStatus.InProgress),
        ("WO-1002", new WorkOrderDefinition("shaft-40", 300, null, [new("alu-bar-40mm", 1, "bin-bar")], "machining"), WorkOrderStatus.InProgress),
        ("WO-1003", new WorkOrderDefinition("body-panel-R", 5000, null, [new("steel-sheet-2mm", 1, "bin-steel"), new("bolt-m8", 8, "bin-bolts")], "assembly"), WorkOrderStatus.Released),
        ("WO-1004", new WorkOrderDefinition("shaft-50", 1500, null, [new("alu-bar-40mm", 1.2m, "bin-bar")], "machining"), WorkOrderStatus.Created),
    ];
}
