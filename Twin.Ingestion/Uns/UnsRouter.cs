using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Twin.Machines;

namespace Twin.Ingestion.Uns;

/// <summary>A Unified Namespace message decoded for the pipeline: its twin, its line (to learn), and the message; or why not.</summary>
public readonly record struct UnsOutcome(string Factory, string Machine, string? Line, MachineMessage? Message, string? Rejection)
{
    public string GrainKey => TwinKey.Compose(Factory, Machine);
}

/// <summary>
/// Unified Namespace JSON: the topic templates of the configured mapping profiles
/// (<c>Twin:Profiles:{factory}:Topics</c>) map a topic to factory, line, machine and tag, and
/// the template's payload shape gives the values. The result is the pipeline's telemetry,
/// normalised by the factory's profile like any other.
/// </summary>
/// <remarks>
/// UNS payloads carry no sequence number. The gateway numbers them per process as they arrive:
/// <c>(start time in ms × 2^20) + a counter</c>, under the source <see cref="Source"/>, so the
/// numbers rise across restarts of the gateway. A message the broker delivers twice (after a
/// reconnect) gets a new number and is applied again: harmless for the latest values (event time
/// decides), but counted twice in the rolling statistics.
/// </remarks>
public sealed class UnsRouter
{
    /// <summary>The source (the twins' sequence window, the statistics' tag) of every UNS message.</summary>
    public const string Source = "uns";

    private readonly List<CompiledTemplate> _templates = [];
    private readonly PayloadLimits _limits;
    private long _next;

    public UnsRouter(ProfilesOptions profiles, PayloadLimits limits, DateTimeOffset started)
    {
        _limits = limits;
        _next = started.ToUnixTimeMilliseconds() << 20;
        // A factory's own templates first: they are more specific than the default profile's.
        foreach (var (factory, profile) in profiles.OrderBy(p => p.Key == ProfilesOptions.DefaultKey ? 1 : 0))
        {
            foreach (var template in profile.Topics)
            {
                if (CompiledTemplate.TryCompile(template, factory == ProfilesOptions.DefaultKey ? null : factory, out var compiled, out _))
                {
                    _templates.Add(compiled);
                }
            }
        }
    }

    /// <summary>The subscriptions the templates need.</summary>
    public IReadOnlyList<string> Filters => [.. _templates.Select(t => t.Filter).Distinct(StringComparer.Ordinal)];

    public bool IsEmpty => _templates.Count == 0;

    /// <summary>
    /// The twin a topic is for, as ingestion would route it (the first template that matches); false
    /// when no template matches or its ids are no ids. The embedded broker uses it to let a device
    /// account publish UNS topics of its own machines only.
    /// </summary>
    public bool TryMatch(string topic, out UnsMatch match)
    {
        match = default;
        var levels = topic.Split('/');
        foreach (var template in _templates)
        {
            if (template.TryMatch(levels, out match, out var error))
            {
                return error is null;
            }
        }

        return false;
    }

    /// <summary>
    /// For a topic no template matches but a template's subscription delivered (a topic under the
    /// template's root with a level too few, say): the dead letter's reason, naming the template, and
    /// the factory of the template's profile (<see cref="IngestPipeline.UnroutedFactory"/> for the
    /// default profile's). False for a topic no template's subscription covers.
    /// </summary>
    public bool TryExplain(string topic, out string factory, out string reason)
    {
        factory = IngestPipeline.UnroutedFactory;
        reason = "";
        var levels = topic.Split('/');
        foreach (var template in _templates)
        {
            if (template.Mismatch(levels) is { } why)
            {
                factory = template.Factory ?? IngestPipeline.UnroutedFactory;
                var owner = template.Factory is null ? "the default profile" : $"the profile of {template.Factory}";
                reason = $"topic.template: the topic is under {template.Filter}, the subscription of {owner}'s template {template.Template.Topic}, but not the template's: {why}";
                return true;
            }
        }

        return false;
    }

    /// <summary>Decodes a message whose topic a template matches; false when none does.</summary>
    public bool TryRoute(string topic, ReadOnlySpan<byte> payload, long length, DateTimeOffset now, out UnsOutcome outcome)
    {
        outcome = default;
        if (_templates.Count == 0)
        {
            return false;
        }

        var levels = topic.Split('/');
        foreach (var template in _templates)
        {
            if (!template.TryMatch(levels, out var match, out var error))
            {
                continue;
            }

            if (error is not null)
            {
                outcome = new UnsOutcome(match.Factory, match.Machine, null, null, error);
                return true;
            }

            var parsed = length > _limits.MaxPayloadBytes
                ? ParseResult.Fail($"payload.too-large: {length} bytes, the limit is {_limits.MaxPayloadBytes}")
                : Parse(match, payload, now);
            outcome = new UnsOutcome(match.Factory, match.Machine, match.Line, parsed.Message, parsed.Error);
            return true;
        }

        return false;
    }

