using System.Collections.Immutable;
using Twin.Machines;

namespace Twin.Ingestion;

/// <summary>How one canonical sensor is recognised and checked.</summary>
public sealed class SensorProfile
{
    /// <summary>Other names devices use for this sensor (matched ignoring case), e.g. <c>temp</c>, <c>Temperature_C</c>.</summary>
    public List<string> Aliases { get; set; } = [];

    /// <summary>
    /// The unit readings are stored in (any unit of the table; readings in another unit of the
    /// same quantity are converted). Also the default when a reading gives no unit.
    /// </summary>
    public string? Unit { get; set; }

    /// <summary>Refuse readings that give no unit, instead of assuming <see cref="Unit"/>.</summary>
    public bool RequireUnit { get; set; }

    /// <summary>Lowest plausible value, in <see cref="Unit"/>; below it a reading is kept with quality bad.</summary>
    public double? Min { get; set; }

    /// <summary>Highest plausible value, in <see cref="Unit"/>.</summary>
    public double? Max { get; set; }
}

/// <summary>
/// A factory's data-governance rules (<c>Twin:Profiles:{factory}</c>): canonical sensor names
/// with aliases, units, plausibility ranges. Factories without a profile use <c>Twin:Profiles:default</c>.
/// </summary>
public sealed class MappingProfile
{
    /// <summary>Canonical sensor name → its rules.</summary>
    public Dictionary<string, SensorProfile> Sensors { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Accept sensors the profile does not name (default), kept under their own name.</summary>
    public bool AcceptUnknownSensors { get; set; } = true;

    /// <summary>
    /// Unified Namespace topic templates: which topics are this factory's and where the machine,
    /// line and tag are in them (configuration only: the gateway subscribes to them at start).
    /// </summary>
    public List<Uns.TopicTemplate> Topics { get; set; } = [];

    public static MappingProfile Empty { get; } = new();

    /// <summary>Problems with the profile itself, each naming the setting.</summary>
    public IReadOnlyList<string> Validate(string path)
    {
        var errors = new List<string>();
        var aliases = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, sensor) in Sensors)
        {
            if (sensor.Unit is not null && !Units.TryFind(sensor.Unit, out _))
            {
                errors.Add($"{path}:Sensors:{name}:Unit '{sensor.Unit}' is not a known unit.");
            }

            if (sensor.Min is { } min && sensor.Max is { } max && min > max)
            {
                errors.Add($"{path}:Sensors:{name}: Min {min} is above Max {max}.");
            }

            foreach (var alias in sensor.Aliases.Append(name))
            {
                if (aliases.TryGetValue(alias, out var other) && other != name)
                {
                    errors.Add($"{path}:Sensors:{name}: alias '{alias}' is also used by '{other}'.");
                }

                aliases[alias] = name;
            }
        }

        for (var i = 0; i < Topics.Count; i++)
        {
            errors.AddRange(Topics[i].Validate($"{path}:Topics:{i}", path.EndsWith(":" + ProfilesOptions.DefaultKey, StringComparison.Ordinal)));
        }

        return errors;
    }
}

/// <summary>
/// Applies a mapping profile to a parsed telemetry message: canonical names, units converted to
/// the profile's unit (or the quantity's canonical unit), plausibility flags. Pure and
/// allocation-light; an unknown or incompatible unit rejects the whole message with the reason.
/// </summary>
public sealed class Normaliser
{
    private readonly Dictionary<string, (string Name, SensorProfile Profile)> _byName = new(StringComparer.OrdinalIgnoreCase);
    private readonly bool _acceptUnknown;

    public Normaliser(MappingProfile profile)
    {
        _acceptUnknown = profile.AcceptUnknownSensors;
        foreach (var (name, sensor) in profile.Sensors)
        {
            _byName[name] = (name, sensor);
            foreach (var alias in sensor.Aliases)
            {
                _byName[alias] = (name, sensor);
            }
        }

        // Sources that name sensors by path (Sparkplug, UNS) arrive as SensorNames.FromPath gives:
        // an alias written as the path ("Motor/Temperature") matches them too.
        foreach (var (alias, known) in _byName.ToList())
        {
            _byName.TryAdd(SensorNames.FromPath(alias), known);
        }
    }

