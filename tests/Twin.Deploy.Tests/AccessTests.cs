using Twin.Deploy.Tests.Support;

namespace Twin.Deploy.Tests;

/// <summary>Who may talk to what: the silos' Kubernetes permissions and the NetworkPolicies.</summary>
public sealed class AccessTests
{
    public static TheoryData<string> Kustomizations => new(Kustomize.Kustomizations);

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Silos_may_only_read_watch_and_label_pods(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);

        var role = Assert.Single(manifest.OfKind("Role"));
        var rule = Assert.Single(role.Node["rules"].Items());
        Assert.Equal(new[] { "" }, rule["apiGroups"].Strings());
        Assert.Equal(new[] { "pods" }, rule["resources"].Strings());
        Assert.Equal(new[] { "get", "list", "patch", "watch" }, rule["verbs"].Strings().Order(StringComparer.Ordinal));
        Assert.Null(rule["resourceNames"]);

        var binding = Assert.Single(manifest.OfKind("RoleBinding"));
        Assert.Equal("Role", binding.Node.Str("roleRef", "kind"));
        Assert.Equal(role.Name, binding.Node.Str("roleRef", "name"));
        var subject = Assert.Single(binding.Node["subjects"].Items());
        Assert.Equal("ServiceAccount", subject.Str("kind"));
        Assert.Equal(manifest.App("twin-silo").PodSpec.Str("serviceAccountName"), subject.Str("name"));
        Assert.Equal(RenderTests.DeclaredNamespace(kustomization), subject.Str("namespace"));
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Ingress_is_denied_unless_a_policy_allows_it(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);

        Assert.Contains(manifest.OfKind("NetworkPolicy"), p =>
            NetworkPolicies.IsIngressPolicy(p)
            && p.Node.At("spec", "podSelector").Map().Count == 0
            && p.Node.At("spec", "podSelector", "matchExpressions") is null
            && !p.Node.At("spec", "ingress").Items().Any());
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Network_policies_select_existing_pods_and_open_ports_they_declare(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);

        foreach (var policy in manifest.OfKind("NetworkPolicy"))
        {
            var selector = policy.Node.At("spec", "podSelector");
            var selected = manifest.Workloads.Where(w => selector.Selects(w.PodLabels)).ToList();
            Assert.True(selected.Count > 0, $"{policy} selects no pod of {kustomization}");
            foreach (var rule in policy.Node.At("spec", "ingress").Items())
            {
                foreach (var peer in rule["from"].Items())
                {
                    Assert.True(manifest.Workloads.Any(w => peer["podSelector"].Selects(w.PodLabels)), $"{policy}: a rule allows pods that {kustomization} does not run: {peer.ToJsonString()}");
                }

                foreach (var port in rule["ports"].Items())
                {
                    var number = port.Int("port");
                    Assert.True(selected.Any(w => w.Containers.Any(c => c.Ports.Any(p => p.Port == number))),
                        $"{policy}: opens port {port.Str("port")}, which none of its pods declares");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void The_factory_reaches_what_it_needs_and_nothing_else(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);
        var silo = manifest.App("twin-silo").PodLabels;
        var gateway = manifest.App("twin-gateway").PodLabels;
        var migrate = manifest.App("twin-migrate").PodLabels;
        IReadOnlyDictionary<string, string>? outside = null;

        Assert.True(NetworkPolicies.Allows(manifest, silo, silo, 11111), "silo to silo (11111)");
        Assert.True(NetworkPolicies.Allows(manifest, gateway, silo, 30000), "gateway to silo (30000)");
        Assert.True(NetworkPolicies.Allows(manifest, outside, silo, 8081), "probes and metrics to silo (8081)");
        Assert.True(NetworkPolicies.Allows(manifest, outside, gateway, 5080), "HTTP and SignalR to gateway (5080)");
        Assert.False(NetworkPolicies.Allows(manifest, outside, silo, 11111), "outside to silo-to-silo port");
        Assert.False(NetworkPolicies.Allows(manifest, outside, silo, 30000), "outside to the Orleans gateway port");
        Assert.False(NetworkPolicies.Allows(manifest, gateway, silo, 11111), "gateway to silo-to-silo port");
        Assert.False(NetworkPolicies.Allows(manifest, migrate, silo, 30000), "migrate job to silo");

        if (manifest.Has("postgres"))
        {
            var postgres = manifest.App("postgres").PodLabels;
            Assert.True(NetworkPolicies.Allows(manifest, silo, postgres, 5432), "silo to PostgreSQL");
            Assert.True(NetworkPolicies.Allows(manifest, gateway, postgres, 5432), "gateway to PostgreSQL");
            Assert.True(NetworkPolicies.Allows(manifest, migrate, postgres, 5432), "migrate job to PostgreSQL");
            Assert.False(NetworkPolicies.Allows(manifest, outside, postgres, 5432), "outside to PostgreSQL");
            if (manifest.Has("mosquitto"))
            {
                Assert.False(NetworkPolicies.Allows(manifest, manifest.App("mosquitto").PodLabels, postgres, 5432), "broker to PostgreSQL");
            }
        }

        if (manifest.Has("mosquitto"))
        {
            var mosquitto = manifest.App("mosquitto").PodLabels;
            Assert.True(NetworkPolicies.Allows(manifest, outside, mosquitto, 1883), "devices to the broker");
            Assert.True(NetworkPolicies.Allows(manifest, gateway, mosquitto, 1883), "gateway to the broker");
        }
    }
}
