using System.Globalization;
using Twin.Quality;

namespace Twin.Ingestion;

/// <summary>
/// The rules of an inspection result, whichever way it comes (the MQTT <c>quality</c> topic or the
/// MES inspection event): one measurement, and the whole message. Every problem is a reason of
/// the form <c>code: detail</c>.
/// </summary>
public static class QualityPayload
{
    /// <summary>Most characters of a unit.</summary>
    public const int MaxUnitLength = 32;

    /// <summary>Most measurements in one MES inspection event (an MQTT message has the pipeline's <c>MaxValuesPerMessage</c>).</summary>
    public const int MaxMeasurements = 256;

    /// <summary>Checks one measurement and builds it; the reason when it is not valid.</summary>
    public static string? Measure(string? characteristic, double? value, double? lsl, double? usl, double? nominal, string? unit, out Measurement? measurement)
    {
        measurement = null;
        if (!CharacteristicKey.IsValidName(characteristic, out var nameError))
        {
            return $"measurements.characteristic: {nameError}";
        }

        if (value is null)
        {
            return $"measurements.value: '{characteristic}' needs a 'value'";
        }

        foreach (var (name, number) in new[] { ("value", value), ("lsl", lsl), ("usl", usl), ("nominal", nominal) })
        {
            if (number is { } n && (!double.IsFinite(n) || Math.Abs(n) > PayloadParser.MaxMagnitude))
            {
                return $"measurements.out-of-range: '{name}' of '{characteristic}' must be a finite number within ±1e15";
            }
        }

        if (lsl is { } low && usl is { } high && low >= high)
        {
            return string.Create(CultureInfo.InvariantCulture, $"measurements.spec: the lsl of '{characteristic}' ({low}) must be below its usl ({high})");
        }

        if (unit is { Length: 0 or > MaxUnitLength })
        {
            return $"measurements.unit: the unit of '{characteristic}' must be 1 to {MaxUnitLength} characters";
        }

        measurement = new Measurement(characteristic, value.Value, new SpecLimits(lsl, usl, nominal, unit));
        return null;
    }

    /// <summary>The whole message: at least one measurement or a defect code, and a start before the inspection.</summary>
    public static (QualityMessage? Message, string? Error) Build(
        long seq, DateTimeOffset ts, IReadOnlyList<Measurement>? measurements, string? part, string? batch, string? workOrder, string? defect, bool reinspection, DateTimeOffset? start)
    {
        if ((measurements is null || measurements.Count == 0) && defect is null)
        {
            return (null, "quality.empty: a quality payload needs 'measurements' and/or a 'defect' code");
        }

        if (start is { } s && s >= ts)
        {
            return (null, $"start.invalid: the processing start {s:O} must be before the inspection time {ts:O}");
        }

        var message = new QualityMessage(seq, ts, measurements is null ? [] : [.. measurements], part, batch, workOrder, defect, reinspection, start);
        return (message, null);
    }
}