    /// <summary>The canonical name the profile gives <paramref name="sensor"/> (itself, any spelling of it, or an alias); null when the profile does not know it.</summary>
    public string? Canonical(string sensor) => _byName.TryGetValue(sensor, out var known) ? known.Name : null;

    public ParseResult Normalise(TelemetryMessage message)
    {
        var readings = ImmutableArray.CreateBuilder<SensorReading>(message.Readings.Length);
        foreach (var reading in message.Readings)
        {
            var result = Normalise(reading);
            if (result.Error is not null)
            {
                return ParseResult.Fail(result.Error);
            }

            if (readings.Any(r => r.Sensor == result.Reading!.Sensor))
            {
                return ParseResult.Fail($"values.duplicate: two values map to the sensor '{result.Reading!.Sensor}'");
            }

            readings.Add(result.Reading!);
        }

        return new ParseResult(message with { Readings = readings.MoveToImmutable() }, null);
    }

    /// <summary>
    /// Like <see cref="Normalise(TelemetryMessage)"/>, but reading by reading: a reading the profile
    /// refuses is left out and listed in <paramref name="refused"/> (its index in the message, the
    /// reason); the others are kept. For sources whose message is a bag of independent tags (Sparkplug
    /// metrics), where one bad tag must not cost the good ones.
    /// </summary>
    public TelemetryMessage NormaliseEach(TelemetryMessage message, List<(int Index, string Reason)> refused)
    {
        var readings = ImmutableArray.CreateBuilder<SensorReading>(message.Readings.Length);
        for (var i = 0; i < message.Readings.Length; i++)
        {
            var result = Normalise(message.Readings[i]);
            if (result.Error is not null)
            {
                refused.Add((i, result.Error));
            }
            else if (readings.Any(r => r.Sensor == result.Reading!.Sensor))
            {
                refused.Add((i, $"values.duplicate: two values map to the sensor '{result.Reading!.Sensor}'; the first is taken"));
            }
            else
            {
                readings.Add(result.Reading!);
            }
        }

        return message with { Readings = readings.ToImmutable() };
    }

    private (SensorReading? Reading, string? Error) Normalise(SensorReading reading)
    {
        if (!_byName.TryGetValue(reading.Sensor, out var known))
        {
            if (!_acceptUnknown)
            {
                return (null, $"sensor.unknown: '{reading.Sensor}' is not in the factory's mapping profile");
            }

            return NormaliseUnit(reading, reading.Sensor, null);
        }

        return NormaliseUnit(reading, known.Name, known.Profile);
    }

    private static (SensorReading? Reading, string? Error) NormaliseUnit(SensorReading reading, string name, SensorProfile? profile)
    {
        UnitDefinition? target = null;
        if (profile?.Unit is { } profileUnit && Units.TryFind(profileUnit, out var t))
        {
            target = t;
        }

        double value = reading.Value;
        string? unit;
        if (reading.Unit is null)
        {
            if (profile?.RequireUnit == true)
            {
                return (null, $"units.missing: the profile requires a unit for '{name}' ({target?.Symbol ?? "any"})");
            }

            // No unit given: the profile's unit if it has one, else dimensionless.
            unit = target?.Symbol;
        }
        else
        {
            if (!Units.TryFind(reading.Unit, out var source))
            {
                return (null, $"units.unknown: '{reading.Unit}' of '{name}' is not a known unit");
            }

            target ??= Units.All.First(u => u.Symbol == source.Canonical && u.Quantity == source.Quantity);
            if (source.Quantity != target.Quantity)
            {
                return (null, $"units.incompatible: '{name}' is measured in {target.Symbol} ({target.Quantity}); {reading.Unit} is {source.Quantity}");
            }

            value = target.FromCanonical(source.ToCanonical(reading.Value));
            unit = target.Symbol;
            if (!double.IsFinite(value) || Math.Abs(value) > PayloadParser.MaxMagnitude)
            {
                return (null, $"values.out-of-range: '{name}' is {reading.Value:G3} {reading.Unit}, beyond ±1e15 in {unit}");
            }
        }

        var quality = reading.Quality;
        if ((profile?.Min is { } min && value < min) || (profile?.Max is { } max && value > max))
        {
            quality = ReadingQuality.Bad;
        }

        return (new SensorReading(name, value, unit, quality), null);
    }
}
