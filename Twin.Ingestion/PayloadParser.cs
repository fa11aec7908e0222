using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Twin.Machines;
using Twin.Quality;

namespace Twin.Ingestion;

/// <summary>Limits applied to every payload, whatever the transport.</summary>
public sealed class PayloadLimits
{
    /// <summary>Largest payload accepted, in bytes.</summary>
    public int MaxPayloadBytes { get; set; } = 64 * 1024;

    /// <summary>Most sensor values in one telemetry message.</summary>
    public int MaxValuesPerMessage { get; set; } = 256;

    /// <summary>
    /// Deepest JSON nesting a machine payload may have (System.Text.Json's own default). Unknown
    /// fields are skipped, so a device may send nested extras; the readers never recurse, and the
    /// payload size limit bounds the work.
    /// </summary>
    public const int MaxJsonDepth = 64;

    /// <summary>The reason for a payload that nests deeper than <see cref="MaxJsonDepth"/>.</summary>
    public static readonly string TooDeep = $"payload.too-deep: the JSON nests deeper than {MaxJsonDepth} levels";

    /// <summary>
    /// The <c>payload.encoding</c> reason for bytes that are not UTF-8 anywhere in the payload (a
    /// JSON reader checks only the text it decodes, so bad bytes in a field it skips would pass) or
    /// for a leading byte order mark; null when the payload is plain UTF-8.
    /// </summary>
    public static string? EncodingError(ReadOnlySpan<byte> payload) =>
        !System.Text.Unicode.Utf8.IsValid(payload) ? "payload.encoding: the payload is not valid UTF-8 JSON"
        : payload.StartsWith("\uFEFF"u8) ? "payload.encoding: the payload starts with a byte order mark; send UTF-8 JSON without one"
        : null;

    /// <summary>
    /// Whether <paramref name="json"/> opens more than <see cref="MaxJsonDepth"/> nested objects or
    /// arrays before any other syntax error: tells a too-deep payload from a malformed one, whichever
    /// field the depth is in and whichever reader refused it. Iterative, bounded by the payload.
    /// </summary>
    public static bool NestsTooDeep(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = json.Length + 1 });
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && reader.CurrentDepth >= MaxJsonDepth)
                {
                    return true;
                }
            }
        }
        catch (JsonException)
        {
        }
        catch (InvalidOperationException)
        {
        }

        return false;
    }

    /// <summary>Readings may be at most this far ahead of the gateway's clock.</summary>
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The one event-time check of every source (MQTT, Sparkplug, UNS, HTTP telemetry and MES
    /// events): a <c>ts.future</c> reason when <paramref name="at"/> is more than
    /// <see cref="MaxClockSkew"/> ahead of <paramref name="now"/>, else null. A far-future time
    /// would become its twin's "now" and push every real reading out of its windows.
    /// </summary>
    public string? Future(DateTimeOffset at, DateTimeOffset now, string? what = null) =>
        at - now > MaxClockSkew
            ? $"ts.future: {(what is null ? "" : what + " at ")}{at:O} is more than {MaxClockSkew} ahead of the gateway's clock"
            : null;
}

/// <summary>The outcome of parsing one payload: a message, or the reason it was rejected.</summary>
public readonly record struct ParseResult(MachineMessage? Message, string? Error)
{
    public bool Ok => Message is not null;

    public static ParseResult Fail(string error) => new(null, error);
}

/// <summary>
/// Parses the JSON payloads of the MQTT contract (also posted over HTTP). Never throws on bad
/// input: every problem comes back as a reason of the form <c>code: detail</c>.
/// </summary>
public static class PayloadParser
{
    private const int MaxNameLength = 64;

    /// <summary>The largest magnitude a reading may have (before and after unit conversion).</summary>
    public const double MaxMagnitude = 1e15;

