using System.Globalization;
using System.Text.Json.Nodes;

namespace Twin.Deploy.Tests.Support;

/// <summary>
/// What a namespace's NetworkPolicies let through, as Kubernetes evaluates them: a pod selected by
/// any ingress policy accepts only what one of those policies' rules allows.
/// </summary>
internal static class NetworkPolicies
{
    /// <summary>
    /// Whether a connection to a pod with <paramref name="to"/> labels on <paramref name="port"/> is
    /// allowed from a pod of the same namespace with <paramref name="from"/> labels, or, when
    /// <paramref name="from"/> is null, from outside the namespace (devices, browsers, an ingress controller).
    /// </summary>
    public static bool Allows(Manifest manifest, IReadOnlyDictionary<string, string>? from, IReadOnlyDictionary<string, string> to, int port)
    {
        var isolating = manifest.OfKind("NetworkPolicy")
            .Where(p => IsIngressPolicy(p) && p.Node.At("spec", "podSelector").Selects(to))
            .ToList();
        return isolating.Count == 0
            || isolating.Any(p => p.Node.At("spec", "ingress").Items().Any(rule => PeerAllowed(rule, from) && PortAllowed(rule, port)));
    }

    public static bool IsIngressPolicy(K8sObject policy) =>
        policy.Node.At("spec", "policyTypes") is JsonArray types ? types.Strings().Contains("Ingress") : true;

    private static bool PeerAllowed(JsonNode rule, IReadOnlyDictionary<string, string>? from)
    {
        var peers = rule["from"].Items().ToList();
        if (peers.Count == 0)
        {
            return true;
        }

        return peers.Any(peer =>
        {
            if (peer["namespaceSelector"] is not null || peer["ipBlock"] is not null)
            {
                throw new NotSupportedException("namespaceSelector and ipBlock peers are not used by these manifests; extend NetworkPolicies.PeerAllowed to check them.");
            }

            return from is not null && peer["podSelector"].Selects(from);
        });
    }

    private static bool PortAllowed(JsonNode rule, int port)
    {
        var ports = rule["ports"].Items().ToList();
        return ports.Count == 0 || ports.Any(p =>
            int.TryParse(p.Str("port"), NumberStyles.None, CultureInfo.InvariantCulture, out var number)
                ? number == port
                : throw new NotSupportedException($"Named port '{p.Str("port")}' in a NetworkPolicy; use numbers."));
    }
}
