using System.Globalization;
using System.Text.Json.Nodes;

namespace Twin.Deploy.Tests.Support;

/// <summary>The rendered objects of one kustomize directory.</summary>
internal sealed class Manifest(string directory, IReadOnlyList<K8sObject> objects)
{
    public string Directory { get; } = directory;

    public IReadOnlyList<K8sObject> Objects { get; } = objects;

    /// <summary>Objects that run pods: Deployments, StatefulSets, DaemonSets and Jobs.</summary>
    public IReadOnlyList<Workload> Workloads { get; } =
        [.. objects.Where(o => Workload.Kinds.Contains(o.Kind)).Select(o => new Workload(o))];

    public IEnumerable<K8sObject> OfKind(string kind) => Objects.Where(o => o.Kind == kind);

    public K8sObject Single(string kind, string name) =>
        Objects.SingleOrDefault(o => o.Kind == kind && o.Name == name)
        ?? throw new InvalidOperationException($"{Directory} renders no {kind} named {name}.");

    public Workload App(string appName) =>
        Workloads.SingleOrDefault(w => w.AppName == appName)
        ?? throw new InvalidOperationException($"{Directory} renders no workload labelled app.kubernetes.io/name={appName}.");

    public bool Has(string appName) => Workloads.Any(w => w.AppName == appName);

    /// <summary>The value a container reads from a ConfigMap key, resolved against the rendered ConfigMaps.</summary>
    public string ConfigMapValue(string configMap, string key)
    {
        var map = Single("ConfigMap", configMap);
        return map.Node["data"]?[key]?.GetValue<string>()
            ?? throw new InvalidOperationException($"{Directory}: ConfigMap {configMap} has no key {key}.");
    }

    /// <summary>
    /// An environment variable of a container as the process sees it: a literal, or a ConfigMap key
    /// resolved against the rendered ConfigMaps; null when the variable is not set.
    /// </summary>
    public string? Resolve(Container container, string variable)
    {
        var entry = container.EnvEntry(variable);
        if (entry is null)
        {
            return null;
        }

        if (entry.Str("value") is { } literal)
        {
            return literal;
        }

        if (entry.At("valueFrom", "configMapKeyRef") is { } reference)
        {
            return ConfigMapValue(reference.Str("name") ?? "", reference.Str("key") ?? "");
        }

        throw new InvalidOperationException($"{container}: {variable} is neither a literal nor a ConfigMap value.");
    }

    /// <summary>The Kubernetes objects of a kind and name, as another object refers to them.</summary>
    public bool Contains(string kind, string name) => Objects.Any(o => o.Kind == kind && o.Name == name);

    public override string ToString() => Directory;
}

/// <summary>One Kubernetes object.</summary>
internal sealed class K8sObject(JsonObject node)
{
    public JsonObject Node { get; } = node;

    public string ApiVersion => Node.Str("apiVersion") ?? "";

    public string Kind => Node.Str("kind") ?? "";

    public string Name => Node.Str("metadata", "name") ?? "";

    public string? Namespace => Node.Str("metadata", "namespace");

    public IReadOnlyDictionary<string, string> Labels => Node.At("metadata", "labels").Map();

    public override string ToString() => $"{Kind}/{Name}";
}

/// <summary>An object with a pod template.</summary>
internal sealed class Workload(K8sObject obj)
{
    public static readonly HashSet<string> Kinds = new(["Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"], StringComparer.Ordinal);

    public K8sObject Object { get; } = obj;

    public string Kind => Object.Kind;

    public string Name => Object.Name;

    public JsonNode? Spec => Object.Node["spec"];

    public JsonNode? Template => Spec?["template"];

    public JsonNode? PodSpec => Template?["spec"];

    public IReadOnlyDictionary<string, string> PodLabels => Template.At("metadata", "labels").Map();

    public IReadOnlyDictionary<string, string> PodAnnotations => Template.At("metadata", "annotations").Map();

    public string AppName => PodLabels.GetValueOrDefault("app.kubernetes.io/name") ?? "";

    public IReadOnlyList<Container> Containers => [.. PodSpec?["containers"].Items().Select(c => new Container(this, c, init: false)) ?? []];

