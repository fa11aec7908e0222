using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using MQTTnet.Protocol;
using Twin.Ingestion;
using Twin.Ingestion.Uns;

namespace Twin.Gateway.Uns;

/// <summary>
/// Publish-back (<c>Twin:Uns:Publish</c>): the twin's normalised state, faults, tickets and KPIs
/// as retained MQTT topics, one per value, under a root per factory (docs/INGESTION.md).
/// </summary>
public sealed class UnsPublishOptions : ITwinOptions, IValidatableObject
{
    public const string Section = "Twin:Uns:Publish";

    static string ITwinOptions.Section => Section;

    /// <summary>The placeholder of <see cref="Root"/> that takes the factory id.</summary>
    public const string FactoryPlaceholder = "{factory}";

    /// <summary>The default <see cref="Root"/> (the broker ACLs in deploy/ grant its subtree).</summary>
    public const string DefaultRoot = "twin/{factory}";

    /// <summary>Publish (default off).</summary>
    public bool Enabled { get; set; }

    /// <summary>The factories to publish; each needs its own root.</summary>
    public List<string> Factories { get; set; } = [];

    /// <summary>Where a factory's topics go: a topic with <c>{factory}</c> in it, e.g. <c>twin/{factory}</c>.</summary>
    public string Root { get; set; } = DefaultRoot;

    /// <summary>Factory → its own root instead of <see cref="Root"/>, e.g. an ISA-95 path <c>acme-twin/berlin/body</c>.</summary>
    public Dictionary<string, string> Roots { get; set; } = new(StringComparer.Ordinal);

    /// <summary>MQTT QoS of the publishes (0, 1 or 2).</summary>
    public int Qos { get; set; } = 1;

    /// <summary>Most publishes of one value (topic) a second, 0.01–100; a value that changes faster goes out at that rate, latest wins.</summary>
    public double MaxPublishesPerSecond { get; set; } = 1;

    /// <summary>How often what the live streams do not carry is read: OEE, tickets, line and factory KPIs, new machines and lines.</summary>
    public TimeSpan KpiInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The OEE windows published per machine (<c>shift</c>, <c>1h</c>, <c>8h</c>, <c>24h</c>); empty: all.</summary>
    public List<string> OeeWindows { get; set; } = [];

    /// <summary>Most topics published at once; values beyond it are not published (counted, logged).</summary>
    public int MaxTopics { get; set; } = 100_000;

    /// <summary>The publisher's MQTT client id; default <c>{Twin:Mqtt:ClientId}-uns</c>. It connects to the broker, with the credentials, of <c>Twin:Mqtt</c>.</summary>
    public string? ClientId { get; set; }

    public static readonly IReadOnlyList<string> Windows = ["shift", "1h", "8h", "24h"];

    public MqttQualityOfServiceLevel QualityOfService => (MqttQualityOfServiceLevel)Qos;

    public TimeSpan MinInterval => TimeSpan.FromSeconds(1 / Math.Clamp(MaxPublishesPerSecond, 0.01, 100));

    /// <summary>Every topic filter the gateway ingests, with where it comes from (the contract and Sparkplug, and the profiles' UNS templates, added by <see cref="UnsIngestFilters"/>).</summary>
    internal List<(string Filter, string Source)> Ingested { get; } = [(MachineTopic.Filter, "the MQTT contract"), (Twin.Ingestion.Sparkplug.SparkplugTopic.Namespace + "/#", "Sparkplug B")];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext) =>
        UnsPublishRules.Errors(this).Select(e => new ValidationResult(e));

    public string EffectiveClientId(MqttOptions mqtt) => string.IsNullOrWhiteSpace(ClientId) ? mqtt.EffectiveClientId + "-uns" : ClientId;

    /// <summary>The root of <paramref name="factory"/>'s topics, and the setting it comes from.</summary>
    public (string Root, string Setting) RootOf(string factory) =>
        Roots.TryGetValue(factory, out var own)
            ? (own.Replace(FactoryPlaceholder, factory, StringComparison.Ordinal), $"{Section}:Roots:{factory}")
            : (Root.Replace(FactoryPlaceholder, factory, StringComparison.Ordinal), $"{Section}:Root");
}

[OptionsValidator]
public sealed partial class UnsPublishOptionsValidator : IValidateOptions<UnsPublishOptions>;

/// <summary>Adds the mapping profiles' UNS templates to what publish-back must stay out of, before the settings are validated.</summary>
internal sealed class UnsIngestFilters(IOptions<ProfilesOptions> profiles) : IPostConfigureOptions<UnsPublishOptions>
{
    public void PostConfigure(string? name, UnsPublishOptions options) => Add(options, profiles.Value);

    public static void Add(UnsPublishOptions options, ProfilesOptions profiles)
    {
        foreach (var (factory, profile) in profiles)
        {
            for (var i = 0; i < profile.Topics.Count; i++)
            {
                if (CompiledTemplate.TryCompile(profile.Topics[i], factory == ProfilesOptions.DefaultKey ? null : factory, out var compiled, out _))
                {
                    options.Ingested.Add((compiled.Filter, $"the UNS template {ProfilesOptions.Section}:{factory}:Topics:{i}"));
                }
            }
        }
    }
}

