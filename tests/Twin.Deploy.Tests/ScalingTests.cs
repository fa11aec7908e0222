using Twin.Deploy.Tests.Support;

namespace Twin.Deploy.Tests;

/// <summary>Autoscaling, disruption budgets and rollouts.</summary>
public sealed class ScalingTests
{
    public static TheoryData<string> Kustomizations => new(Kustomize.Kustomizations);

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Silos_and_gateways_scale_on_cpu(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);
        var autoscalers = manifest.OfKind("HorizontalPodAutoscaler").ToList();

        foreach (var hpa in autoscalers)
        {
            Assert.Equal("autoscaling/v2", hpa.ApiVersion);
            var target = hpa.Node.At("spec", "scaleTargetRef");
            var workload = manifest.Workloads.SingleOrDefault(w => w.Kind == target.Str("kind") && w.Name == target.Str("name"));
            Assert.True(workload is not null, $"{hpa} scales {target.Str("kind")}/{target.Str("name")}, which is not rendered");
            Assert.Equal("apps/v1", target.Str("apiVersion"));
            Assert.True(workload!.Spec.Int("replicas") is null, $"{workload} sets replicas; every `kubectl apply` would reset what {hpa} scaled");
            var min = hpa.Node.Int("spec", "minReplicas");
            var max = hpa.Node.Int("spec", "maxReplicas");
            Assert.True(min >= 1 && min <= max, $"{hpa}: minReplicas {min}, maxReplicas {max}");
            var metric = Assert.Single(hpa.Node.At("spec", "metrics").Items());
            Assert.Equal("Resource", metric.Str("type"));
            Assert.Equal("cpu", metric.Str("resource", "name"));
            Assert.Equal("Utilization", metric.Str("resource", "target", "type"));
            Assert.True(workload.Containers.All(c => c.Node.Str("resources", "requests", "cpu") is not null), $"{workload}: CPU utilisation needs CPU requests");
        }

        Assert.Equal(
            new[] { "twin-gateway", "twin-silo" },
            autoscalers.Select(h => manifest.Workloads.Single(w => w.Name == h.Node.Str("spec", "scaleTargetRef", "name")).AppName).Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Gateways_are_never_scaled_down_automatically(string kustomization)
    {
        // The broker keeps giving a removed gateway's session its share of the readings until the
        // session expires, then drops them (docs/DEPLOY.md, "Scaling").
        var manifest = Kustomize.Render(kustomization);
        var hpa = manifest.Single("HorizontalPodAutoscaler", "twin-gateway");

        Assert.Equal("Disabled", hpa.Node.Str("spec", "behavior", "scaleDown", "selectPolicy"));
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Disruption_budgets_let_one_silo_and_one_gateway_go_at_a_time(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);
        var budgets = manifest.OfKind("PodDisruptionBudget").ToList();

        foreach (var pdb in budgets)
        {
            var selected = manifest.Workloads.Where(w => pdb.Node.At("spec", "selector").Selects(w.PodLabels)).ToList();
            Assert.True(selected.Count == 1, $"{pdb} selects {selected.Count} workloads");
            Assert.Equal(1, pdb.Node.Int("spec", "maxUnavailable"));
            Assert.Null(pdb.Node.At("spec", "minAvailable"));
        }

        Assert.Equal(
            new[] { "twin-gateway", "twin-silo" },
            budgets.Select(b => manifest.Workloads.Single(w => b.Node.At("spec", "selector").Selects(w.PodLabels)).AppName).Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Silos_roll_one_at_a_time_with_the_new_one_ready_first(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);
        var silo = manifest.App("twin-silo");

        Assert.Equal("RollingUpdate", silo.Spec.Str("strategy", "type"));
        Assert.Equal(0, silo.Spec.Int("strategy", "rollingUpdate", "maxUnavailable"));
        Assert.Equal(1, silo.Spec.Int("strategy", "rollingUpdate", "maxSurge"));
    }
}
