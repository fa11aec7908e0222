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
    /// <summary>The topic filter the gateway subscribes to.</summary>
    public const string Filter = "factory/+/machine/+/+";

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

        if (!TwinKey.IsValidId(parts[1], out var idError))
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
