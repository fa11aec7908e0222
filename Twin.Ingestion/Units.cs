using System.Collections.Frozen;

namespace Twin.Ingestion;

/// <summary>A unit a reading may arrive in, and how to turn it into its quantity's canonical unit.</summary>
/// <param name="Symbol">The canonical spelling of this unit.</param>
/// <param name="Quantity">What it measures, e.g. <c>temperature</c>.</param>
/// <param name="Canonical">The canonical unit of that quantity, e.g. <c>degC</c>.</param>
/// <param name="Factor">canonical = value × Factor + Offset.</param>
public sealed record UnitDefinition(string Symbol, string Quantity, string Canonical, double Factor, double Offset = 0)
{
    public double ToCanonical(double value) => (value * Factor) + Offset;

    public double FromCanonical(double value) => (value - Offset) / Factor;
}

/// <summary>
/// The unit table: every unit the platform accepts, grouped by quantity, each with its
/// conversion to the canonical unit (SI-style, chosen for plant use: degC, bar, mm/s, kW …).
/// Symbols are matched case-sensitively first (mW ≠ MW), then by a few common spellings.
/// </summary>
public static class Units
{
    private static readonly UnitDefinition[] Table =
    [
        // temperature → degC
        new("degC", "temperature", "degC", 1),
        new("degF", "temperature", "degC", 5.0 / 9.0, -32 * 5.0 / 9.0),
        new("K", "temperature", "degC", 1, -273.15),

        // pressure → bar
        new("bar", "pressure", "bar", 1),
        new("mbar", "pressure", "bar", 1e-3),
        new("Pa", "pressure", "bar", 1e-5),
        new("hPa", "pressure", "bar", 1e-3),
        new("kPa", "pressure", "bar", 1e-2),
        new("MPa", "pressure", "bar", 10),
        new("psi", "pressure", "bar", 0.0689475729316836),
        new("atm", "pressure", "bar", 1.01325),

        // vibration velocity → mm/s
        new("mm/s", "velocity", "mm/s", 1),
        new("m/s", "velocity", "mm/s", 1000),
        new("in/s", "velocity", "mm/s", 25.4),

        // vibration acceleration → m/s2
        new("m/s2", "acceleration", "m/s2", 1),
        new("g", "acceleration", "m/s2", 9.80665),

        // rotational speed → rpm
        new("rpm", "rotational-speed", "rpm", 1),
        new("rps", "rotational-speed", "rpm", 60),
        new("rad/s", "rotational-speed", "rpm", 60 / (2 * Math.PI)),

        // ratio → %
        new("%", "ratio", "%", 1),
        new("ratio", "ratio", "%", 100),
        new("ppm", "ratio", "%", 1e-4),

        // electrical
        new("A", "current", "A", 1),
        new("mA", "current", "A", 1e-3),
        new("kA", "current", "A", 1e3),
        new("V", "voltage", "V", 1),
        new("mV", "voltage", "V", 1e-3),
        new("kV", "voltage", "V", 1e3),
        new("kW", "power", "kW", 1),
        new("W", "power", "kW", 1e-3),
        new("MW", "power", "kW", 1e3),
        new("hp", "power", "kW", 0.745699872),
        new("kWh", "energy", "kWh", 1),
        new("Wh", "energy", "kWh", 1e-3),
        new("MWh", "energy", "kWh", 1e3),
        new("MJ", "energy", "kWh", 1 / 3.6),
        new("Hz", "frequency", "Hz", 1),
        new("kHz", "frequency", "Hz", 1e3),

        // geometry and material
        new("mm", "length", "mm", 1),
        new("um", "length", "mm", 1e-3),
        new("cm", "length", "mm", 10),
        new("m", "length", "mm", 1e3),
        new("in", "length", "mm", 25.4),
        new("kg", "mass", "kg", 1),
        new("g", "mass", "kg", 1e-3),
        new("t", "mass", "kg", 1e3),
        new("lb", "mass", "kg", 0.45359237),
        new("l/min", "flow", "l/min", 1),
        new("m3/h", "flow", "l/min", 1000.0 / 60.0),
        new("gal/min", "flow", "l/min", 3.785411784),
        new("Nm", "torque", "Nm", 1),
        new("s", "time", "s", 1),
        new("ms", "time", "s", 1e-3),
        new("min", "time", "s", 60),
        new("h", "time", "s", 3600),
    ];

    // "g" is both gravity and gram: the symbol means acceleration; write "gram" for mass.
    private static readonly FrozenDictionary<string, UnitDefinition> BySymbol = Table
        .Where(u => !(u.Symbol == "g" && u.Quantity == "mass"))
        .ToFrozenDictionary(u => u.Symbol, StringComparer.Ordinal);

    private static readonly FrozenDictionary<string, string> Spellings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["°C"] = "degC", ["C"] = "degC", ["celsius"] = "degC", ["degc"] = "degC", ["Cel"] = "degC",
        ["°F"] = "degF", ["F"] = "degF", ["fahrenheit"] = "degF", ["degf"] = "degF",
        ["kelvin"] = "K",
        ["mm/sec"] = "mm/s", ["ips"] = "in/s", ["in/sec"] = "in/s",
        ["m/s^2"] = "m/s2", ["m/s²"] = "m/s2",
        ["1/min"] = "rpm", ["r/min"] = "rpm",
        ["percent"] = "%", ["%RH"] = "%", ["pct"] = "%",
        ["µm"] = "um", ["μm"] = "um",
        ["gram"] = "g-mass", ["lbs"] = "lb",
        ["L/min"] = "l/min", ["lpm"] = "l/min", ["m³/h"] = "m3/h", ["gpm"] = "gal/min",
        ["N·m"] = "Nm", ["N.m"] = "Nm",
        ["sec"] = "s",
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    private static readonly UnitDefinition Gram = Table.Single(u => u.Symbol == "g" && u.Quantity == "mass");

    /// <summary>All units, for documentation and tests.</summary>
    public static IReadOnlyList<UnitDefinition> All => Table;

    /// <summary>Finds a unit by symbol or common spelling.</summary>
    public static bool TryFind(string? symbol, out UnitDefinition unit)
    {
        unit = null!;
        if (string.IsNullOrWhiteSpace(symbol))
        {
            return false;
        }

        var text = symbol.Trim();
        if (BySymbol.TryGetValue(text, out var found))
        {
            unit = found;
            return true;
        }

        if (Spellings.TryGetValue(text, out var canonical))
        {
            unit = canonical == "g-mass" ? Gram : BySymbol[canonical];
            return true;
        }

        return false;
    }
}