    private ParseResult Parse(UnsMatch match, ReadOnlySpan<byte> payload, DateTimeOffset now)
    {
        if (payload.IsEmpty)
        {
            return ParseResult.Fail("payload.empty: the payload is empty");
        }

        if (PayloadLimits.EncodingError(payload) is { } encoding)
        {
            return ParseResult.Fail(encoding);
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(payload.ToArray(), new JsonDocumentOptions { MaxDepth = PayloadLimits.MaxJsonDepth });
        }
        catch (JsonException ex)
        {
            return ParseResult.Fail(PayloadLimits.NestsTooDeep(payload) ? PayloadLimits.TooDeep : $"payload.malformed: {ex.Message}");
        }

        using (document)
        {
            var template = match.Template;
            var root = document.RootElement;
            var at = now;
            string? unit = null;
            var values = new List<(string Name, double Value)>();
            switch (template.Payload)
            {
                case UnsPayloadShape.Value:
                    if (!TryNumber(root, out var single))
                    {
                        return ParseResult.Fail($"values.not-number: the payload of '{match.Tag}' must be a number");
                    }

                    values.Add((match.Tag!, single));
                    break;

                case UnsPayloadShape.ValueTimestamp:
                    if (root.ValueKind != JsonValueKind.Object)
                    {
                        return ParseResult.Fail($"payload.not-object: expected {{\"{template.ValueField}\": …, \"{template.TimestampField}\": …}}");
                    }

                    if (!root.TryGetProperty(template.ValueField, out var value) || !TryNumber(value, out var number))
                    {
                        return ParseResult.Fail($"values.not-number: '{template.ValueField}' must be a number");
                    }

                    if (root.TryGetProperty(template.UnitField, out var unitElement) && unitElement.ValueKind == JsonValueKind.String && unitElement.GetString() is { Length: > 0 and <= 32 } u)
                    {
                        unit = u;
                    }

                    values.Add((match.Tag!, number));
                    break;

                default:
                    if (root.ValueKind != JsonValueKind.Object)
                    {
                        return ParseResult.Fail("payload.not-object: expected an object of tag to number");
                    }

                    foreach (var property in root.EnumerateObject())
                    {
                        if (property.Name == template.TimestampField)
                        {
                            continue;
                        }

                        if (!TryNumber(property.Value, out var tagValue))
                        {
                            // Text, objects and the like are no sensor readings: left out, as unknown fields are.
                            continue;
                        }

                        var name = SensorNames.FromPath(property.Name);
                        values.Add((match.Tag is null ? name : $"{match.Tag}.{name}", tagValue));
                    }

                    break;
            }

            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty(template.TimestampField, out var ts))
            {
                if (TimestampOf(ts) is not { } eventTime)
                {
                    return ParseResult.Fail($"ts.invalid: '{template.TimestampField}' must be milliseconds since 1970 or an ISO 8601 time");
                }

                at = eventTime;
            }

            if (_limits.Future(at, now) is { } future)
            {
                return ParseResult.Fail(future);
            }

            if (values.Count == 0)
            {
                return ParseResult.Fail("values.missing: the payload has no numeric tag");
            }

            if (values.Count > _limits.MaxValuesPerMessage)
            {
                return ParseResult.Fail($"values.too-many: more than {_limits.MaxValuesPerMessage} values in one message");
            }

            foreach (var (name, v) in values)
            {
                if (Math.Abs(v) > PayloadParser.MaxMagnitude)
                {
                    return ParseResult.Fail($"values.out-of-range: '{name}' is {v:G3}; values beyond ±1e15 are refused");
                }
            }

            var readings = values.Select(v => new SensorReading(v.Name, v.Value, unit)).ToImmutableArray();
            return new ParseResult(new TelemetryMessage(Interlocked.Increment(ref _next), at, readings) { Source = Source }, null);
        }
    }

    private static bool TryNumber(JsonElement element, out double value)
    {
        value = 0;
        switch (element.ValueKind)
        {
            case JsonValueKind.Number:
                return element.TryGetDouble(out value) && double.IsFinite(value);
            case JsonValueKind.True:
                value = 1;
                return true;
            case JsonValueKind.False:
                return true;
            default:
                return false;
        }
    }

    private static DateTimeOffset? TimestampOf(JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out var ms) && ms is >= 0 and <= 253_402_300_799_999)
        {
            return DateTimeOffset.FromUnixTimeMilliseconds(ms);
        }

        if (element.ValueKind == JsonValueKind.String
            && DateTimeOffset.TryParse(element.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed))
        {
            return parsed;
        }

        return null;
    }
}
