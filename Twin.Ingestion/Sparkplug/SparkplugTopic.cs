namespace Twin.Ingestion.Sparkplug;

/// <summary>The message types of the Sparkplug B topic namespace (specification 4.1).</summary>
public enum SparkplugMessageType
{
    NBIRTH,
    NDEATH,
    NDATA,
    NCMD,
    DBIRTH,
    DDEATH,
    DDATA,
    DCMD,
    STATE,
}

/// <summary>
/// A parsed Sparkplug topic: <c>spBv1.0/{group}/{type}/{node}[/{device}]</c>, or a host's
/// <c>spBv1.0/STATE/{host}</c> (then <see cref="Node"/> is the host id).
/// </summary>
public readonly record struct SparkplugTopic(string Group, SparkplugMessageType Type, string Node, string? Device)
{
    /// <summary>The namespace every Sparkplug B topic starts with.</summary>
    public const string Namespace = "spBv1.0";

    /// <summary>Where the topic of <paramref name="topic"/> starts a Sparkplug topic.</summary>
    public static bool IsSparkplug(string topic) => topic.StartsWith(Namespace + "/", StringComparison.Ordinal);

    /// <summary>The subscription for one group filter (<c>+</c> or a group id).</summary>
    public static string FilterFor(string group) => $"{Namespace}/{group}/#";

    /// <summary>The topic of a host application's state.</summary>
    public static string StateTopic(string hostId) => $"{Namespace}/STATE/{hostId}";

    /// <summary>The topic of a command to an edge node.</summary>
    public static string NodeCommandTopic(string group, string node) => $"{Namespace}/{group}/NCMD/{node}";

    /// <summary>A Sparkplug id (group, node, device, host): non-empty UTF-8 without the topic's separators or wildcards.</summary>
    public static bool IsValidId(string? id) =>
        !string.IsNullOrEmpty(id) && id.Length <= 256 && id.IndexOfAny(['/', '+', '#']) < 0;

    public static bool TryParse(string topic, out SparkplugTopic parsed, out string error)
    {
        parsed = default;
        var parts = topic.Split('/');
        if (parts.Length < 3 || parts[0] != Namespace)
        {
            error = "sparkplug.topic: expected spBv1.0/{group}/{type}/{edge node}[/{device}]";
            return false;
        }

        if (parts[1] == "STATE" && parts.Length == 3)
        {
            parsed = new SparkplugTopic("", SparkplugMessageType.STATE, parts[2], null);
            error = "";
            return true;
        }

        if (parts.Length is < 4 or > 5 || !Enum.TryParse<SparkplugMessageType>(parts[2], ignoreCase: false, out var type) || type == SparkplugMessageType.STATE)
        {
            error = "sparkplug.topic: expected spBv1.0/{group}/{NBIRTH|NDEATH|NDATA|NCMD|DBIRTH|DDEATH|DDATA|DCMD}/{edge node}[/{device}]";
            return false;
        }

        var deviceLevel = type is SparkplugMessageType.DBIRTH or SparkplugMessageType.DDEATH or SparkplugMessageType.DDATA or SparkplugMessageType.DCMD;
        if (deviceLevel != (parts.Length == 5))
        {
            error = deviceLevel
                ? $"sparkplug.topic: {type} needs a device id: spBv1.0/{{group}}/{type}/{{edge node}}/{{device}}"
                : $"sparkplug.topic: {type} has no device id: spBv1.0/{{group}}/{type}/{{edge node}}";
            return false;
        }

        if (!IsValidId(parts[1]) || !IsValidId(parts[3]) || (deviceLevel && !IsValidId(parts[4])))
        {
            error = "sparkplug.topic: group, edge node and device ids must be non-empty";
            return false;
        }

        parsed = new SparkplugTopic(parts[1], type, parts[3], deviceLevel ? parts[4] : null);
        error = "";
        return true;
    }
}
