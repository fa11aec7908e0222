namespace Twin.Ingestion.Uns;

/// <summary>How the values of a Unified Namespace topic are written.</summary>
public enum UnsPayloadShape
{
    /// <summary>The payload is the number itself: <c>71.3</c>. The tag comes from the topic's <c>{tag}</c>.</summary>
    Value,

    /// <summary>An object with the value and its time: <c>{"value": 71.3, "timestamp": "2026-11-26T08:00:00Z", "unit": "degC"}</c> (time and unit optional).</summary>
    ValueTimestamp,

    /// <summary>An object of tags: <c>{"timestamp_ms": 1764144000000, "temperature": 71.3, "vibration": 2.1}</c>; with <c>{tag}</c> in the topic it is the tags' prefix.</summary>
    Tags,
}

/// <summary>
/// One topic template of a factory's mapping profile (<c>Twin:Profiles:{factory}:Topics</c>): which
/// Unified Namespace topics are that factory's, and where in the topic the machine, line and tag are.
/// </summary>
public sealed class TopicTemplate
{
    /// <summary>
    /// The topic with placeholders, one per level: <c>{machine}</c> (required), <c>{line}</c>,
    /// <c>{tag}</c> (the last level; it takes the rest of the topic, levels joined with <c>.</c>),
    /// <c>{factory}</c> (required in the <c>default</c> profile), and any other name
    /// (<c>{enterprise}</c>, <c>{site}</c>, <c>{area}</c>…) for a level that can be anything.
    /// E.g. <c>umh/v1/{enterprise}/{site}/{area}/{line}/{machine}/_historian/{tag}</c>.
    /// </summary>
    public string Topic { get; set; } = "";

    public UnsPayloadShape Payload { get; set; } = UnsPayloadShape.Value;

    /// <summary>The value's field (<see cref="UnsPayloadShape.ValueTimestamp"/>).</summary>
    public string ValueField { get; set; } = "value";

    /// <summary>The event time's field: milliseconds since the Unix epoch or ISO 8601 text. Without it, the time of arrival.</summary>
    public string TimestampField { get; set; } = "timestamp";

    /// <summary>The unit's field (<see cref="UnsPayloadShape.ValueTimestamp"/>); without it, the profile's unit.</summary>
    public string UnitField { get; set; } = "unit";

    /// <summary>With <c>{line}</c> in the topic, make the machine a member of that line (default on).</summary>
    public bool LearnLine { get; set; } = true;

    /// <summary>Problems with the template, each naming the setting.</summary>
    public IReadOnlyList<string> Validate(string path, bool defaultProfile)
    {
        var errors = new List<string>();
        if (!CompiledTemplate.TryCompile(this, null, out _, out var error))
        {
            errors.Add($"{path}:Topic '{Topic}': {error}");
        }
        else if (defaultProfile && !Topic.Contains("{factory}", StringComparison.Ordinal))
        {
            errors.Add($"{path}:Topic '{Topic}' is in the default profile, so it needs {{factory}}: which factory a topic belongs to must come from the topic.");
        }

        if (Payload != UnsPayloadShape.Tags && !Topic.Contains("{tag}", StringComparison.Ordinal))
        {
            errors.Add($"{path}:Topic '{Topic}' needs {{tag}} for the payload shape {Payload}; only Tags payloads name their tags themselves.");
        }

        if (string.IsNullOrEmpty(ValueField) || string.IsNullOrEmpty(TimestampField) || string.IsNullOrEmpty(UnitField))
        {
            errors.Add($"{path}: ValueField, TimestampField and UnitField must not be empty.");
        }

        return errors;
    }
}

/// <summary>What a topic matched: the twin it is for and the tag (sensor) it names, if any.</summary>
public readonly record struct UnsMatch(string Factory, string Machine, string? Line, string? Tag, TopicTemplate Template);

/// <summary>A template ready to match topics, for one factory (or, with <c>{factory}</c>, any).</summary>
public sealed class CompiledTemplate
{
    private readonly string?[] _literals;
    private readonly string?[] _names;

    private CompiledTemplate(TopicTemplate template, string? factory, string?[] literals, string?[] names)
    {
        Template = template;
        Factory = factory;
        _literals = literals;
        _names = names;
        Filter = string.Join('/', literals.Select((l, i) => l ?? (i == literals.Length - 1 && names[i] == "tag" ? "#" : "+")));
    }

    public TopicTemplate Template { get; }

    /// <summary>The factory of the profile the template is in; null for the default profile (then from <c>{factory}</c>).</summary>
    public string? Factory { get; }

    /// <summary>The MQTT subscription that covers the template.</summary>
    public string Filter { get; }

