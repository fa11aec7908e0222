using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Twin.Ingestion;
using Twin.Machines;

namespace Twin.Gateway.Tests.Ingestion;

public class NormaliserTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);

    private static readonly MappingProfile Profile = new()
    {
        Sensors =
        {
            ["temperature"] = new SensorProfile { Aliases = ["temp", "Temperature_C"], Unit = "degC", Min = -50, Max = 400 },
            ["pressure"] = new SensorProfile { Unit = "bar", RequireUnit = true },
            ["vibration"] = new SensorProfile { Unit = "mm/s" },
        },
    };

    private static ParseResult Normalise(params SensorReading[] readings) =>
        new Normaliser(Profile).Normalise(new TelemetryMessage(1, T0, [.. readings]));

    [Fact]
    public void A_conversion_that_leaves_the_range_is_refused_not_stored_as_infinity()
    {
        // 9e13 MPa is 9e14 bar: kept. 9e14 MPa would be 9e15 bar: refused, never stored.
        var kept = Normalise(new SensorReading("pressure", 9e13, "MPa"));
        Assert.True(kept.Ok, kept.Error);
        var refused = Normalise(new SensorReading("pressure", 9e14, "MPa"));
        Assert.False(refused.Ok);
        Assert.StartsWith("values.out-of-range", refused.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Aliases_map_to_canonical_names_and_units_convert()
    {
        var result = Normalise(new SensorReading("TEMP", 212, "°F"), new SensorReading("pressure", 145.0377, "psi"), new SensorReading("vibration", 0.1, "in/s"));
        var readings = Assert.IsType<TelemetryMessage>(result.Message).Readings;
        Assert.Equal("temperature", readings[0].Sensor);
        Assert.Equal(100, readings[0].Value, 9);
        Assert.Equal("degC", readings[0].Unit);
        Assert.Equal(10, readings[1].Value, 4);
        Assert.Equal("bar", readings[1].Unit);
        Assert.Equal(2.54, readings[2].Value, 9);
    }

    [Fact]
    public void Kelvin_and_megapascal_convert_too()
    {
        var readings = Assert.IsType<TelemetryMessage>(Normalise(new SensorReading("Temperature_C", 300, "K"), new SensorReading("pressure", 1.5, "MPa")).Message).Readings;
        Assert.Equal(26.85, readings[0].Value, 9);
        Assert.Equal(15, readings[1].Value, 9);
    }

    [Fact]
    public void A_missing_unit_takes_the_profile_unit_unless_the_profile_requires_one()
    {
        var ok = Assert.IsType<TelemetryMessage>(Normalise(new SensorReading("temp", 20, null)).Message);
        Assert.Equal("degC", ok.Readings[0].Unit);
        Assert.StartsWith("units.missing", Normalise(new SensorReading("pressure", 2, null)).Error, StringComparison.Ordinal);

        var unknownSensor = Assert.IsType<TelemetryMessage>(Normalise(new SensorReading("counter", 5, null)).Message);
        Assert.Null(unknownSensor.Readings[0].Unit);
    }

    [Fact]
    public void Unknown_and_incompatible_units_reject_the_message_with_the_reason()
    {
        Assert.StartsWith("units.unknown: 'furlongs'", Normalise(new SensorReading("temp", 1, "furlongs")).Error, StringComparison.Ordinal);
        var incompatible = Normalise(new SensorReading("temperature", 1, "bar")).Error;
        Assert.StartsWith("units.incompatible", incompatible, StringComparison.Ordinal);
        Assert.Contains("pressure", incompatible, StringComparison.Ordinal);
        Assert.StartsWith("values.duplicate", Normalise(new SensorReading("temp", 1, null), new SensorReading("temperature", 2, null)).Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Implausible_values_are_kept_with_quality_bad()
    {
        var readings = Assert.IsType<TelemetryMessage>(Normalise(new SensorReading("temp", 9999, "degC"), new SensorReading("temp2", 9999, "degC")).Message).Readings;
        Assert.Equal(ReadingQuality.Bad, readings[0].Quality);
        Assert.Equal(ReadingQuality.Good, readings[1].Quality);
    }

    [Fact]
    public void A_profile_can_refuse_sensors_it_does_not_name()
    {
        var strict = new MappingProfile { AcceptUnknownSensors = false };
        var result = new Normaliser(strict).Normalise(new TelemetryMessage(1, T0, [new SensorReading("x", 1, null)]));
        Assert.StartsWith("sensor.unknown", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Profile_validation_names_the_setting()
    {
        var bad = new MappingProfile
        {
            Sensors =
            {
                ["a"] = new SensorProfile { Unit = "parsecs", Min = 5, Max = 1 },
                ["b"] = new SensorProfile { Aliases = ["A"] },
            },
        };
        var errors = bad.Validate("Twin:Profiles:f");
        Assert.Equal(3, errors.Count);
        Assert.All(errors, e => Assert.StartsWith("Twin:Profiles:f:Sensors:", e, StringComparison.Ordinal));
    }

    [Property(MaxTest = 500)]
    public Property Every_unit_round_trips_through_its_canonical_unit(NormalFloat value)
    {
        var v = Math.Clamp(value.Get, -1e9, 1e9);
        return Units.All.All(u =>
        {
            var back = u.FromCanonical(u.ToCanonical(v));
            return Math.Abs(back - v) <= 1e-9 * Math.Max(1, Math.Abs(v));
        }).ToProperty();
    }

    [Property(MaxTest = 300)]
    public Property Converting_between_units_of_a_quantity_and_back_is_identity(NormalFloat value, PositiveInt a, PositiveInt b)
    {
        var v = Math.Clamp(value.Get, -1e6, 1e6);
        var from = Units.All[a.Get % Units.All.Count];
        var sameQuantity = Units.All.Where(u => u.Quantity == from.Quantity).ToList();
        var to = sameQuantity[b.Get % sameQuantity.Count];
        var there = to.FromCanonical(from.ToCanonical(v));
        var back = from.FromCanonical(to.ToCanonical(there));
        return (Math.Abs(back - v) <= 1e-6 * Math.Max(1, Math.Abs(v))).ToProperty();
    }

    [Property(MaxTest = 2000)]
    public Property The_parser_never_throws_on_arbitrary_bytes(byte[] bytes)
    {
        var now = T0;
        return Enum.GetValues<MachineTopicKind>().All(kind =>
        {
            var result = PayloadParser.Parse(kind, bytes ?? [], new PayloadLimits(), now);
            return result.Ok ^ (result.Error is not null);
        }).ToProperty();
    }

    [Property(MaxTest = 1000)]
    public Property The_parser_never_throws_on_arbitrary_text(string text)
    {
        var bytes = Encoding.UTF8.GetBytes("{\"seq\":1,\"ts\":\"2026-11-26T08:00:00Z\",\"values\":{" + (text ?? "") + "}}");
        var result = PayloadParser.Parse(MachineTopicKind.Telemetry, bytes, new PayloadLimits(), T0);
        return (result.Ok ^ (result.Error is not null)).ToProperty();
    }
}