    public static ParseResult Parse(MachineTopicKind kind, ReadOnlySpan<byte> payload, PayloadLimits limits, DateTimeOffset now)
    {
        if (payload.Length > limits.MaxPayloadBytes)
        {
            return ParseResult.Fail($"payload.too-large: {payload.Length} bytes, the limit is {limits.MaxPayloadBytes}");
        }

        if (payload.IsEmpty)
        {
            return ParseResult.Fail("payload.empty: the payload is empty");
        }

        if (PayloadLimits.EncodingError(payload) is { } encoding)
        {
            return ParseResult.Fail(encoding);
        }

        var reader = new Utf8JsonReader(payload, new JsonReaderOptions { MaxDepth = PayloadLimits.MaxJsonDepth, CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            var result = ParseMessage(kind, ref reader, limits, now);
            return result.Ok && HasTrailingContent(ref reader)
                ? ParseResult.Fail("payload.trailing: there is more after the JSON object")
                : result;
        }
        catch (JsonException ex)
        {
            return ParseResult.Fail(PayloadLimits.NestsTooDeep(payload) ? PayloadLimits.TooDeep : $"payload.malformed: {ex.Message}");
        }
        catch (InvalidOperationException)
        {
            // Utf8JsonReader refuses to transcode text that is not UTF-8.
            return ParseResult.Fail("payload.encoding: the payload is not valid UTF-8 JSON");
        }
    }

    private static bool HasTrailingContent(ref Utf8JsonReader reader)
    {
        try
        {
            return reader.Read();
        }
        catch (JsonException)
        {
            return true;
        }
    }

    /// <summary>One pass over the object: the common fields for every kind, the kind's own fields, the rest skipped.</summary>
    private static ParseResult ParseMessage(MachineTopicKind kind, ref Utf8JsonReader reader, PayloadLimits limits, DateTimeOffset now)
    {
        long? seq = null, good = null, scrap = null;
        string? source = null, workOrder = null;
        DateTimeOffset? ts = null;
        MachineRunState? state = null;
        List<(string Name, double Value)>? values = null;
        Dictionary<string, string>? units = null;
        string? part = null, batch = null, defect = null;
        bool? reinspection = null;
        DateTimeOffset? start = null;
        List<Measurement>? measurements = null;
        if (StartObject(ref reader) is { } startError)
        {
            return ParseResult.Fail(startError);
        }

        while (Next(ref reader) == JsonTokenType.PropertyName)
        {
            var property = reader.GetString()!;
            Next(ref reader);
            var error = (kind, property) switch
            {
                (_, "seq") => ReadSeq(ref reader, out seq),
                (_, "ts") => ReadTimestamp(ref reader, out ts),
                (_, "source") => ReadSource(ref reader, out source),
                (MachineTopicKind.Telemetry, "values") => ReadValues(ref reader, limits, out values),
                (MachineTopicKind.Telemetry, "units") => ReadUnits(ref reader, limits, out units),
                (MachineTopicKind.Status, "state") => ReadState(ref reader, out state),
                (MachineTopicKind.Counts, "good") => ReadCount(ref reader, "good", out good),
                (MachineTopicKind.Counts, "scrap") => ReadCount(ref reader, "scrap", out scrap),
                (MachineTopicKind.Counts or MachineTopicKind.Quality, "workOrder") => ReadWorkOrder(ref reader, out workOrder),
                (MachineTopicKind.Quality, "measurements") => ReadMeasurements(ref reader, limits, out measurements),
                (MachineTopicKind.Quality, "part") => ReadId(ref reader, "part", out part),
                (MachineTopicKind.Quality, "batch") => ReadId(ref reader, "batch", out batch),
                (MachineTopicKind.Quality, "defect") => ReadId(ref reader, "defect", out defect),
                (MachineTopicKind.Quality, "reinspection") => ReadBool(ref reader, "reinspection", out reinspection),
                (MachineTopicKind.Quality, "start") => ReadOptionalTime(ref reader, "start", out start),
                _ => Skip(ref reader),
            };
            if (error is not null)
            {
                return ParseResult.Fail(error);
            }
        }

        if (Common(seq, ts, limits, now) is { } commonError)
        {
            return ParseResult.Fail(commonError);
        }

        return kind switch
        {
            MachineTopicKind.Telemetry => Telemetry(seq!.Value, ts!.Value, source, values, units),
            MachineTopicKind.Quality => QualityPayload.Build(seq!.Value, ts!.Value, measurements, part, batch, workOrder, defect, reinspection ?? false, start) is var (quality, qualityError) && quality is not null
                ? new ParseResult(quality with { Source = source }, null)
                : ParseResult.Fail(qualityError!),
            MachineTopicKind.Status => state is null
                ? ParseResult.Fail("state.missing: a status payload needs 'state' (running, idle or down)")
                : new ParseResult(new StatusMessage(seq!.Value, ts!.Value, state.Value) { Source = source }, null),
            _ => good is null && scrap is null
                ? ParseResult.Fail("counts.missing: a counts payload needs 'good' and/or 'scrap'")
                : new ParseResult(new CountsMessage(seq!.Value, ts!.Value, good ?? 0, scrap ?? 0, workOrder) { Source = source }, null),
        };
    }

    // A loop rather than List.Exists with a lambda: that allocates a closure for every value of every message.
    private static int IndexOf(List<(string Name, double Value)> values, string name)
    {
        for (var i = 0; i < values.Count; i++)
        {
            if (values[i].Name == name)
            {
                return i;
            }
        }

        return -1;
    }

    private static ParseResult Telemetry(long seq, DateTimeOffset ts, string? source, List<(string Name, double Value)>? values, Dictionary<string, string>? units)
    {
        if (values is null || values.Count == 0)
        {
            return ParseResult.Fail("values.missing: a telemetry payload needs a non-empty 'values' object");
        }

        foreach (var unitFor in units?.Keys ?? Enumerable.Empty<string>())
        {
            if (IndexOf(values, unitFor) < 0)
            {
                return ParseResult.Fail($"units.unknown-sensor: a unit is given for '{unitFor}', which has no value");
            }
        }

        var readings = ImmutableArray.CreateBuilder<SensorReading>(values.Count);
        foreach (var (name, value) in values)
        {
            string? unit = null;
            units?.TryGetValue(name, out unit);
            readings.Add(new SensorReading(name, value, unit));
        }

        return new ParseResult(new TelemetryMessage(seq, ts, readings.MoveToImmutable()) { Source = source }, null);
    }

    private static string? Skip(ref Utf8JsonReader reader)
    {
        reader.Skip();
        return null;
    }

    private static string? ReadState(ref Utf8JsonReader reader, out MachineRunState? state)
    {
        state = null;
        if (reader.TokenType != JsonTokenType.String)
        {
            return "state.invalid: must be one of running, idle, down";
        }

        var text = reader.GetString()!;
        state = text.ToUpperInvariant() switch
        {
            "RUNNING" => MachineRunState.Running,
            "IDLE" => MachineRunState.Idle,
            "DOWN" => MachineRunState.Down,
            _ => null,
        };
        return state is null ? $"state.invalid: '{Truncate(text)}' is not one of running, idle, down" : null;
    }

    private static string? ReadWorkOrder(ref Utf8JsonReader reader, out string? workOrder)
    {
        workOrder = null;
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (reader.TokenType != JsonTokenType.String || !TwinKey.IsValidId(reader.GetString(), out _))
        {
            return "workOrder.invalid: must be a work order id (letters, digits, '-', '_', '.')";
        }

        workOrder = reader.GetString();
        return null;
    }

    private static string? ReadId(ref Utf8JsonReader reader, string name, out string? id)
    {
        id = null;
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (reader.TokenType != JsonTokenType.String || !TwinKey.IsValidId(reader.GetString(), out _))
        {
            return $"{name}.invalid: must be an id of letters, digits, '-', '_' and '.' (at most 64)";
        }

        id = reader.GetString();
        return null;
    }

    private static string? ReadBool(ref Utf8JsonReader reader, string name, out bool? value)
    {
        value = reader.TokenType switch
        {
            JsonTokenType.True => true,
            JsonTokenType.False => false,
            _ => null,
        };
        return value is null && reader.TokenType != JsonTokenType.Null ? $"{name}.invalid: must be true or false" : null;
    }

    private static string? ReadOptionalTime(ref Utf8JsonReader reader, string name, out DateTimeOffset? time)
    {
        time = null;
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        var error = ReadTimestamp(ref reader, out time);
        return error is null ? null : name + error[2..];
    }

    private static string? ReadNumber(ref Utf8JsonReader reader, string name, out double? value)
    {
        value = null;
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDouble(out var number) || !double.IsFinite(number))
        {
            return $"measurements.not-number: '{name}' must be a finite number";
        }

        value = number;
        return null;
    }