    public static bool TryCompile(TopicTemplate template, string? factory, out CompiledTemplate compiled, out string error)
    {
        compiled = null!;
        var levels = template.Topic.Split('/');
        if (template.Topic.Length == 0 || levels.Any(l => l.Length == 0))
        {
            error = "a template has one or more levels separated by '/', none empty";
            return false;
        }

        var literals = new string?[levels.Length];
        var names = new string?[levels.Length];
        for (var i = 0; i < levels.Length; i++)
        {
            var level = levels[i];
            if (level.StartsWith('{') && level.EndsWith('}') && level.Length > 2)
            {
                names[i] = level[1..^1];
                if (names[i]!.IndexOfAny(['{', '}', '+', '#']) >= 0)
                {
                    error = $"'{level}' is not a placeholder";
                    return false;
                }

                if (Array.IndexOf(names, names[i], 0, i) >= 0)
                {
                    error = $"{level} appears twice";
                    return false;
                }

                if (names[i] == "tag" && i != levels.Length - 1)
                {
                    error = "{tag} must be the last level (it takes the rest of the topic)";
                    return false;
                }
            }
            else if (level.IndexOfAny(['{', '}', '+', '#']) >= 0)
            {
                error = $"'{level}' mixes text with a placeholder or wildcard; a level is either text or one {{placeholder}}";
                return false;
            }
            else
            {
                literals[i] = level;
            }
        }

        if (!names.Contains("machine"))
        {
            error = "the template needs {machine}";
            return false;
        }

        // Under factory/ a template may not have the contract's shape (factory/…/machine/…/… or a
        // placeholder there): a contract topic of an unknown kind must stay a dead letter.
        if (literals[0] == "spBv1.0" || (literals[0] == "factory" && levels.Length == 5 && literals[2] is null or "machine"))
        {
            error = "the template would take the Sparkplug or JSON contract topics";
            return false;
        }

        compiled = new CompiledTemplate(template, factory, literals, names);
        error = "";
        return true;
    }

    /// <summary>
    /// Why a topic under this template's subscription is not the template's (too few or too many
    /// levels, another text level), or null when it is, or not even under the subscription.
    /// </summary>
    public string? Mismatch(string[] levels)
    {
        if (InContractRoot(levels) || !UnderFilter(levels) || TryMatch(levels, out _, out _))
        {
            return null;
        }

        var hasTag = _names[^1] == "tag";
        var least = _literals.Length - (hasTag && Template.Payload == UnsPayloadShape.Tags ? 1 : 0);
        if (levels.Length < least)
        {
            return $"it has {levels.Length} levels, the template at least {least}";
        }

        if (!hasTag && levels.Length != _literals.Length)
        {
            return $"it has {levels.Length} levels, the template {_literals.Length}";
        }

        return "a level differs";
    }

    /// <summary>Whether the topic is one <see cref="Filter"/> delivers.</summary>
    /// <summary>
    /// A topic under <c>factory/</c> is the JSON contract's, unless the template itself begins with
    /// <c>factory/</c>: a template whose first level is a placeholder (<c>{site}/{factory}/…</c>)
    /// never takes it (a contract topic of a wrong shape stays a dead letter of the contract).
    /// </summary>
    private bool InContractRoot(string[] levels) => _literals[0] is null && levels.Length > 0 && levels[0] == "factory";

    private bool UnderFilter(string[] levels)
    {
        var filter = Filter.Split('/');
        for (var i = 0; i < filter.Length; i++)
        {
            if (filter[i] == "#")
            {
                return true;
            }

            if (i >= levels.Length || (filter[i] != "+" && filter[i] != levels[i]))
            {
                return false;
            }
        }

        return levels.Length == filter.Length;
    }

    /// <summary>Whether <paramref name="topic"/> is this template's; its parts when it is.</summary>
    public bool TryMatch(string[] levels, out UnsMatch match, out string? error)
    {
        match = default;
        error = null;
        if (InContractRoot(levels))
        {
            return false;
        }

        var hasTag = _names[^1] == "tag";
        // A Tags payload names its tags itself: its {tag} level may be left out (UMH's
        // umh/v1/…/_historian with an object of tags), and then the tags have no prefix.
        var tagOptional = hasTag && Template.Payload == UnsPayloadShape.Tags;
        if (levels.Length < _literals.Length - (tagOptional ? 1 : 0) || (!hasTag && levels.Length != _literals.Length))
        {
            return false;
        }

        for (var i = 0; i < Math.Min(_literals.Length, levels.Length); i++)
        {
            if (_literals[i] is { } literal && !string.Equals(literal, levels[i], StringComparison.Ordinal))
            {
                return false;
            }
        }

        string? factory = Factory, machine = null, line = null, tag = null;
        for (var i = 0; i < _names.Length; i++)
        {
            switch (_names[i])
            {
                case "factory":
                    factory = levels[i];
                    break;
                case "machine":
                    machine = levels[i];
                    break;
                case "line":
                    line = levels[i];
                    break;
                case "tag":
                    tag = i < levels.Length ? string.Join('.', levels, i, levels.Length - i) : null;
                    break;
                default:
                    break;
            }
        }

        if (!TwinKey.IsWritableFactory(factory, out var idError))
        {
            error = $"topic.factory: {idError}";
        }
        else if (!TwinKey.IsValidId(machine, out idError))
        {
            error = $"topic.machine: {idError}";
        }
        else if (line is not null && !TwinKey.IsValidId(line, out idError))
        {
            error = $"topic.line: {idError}";
        }

        match = new UnsMatch(factory ?? IngestPipeline.UnroutedFactory, machine ?? "", Template.LearnLine ? line : null, tag is null ? null : SensorNames.FromPath(tag), Template);
        return true;
    }
}
