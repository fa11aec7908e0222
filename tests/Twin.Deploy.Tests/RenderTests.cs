using System.Text.RegularExpressions;
using Twin.Deploy.Tests.Support;

namespace Twin.Deploy.Tests;

/// <summary>Every factory's kustomization renders, and all of a factory lives in its own namespace.</summary>
public sealed class RenderTests
{
    /// <summary>Kinds that have no namespace; a factory's kustomization must not create any.</summary>
    private static readonly HashSet<string> ClusterScopedKinds = new(
    [
        "Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass", "PriorityClass",
        "CustomResourceDefinition", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
        "IngressClass", "RuntimeClass", "APIService", "CSIDriver", "VolumeAttachment", "Node",
    ], StringComparer.Ordinal);

    public static TheoryData<string> Kustomizations => new(Kustomize.Kustomizations);

    [Fact]
    public void There_are_factory_overlays()
    {
        Assert.True(Kustomize.Overlays.Count >= 2, $"Expected an overlay per factory under deploy/k8s/overlays, found: {string.Join(", ", Kustomize.Overlays)}");
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Renders_named_objects(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);

        Assert.NotEmpty(manifest.Objects);
        Assert.All(manifest.Objects, o =>
        {
            Assert.False(string.IsNullOrEmpty(o.ApiVersion), $"{o} has no apiVersion");
            Assert.False(string.IsNullOrEmpty(o.Kind), $"an object of {kustomization} has no kind");
            Assert.False(string.IsNullOrEmpty(o.Name), $"{o} has no name");
        });
        var duplicates = manifest.Objects.GroupBy(o => o.ToString()).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(duplicates.Count == 0, $"Rendered twice: {string.Join(", ", duplicates)}");
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Every_object_is_in_the_factory_namespace(string kustomization)
    {
        var declared = DeclaredNamespace(kustomization);
        var manifest = Kustomize.Render(kustomization);

        Assert.StartsWith("twin-", declared, StringComparison.Ordinal);
        var clusterScoped = manifest.Objects.Where(o => ClusterScopedKinds.Contains(o.Kind)).ToList();
        Assert.True(clusterScoped.Count == 0, $"Cluster-scoped objects in {kustomization}: {string.Join(", ", clusterScoped)}");
        Assert.All(manifest.Objects, o => Assert.True(o.Namespace == declared, $"{o} is in namespace '{o.Namespace}', not {declared}"));
    }

    [Fact]
    public void Factories_have_their_own_namespace_and_cluster()
    {
        var factories = Kustomize.Kustomizations.Select(k =>
        {
            var manifest = Kustomize.Render(k);
            var silo = manifest.App("twin-silo").Container("silo");
            return (Directory: k, Namespace: DeclaredNamespace(k),
                ClusterId: manifest.Resolve(silo, "Twin__Cluster__ClusterId"),
                ServiceId: manifest.Resolve(silo, "Twin__Cluster__ServiceId"));
        }).ToList();

        Assert.Equal(factories.Count, factories.Select(f => f.Namespace).Distinct().Count());
        Assert.Equal(factories.Count, factories.Select(f => f.ClusterId).Distinct().Count());
        Assert.Equal(factories.Count, factories.Select(f => f.ServiceId).Distinct().Count());
        Assert.All(factories, f => Assert.NotEqual("factory-twin", f.ServiceId));
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Every_pod_is_labelled_and_selected_by_its_workload(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);

        Assert.All(manifest.Workloads, w =>
        {
            Assert.False(string.IsNullOrEmpty(w.AppName), $"{w}: pods have no app.kubernetes.io/name label");
            Assert.Equal("factory-twin", w.PodLabels.GetValueOrDefault("app.kubernetes.io/part-of"));
            if (w.Kind != "Job")
            {
                Assert.True(w.Spec?["selector"].Selects(w.PodLabels), $"{w}: its selector does not select its own pods");
                Assert.NotNull(w.Spec?["selector"]?["matchLabels"]);
            }
        });
        var names = manifest.Workloads.Select(w => w.AppName).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Images_are_pinned(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);

        Assert.All(manifest.Workloads.SelectMany(w => w.AllContainers), c =>
        {
            var image = c.Image;
            var lastPart = image[(image.LastIndexOf('/') + 1)..];
            var tag = lastPart.Contains(':', StringComparison.Ordinal) ? lastPart[(lastPart.IndexOf(':', StringComparison.Ordinal) + 1)..] : null;
            var pinned = image.Contains("@sha256:", StringComparison.Ordinal)
                || (tag is not null && tag != "latest" && Regex.IsMatch(tag, @"^v?\d+\.\d+"));
            Assert.True(pinned, $"{c}: image '{image}' has no version tag or digest");
        });
    }

    internal static string DeclaredNamespace(string kustomization)
    {
        var file = Yaml.Parse(Repository.ReadText(kustomization + "/kustomization.yaml"));
        return file.Str("namespace") ?? throw new InvalidOperationException($"{kustomization}/kustomization.yaml sets no namespace.");
    }
}