    public IReadOnlyList<Container> InitContainers => [.. PodSpec?["initContainers"].Items().Select(c => new Container(this, c, init: true)) ?? []];

    public IEnumerable<Container> AllContainers => InitContainers.Concat(Containers);

    public Container Container(string name) =>
        Containers.SingleOrDefault(c => c.Name == name) ?? throw new InvalidOperationException($"{this} has no container {name}.");

    public int? TerminationGracePeriodSeconds => PodSpec.Int("terminationGracePeriodSeconds");

    public override string ToString() => $"{Kind}/{Name}";
}

/// <summary>A container of a workload's pod template.</summary>
internal sealed class Container(Workload workload, JsonNode node, bool init)
{
    public Workload Workload { get; } = workload;

    public JsonNode Node { get; } = node;

    public bool IsInit { get; } = init;

    public string Name => Node.Str("name") ?? "";

    public string Image => Node.Str("image") ?? "";

    /// <summary>Declared ports: name (may be empty) and number.</summary>
    public IReadOnlyList<(string Name, int Port)> Ports =>
        [.. Node["ports"].Items().Select(p => (p.Str("name") ?? "", p.Int("containerPort") ?? -1))];

    public IEnumerable<JsonNode> Env => Node["env"].Items();

    public JsonNode? EnvEntry(string name) =>
        Env.SingleOrDefault(e => string.Equals(e.Str("name"), name, StringComparison.OrdinalIgnoreCase));

    /// <summary>A literal environment value (not valueFrom), or null when the variable is not set literally.</summary>
    public string? EnvValue(string name) => EnvEntry(name)?.Str("value");

    /// <summary>The port a probe or annotation names (a number or a port name) as a declared container port, or null.</summary>
    public int? ResolvePort(string? portOrName)
    {
        if (portOrName is null)
        {
            return null;
        }

        var declared = Ports;
        if (int.TryParse(portOrName, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return declared.Any(p => p.Port == number) ? number : null;
        }

        var named = declared.Where(p => p.Name == portOrName).ToList();
        return named.Count == 1 ? named[0].Port : null;
    }

    public JsonNode? SecurityContext => Node["securityContext"];

    public override string ToString() => $"{Workload} container {Name}";
}

/// <summary>Navigation over rendered YAML, where every scalar is a string.</summary>
internal static class NodeExtensions
{
    public static JsonNode? At(this JsonNode? node, params string[] path)
    {
        foreach (var key in path)
        {
            node = node is JsonObject o ? o[key] : null;
        }

        return node;
    }

    /// <summary>A scalar as text (YAML scalars are strings already; JSON numbers and booleans are written out).</summary>
    public static string? Str(this JsonNode? node, params string[] path) =>
        node.At(path) is JsonValue v ? (v.TryGetValue<string>(out var s) ? s : v.ToJsonString()) : null;

    public static int? Int(this JsonNode? node, params string[] path) =>
        int.TryParse(node.Str(path), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i) ? i : null;

    public static bool? Bool(this JsonNode? node, params string[] path) =>
        node.Str(path) switch
        {
            "true" or "True" => true,
            "false" or "False" => false,
            _ => null,
        };

    public static IEnumerable<JsonNode> Items(this JsonNode? node) =>
        node is JsonArray array ? array.Where(n => n is not null).Select(n => n!) : [];

    public static IReadOnlyList<string> Strings(this JsonNode? node) =>
        [.. node.Items().Select(n => n.Str() ?? "")];

    public static IReadOnlyDictionary<string, string> Map(this JsonNode? node) =>
        node is JsonObject o
            ? o.Where(e => e.Value is JsonValue).ToDictionary(e => e.Key, e => e.Value.Str() ?? "", StringComparer.Ordinal)
            : new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Whether a label selector (matchLabels only) selects pods with these labels.</summary>
    public static bool Selects(this JsonNode? selector, IReadOnlyDictionary<string, string> labels)
    {
        if (selector?["matchExpressions"] is JsonArray { Count: > 0 })
        {
            throw new NotSupportedException("matchExpressions are not used by these manifests; extend NodeExtensions.Selects to check them.");
        }

        return selector?["matchLabels"].Map().All(l => labels.TryGetValue(l.Key, out var v) && v == l.Value) ?? true;
    }
}