    /// <summary>An array of objects <c>{"characteristic", "value", "lsl", "usl", "nominal", "unit"}</c>.</summary>
    private static string? ReadMeasurements(ref Utf8JsonReader reader, PayloadLimits limits, out List<Measurement>? measurements)
    {
        measurements = null;
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            return "measurements.invalid: must be an array of {\"characteristic\", \"value\", \"lsl\", \"usl\"} objects";
        }

        var list = new List<Measurement>();
        while (Next(ref reader) != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return "measurements.invalid: each measurement must be an object";
            }

            string? characteristic = null, unit = null;
            double? value = null, lsl = null, usl = null, nominal = null;
            while (Next(ref reader) == JsonTokenType.PropertyName)
            {
                var property = reader.GetString()!;
                Next(ref reader);
                string? error = null;
                switch (property)
                {
                    case "characteristic":
                        characteristic = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                        error = characteristic is null ? "measurements.characteristic: must be a string" : null;
                        break;
                    case "value":
                        error = ReadNumber(ref reader, "value", out value);
                        break;
                    case "lsl":
                        error = ReadNumber(ref reader, "lsl", out lsl);
                        break;
                    case "usl":
                        error = ReadNumber(ref reader, "usl", out usl);
                        break;
                    case "nominal":
                        error = ReadNumber(ref reader, "nominal", out nominal);
                        break;
                    case "unit":
                        unit = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                        error = unit is null && reader.TokenType != JsonTokenType.Null ? "measurements.unit: must be a string" : null;
                        break;
                    default:
                        reader.Skip();
                        break;
                }

                if (error is not null)
                {
                    return error;
                }
            }