/// <summary>
/// The publish-back settings' rules, each error naming its setting. A root must be a plain topic
/// (no wildcards, no <c>$</c>, no empty level), one per factory, none inside another, and outside
/// everything the gateway ingests: the JSON contract, Sparkplug B and every UNS template of the
/// mapping profiles. Otherwise the gateway would take its own publishes in again.
/// </summary>
internal static class UnsPublishRules
{
    private const int MaxRootLength = 200;

    public static List<string> Errors(UnsPublishOptions options)
    {
        var errors = new List<string>();
        var section = UnsPublishOptions.Section;
        if (options.Qos is < 0 or > 2)
        {
            errors.Add($"{section}:Qos is {options.Qos}; use 0, 1 or 2.");
        }

        if (!double.IsFinite(options.MaxPublishesPerSecond) || options.MaxPublishesPerSecond is < 0.01 or > 100)
        {
            errors.Add($"{section}:MaxPublishesPerSecond is {options.MaxPublishesPerSecond}; use 0.01 to 100.");
        }

        if (options.KpiInterval < TimeSpan.FromSeconds(1))
        {
            errors.Add($"{section}:KpiInterval is {options.KpiInterval}; use at least 00:00:01.");
        }

        if (options.MaxTopics < 1)
        {
            errors.Add($"{section}:MaxTopics is {options.MaxTopics}; use at least 1.");
        }

        if (options.ClientId is { } clientId && clientId.Trim().Length == 0)
        {
            errors.Add($"{section}:ClientId is empty; leave it out for the default.");
        }

        for (var i = 0; i < options.OeeWindows.Count; i++)
        {
            if (!UnsPublishOptions.Windows.Contains(options.OeeWindows[i]))
            {
                errors.Add($"{section}:OeeWindows:{i} is '{options.OeeWindows[i]}'; use {string.Join(", ", UnsPublishOptions.Windows)}.");
            }
        }

        if (RootError(options.Root) is { } rootError)
        {
            errors.Add($"{section}:Root '{options.Root}' {rootError}");
        }

        foreach (var (factory, root) in options.Roots)
        {
            if (!options.Factories.Contains(factory))
            {
                errors.Add($"{section}:Roots:{factory} names a factory that is not in {section}:Factories.");
            }
            else if (RootError(root) is { } error)
            {
                errors.Add($"{section}:Roots:{factory} '{root}' {error}");
            }
        }

        if (options.Enabled && options.Factories.Count == 0)
        {
            errors.Add($"{section}:Factories is empty; list the factories to publish (e.g. {section}:Factories:0=plant-a).");
        }

        for (var i = 0; i < options.Factories.Count; i++)
        {
            if (!TwinKey.IsValidId(options.Factories[i], out var idError))
            {
                errors.Add($"{section}:Factories:{i}: {idError}.");
            }
            else if (options.Factories.IndexOf(options.Factories[i]) < i)
            {
                errors.Add($"{section}:Factories:{i} '{options.Factories[i]}' is listed twice.");
            }
        }

        if (errors.Count == 0)
        {
            errors.AddRange(Overlaps(options));
        }

        return errors;
    }

    /// <summary>Why <paramref name="root"/> is not a usable root topic; null when it is.</summary>
    private static string? RootError(string root)
    {
        var levels = root.Split('/');
        if (root.Length is 0 or > MaxRootLength || levels.Any(l => l.Length == 0))
        {
            return $"must be a topic of 1 to {MaxRootLength} characters, levels separated by '/', none empty.";
        }

        if (root.StartsWith('$') || root.IndexOfAny(['+', '#', '\0']) >= 0)
        {
            return "must not start with '$' or contain '+', '#': it is a topic, not a filter.";
        }

        var withoutPlaceholder = root.Replace(UnsPublishOptions.FactoryPlaceholder, "", StringComparison.Ordinal);
        return withoutPlaceholder.IndexOfAny(['{', '}']) >= 0 ? $"may hold only the placeholder {UnsPublishOptions.FactoryPlaceholder}." : null;
    }

    /// <summary>Roots that collide with each other, or that what the gateway ingests would take in.</summary>
    private static IEnumerable<string> Overlaps(UnsPublishOptions options)
    {
        var roots = options.Factories.Select(f => (Factory: f, Root: options.RootOf(f))).ToList();
        var ingested = options.Ingested;
        for (var i = 0; i < roots.Count; i++)
        {
            var (factory, (root, setting)) = roots[i];
            for (var j = 0; j < i; j++)
            {
                var (other, (otherRoot, _)) = roots[j];
                if (UnsLayout.IsWithin(root, otherRoot) || UnsLayout.IsWithin(otherRoot, root))
                {
                    yield return $"{setting} gives {factory} the root '{root}', which overlaps '{otherRoot}' of {other}: each factory needs a subtree of its own (put {UnsPublishOptions.FactoryPlaceholder} in the root).";
                }
            }

            foreach (var (filter, source) in ingested)
            {
                if (UnsLayout.Shapes.FirstOrDefault(shape => UnsLayout.CouldMatch(filter, root + "/" + shape)) is { } shape)
                {
                    yield return $"{setting} gives {factory} the root '{root}', but {source} ('{filter}') would ingest its topics (e.g. '{root}/{shape}'): "
                        + "publish-back must never be taken in again. Choose a root outside every ingest topic, e.g. a top level of its own.";
                }
            }
        }
    }
}
