namespace Twin.Ingestion;

/// <summary>The message kinds of the MQTT contract.</summary>
public enum MachineTopicKind
{
    Telemetry,
    Status,
    Counts,

    /// <summary>Inspection results: measured characteristics against their specification, defect codes.</summary>
    Quality,
}

/// <summary>A parsed contract topic: <c>factory/{factory}/machine/{machine}/{telemetry|status|counts|quality}</c>.</summary>
public readonly record struct MachineTopic(string Factory, string Machine, MachineTopicKind Kind)
{
    /// <summary>The shape of the contract's topics (what devices publish, and what publish-back must stay out of).</summary>
    public const string Filter = "factory/+/machine/+/+";

    /// <summary>
    /// What the gateway subscribes to: the whole contract root, so a topic of the wrong shape
    /// (<c>factory/demo/press-1/telemetry</c>, a trailing <c>/</c>, an empty level) becomes a
    /// dead letter instead of going unseen. Only topics under <c>factory/</c> can be seen:
    /// MQTT topics are case-sensitive, and <c>Factory/…</c> is another root.
    /// </summary>
    public const string Subscription = "factory/#";

    /// <summary>
    /// The cluster's own outbound events (<c>factory/{factory}/events/{type}</c>, docs/INTEGRATION.md),
    /// which the contract subscription also receives: they are not input, and are acknowledged untouched.
    /// </summary>
    public static bool IsOutboundEvent(string topic)
    {
        var parts = topic.Split('/', 4);
        return parts.Length == 4 && parts[0] == "factory" && parts[2] == "events";
    }

    /// <summary>Whether the <see cref="Subscription"/> already delivers every topic of <paramref name="filter"/> (a UNS template under the contract's root).</summary>
    public static bool CoveredBySubscription(string filter) => filter.StartsWith("factory/", StringComparison.Ordinal);

    public string GrainKey => TwinKey.Compose(Factory, Machine);

    public static bool TryParse(string? topic, out MachineTopic parsed, out string error)
    {
        parsed = default;
        var parts = (topic ?? "").Split('/');
        if (parts.Length != 5 || parts[0] != "factory" || parts[2] != "machine")
        {
            error = "topic.unknown: expected factory/{factory}/machine/{machine}/{telemetry|status|counts|quality}";
            return false;
        }

        if (!TwinKey.IsWritableFactory(parts[1], out var idError))
        {
            error = $"topic.factory: {idError}";
            return false;
        }

        if (!TwinKey.IsValidId(parts[3], out idError))
        {
            error = $"topic.machine: {idError}";
            return false;
        }

        MachineTopicKind kind;
        switch (parts[4])
        {
            case "telemetry":
                kind = MachineTopicKind.Telemetry;
                break;
            case "status":
                kind = MachineTopicKind.Status;
                break;
            case "counts":
                kind = MachineTopicKind.Counts;
                break;
            case "quality":
                kind = MachineTopicKind.Quality;
                break;
            default:
                error = $"topic.kind: '{parts[4]}' is not telemetry, status, counts or quality";
                return false;
        }

        parsed = new MachineTopic(parts[1], parts[3], kind);
        error = "";
        return true;
    }
}