            if (list.Count == limits.MaxValuesPerMessage)
            {
                return $"measurements.too-many: more than {limits.MaxValuesPerMessage} measurements in one message";
            }

            if (QualityPayload.Measure(characteristic, value, lsl, usl, nominal, unit, out var measurement) is { } invalid)
            {
                return invalid;
            }

            if (list.Exists(m => m.Characteristic == measurement!.Characteristic))
            {
                return $"measurements.duplicate: '{measurement!.Characteristic}' appears twice";
            }

            list.Add(measurement!);
        }

        measurements = list;
        return null;
    }

    private static string? StartObject(ref Utf8JsonReader reader)
    {
        if (!reader.Read())
        {
            return "payload.empty: the payload is empty";
        }

        return reader.TokenType == JsonTokenType.StartObject ? null : "payload.not-object: the payload must be a JSON object";
    }

    private static JsonTokenType Next(ref Utf8JsonReader reader)
    {
        if (!reader.Read())
        {
            throw new JsonException("the JSON ends too early");
        }

        return reader.TokenType;
    }

    private static string? Common(long? seq, DateTimeOffset? ts, PayloadLimits limits, DateTimeOffset now)
    {
        if (seq is null)
        {
            return "seq.missing: every payload needs 'seq', the device's message sequence number";
        }

        if (ts is null)
        {
            return "ts.missing: every payload needs 'ts', the event time (ISO 8601 with offset, e.g. 2026-11-26T08:00:00Z)";
        }

        return limits.Future(ts.Value, now);
    }

    private static string? ReadSeq(ref Utf8JsonReader reader, out long? seq)
    {
        seq = null;
        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var value) || value <= 0)
        {
            return "seq.invalid: must be a positive integer";
        }

        seq = value;
        return null;
    }

    private static string? ReadSource(ref Utf8JsonReader reader, out string? source)
    {
        source = null;
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (reader.TokenType != JsonTokenType.String || !TwinKey.IsValidId(reader.GetString(), out _))
        {
            return "source.invalid: must be a name of letters, digits, '-', '_' and '.' (at most 64)";
        }

        source = reader.GetString();
        return null;
    }

    private static string? ReadTimestamp(ref Utf8JsonReader reader, out DateTimeOffset? ts)
    {
        ts = null;
        if (reader.TokenType != JsonTokenType.String)
        {
            return "ts.invalid: must be an ISO 8601 string, e.g. 2026-11-26T08:00:00Z";
        }

        var text = reader.GetString()!;
        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value))
        {
            return $"ts.invalid: '{Truncate(text)}' is not an ISO 8601 time";
        }

        ts = value;
        return null;
    }

    private static string? ReadCount(ref Utf8JsonReader reader, string name, out long? count)
    {
        count = null;
        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var value) || value < 0 || value > 1_000_000)
        {
            return $"{name}.invalid: must be a whole number from 0 to 1000000";
        }

        count = value;
        return null;
    }

    private static string? ReadValues(ref Utf8JsonReader reader, PayloadLimits limits, out List<(string Name, double Value)>? values)
    {
        values = null;
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return "values.invalid: must be an object of sensor name to number";
        }

        var list = new List<(string, double)>();
        while (Next(ref reader) == JsonTokenType.PropertyName)
        {
            var name = reader.GetString()!;
            Next(ref reader);
            if (!ValidName(name, out var nameError))
            {
                return $"values.sensor: {nameError}";
            }

            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDouble(out var value) || !double.IsFinite(value))
            {
                return $"values.not-number: '{name}' must be a finite number";
            }

            if (Math.Abs(value) > MaxMagnitude)
            {
                // Squares and sums of such values overflow the statistics: no sensor measures them.
                return $"values.out-of-range: '{name}' is {value:G3}; values beyond ±1e15 are refused";
            }

            if (IndexOf(list, name) >= 0)
            {
                return $"values.duplicate: '{name}' appears twice";
            }

            if (list.Count == limits.MaxValuesPerMessage)
            {
                return $"values.too-many: more than {limits.MaxValuesPerMessage} values in one message";
            }

            list.Add((name, value));
        }

        values = list;
        return null;
    }

    private static string? ReadUnits(ref Utf8JsonReader reader, PayloadLimits limits, out Dictionary<string, string>? units)
    {
        units = null;
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return "units.invalid: must be an object of sensor name to unit";
        }

        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        while (Next(ref reader) == JsonTokenType.PropertyName)
        {
            var name = reader.GetString()!;
            Next(ref reader);
            if (reader.TokenType != JsonTokenType.String)
            {
                return $"units.invalid: the unit of '{Truncate(name)}' must be a string";
            }

            var unit = reader.GetString()!;
            if (unit.Length is 0 or > 32)
            {
                return $"units.invalid: the unit of '{Truncate(name)}' must be 1 to 32 characters";
            }

            if (map.Count == limits.MaxValuesPerMessage)
            {
                return $"units.too-many: more than {limits.MaxValuesPerMessage} units in one message";
            }

            map[name] = unit;
        }

        units = map;
        return null;
    }

    private static bool ValidName(string name, out string error)
    {
        if (name.Length is 0 or > MaxNameLength)
        {
            error = $"a sensor name must be 1 to {MaxNameLength} characters";
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
            {
                error = $"'{Truncate(name)}' contains '{c}'; sensor names use letters, digits, '_', '-' and '.'";
                return false;
            }
        }

        error = "";
        return true;
    }

    private static string Truncate(string text) => text.Length <= 40 ? text : string.Concat(text.AsSpan(0, 40), "…");
}
