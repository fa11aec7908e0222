using System.ComponentModel.DataAnnotations;

namespace Twin.Ingestion.Sparkplug;

/// <summary>The gateway as a Sparkplug B 3.0 host application (<c>Twin:Sparkplug</c>).</summary>
public sealed class SparkplugOptions : ITwinOptions, IValidatableObject
{
    public const string Section = "Twin:Sparkplug";

    static string ITwinOptions.Section => Section;

    /// <summary>Consume <c>spBv1.0/…</c> topics (default on).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// The host application id: the gateway's <c>spBv1.0/STATE/{HostId}</c> topic, which edge nodes
    /// watch. Unique per gateway (Sparkplug 3.0); by default the consumer's MQTT client id
    /// (<c>Twin:Mqtt:ClientId</c>, which already is). Set it for edge nodes configured with a primary host.
    /// </summary>
    public string? HostId { get; set; }

    /// <summary>The host id in effect: <see cref="HostId"/>, else <paramref name="clientId"/>.</summary>
    public string EffectiveHostId(string clientId) =>
        !string.IsNullOrEmpty(HostId) ? HostId : string.Concat(clientId.Select(c => c is '/' or '+' or '#' ? '_' : c));

    /// <summary>
    /// Group ids to consume (<c>spBv1.0/{group}/#</c> each). Empty (default) or <c>["+"]</c>: every
    /// group. It starts empty so that configuration replaces it: the binder appends to a list, and a
    /// default of <c>["+"]</c> would stay beside the configured groups and take every group anyway.
    /// </summary>
    public List<string> Groups { get; set; } = [];

    /// <summary>The subscriptions of the host: one per group, or one for every group.</summary>
    public IReadOnlyList<string> Filters =>
        Groups.Count == 0 || Groups.Contains("+") ? [SparkplugTopic.FilterFor("+")] : [.. Groups.Distinct(StringComparer.Ordinal).Select(SparkplugTopic.FilterFor)];

    /// <summary>Whether messages of <paramref name="group"/> are consumed.</summary>
    public bool Consumes(string group) => Groups.Count == 0 || Groups.Contains("+") || Groups.Contains(group);

    /// <summary>Group id → factory id, for groups not named like their factory; by default the group id is the factory id.</summary>
    public Dictionary<string, string> Factories { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Node-level metrics (NBIRTH/NDATA) go to a machine named by the edge node id (default on); off, they are not ingested.</summary>
    public bool NodeMetrics { get; set; } = true;

    /// <summary>
    /// How long messages that come ahead of a missing <c>seq</c> are held back for it (the broker may
    /// deliver out of order, e.g. around a reconnect) before the gap counts and a rebirth is
    /// requested; zero: a gap at once.
    /// </summary>
    [SettingRange(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan ReorderTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Least time between two rebirth requests to the same edge node.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00.1", "01:00:00")]
    public TimeSpan RebirthInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The factory a group's machines belong to.</summary>
    public string FactoryOf(string group) => Factories.TryGetValue(group, out var factory) ? factory : group;

    /// <summary>The groups whose messages belong to <paramref name="factory"/>, as far as configuration tells (a group named like the factory, or mapped to it).</summary>
    public bool IsGroupOf(string group, string factory) =>
        Factories.TryGetValue(group, out var mapped) ? string.Equals(mapped, factory, StringComparison.Ordinal) : string.Equals(group, factory, StringComparison.Ordinal);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (HostId is not null && !SparkplugTopic.IsValidId(HostId))
        {
            yield return new ValidationResult($"{Section}:HostId '{HostId}' must be a non-empty Sparkplug id without '/', '+' or '#'.");
        }

        for (var i = 0; i < Groups.Count; i++)
        {
            if (Groups[i] != "+" && !SparkplugTopic.IsValidId(Groups[i]))
            {
                yield return new ValidationResult($"{Section}:Groups:{i} '{Groups[i]}' must be '+' or a group id without '/', '+' or '#'.");
            }
            else if (Groups[i] == "+" && Groups.Count > 1)
            {
                // Overlapping subscriptions: a broker such as Mosquitto delivers each message once per filter.
                yield return new ValidationResult($"{Section}:Groups:{i} is '+' (every group) beside other groups; leave the list empty (or just '+') for every group, or name the groups only.");
            }
            else if (Groups.IndexOf(Groups[i]) < i)
            {
                yield return new ValidationResult($"{Section}:Groups:{i} '{Groups[i]}' is also {Section}:Groups:{Groups.IndexOf(Groups[i])}; name each group once.");
            }
        }

        foreach (var (group, factory) in Factories)
        {
            if (!TwinKey.IsValidId(factory, out var error))
            {
                yield return new ValidationResult($"{Section}:Factories:{group} '{factory}' is not a factory id: {error}.");
            }
        }
    }
}

[OptionsValidator]
public sealed partial class SparkplugOptionsValidator : IValidateOptions<SparkplugOptions>;
