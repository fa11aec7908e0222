using System.Globalization;
using Twin.Deploy.Tests.Support;

namespace Twin.Deploy.Tests;

/// <summary>
/// The manifests configure the processes the way docs/OPERATIONS.md runs them by hand, and agree
/// with the application's own settings (appsettings.json) on ports and addresses.
/// </summary>
public sealed class ClusterConfigurationTests
{
    public static TheoryData<string> Kustomizations => new(Kustomize.Kustomizations);

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Silo_ports_are_the_ports_the_silo_listens_on(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);
        var silo = manifest.App("twin-silo").Container("silo");

        Assert.Equal(
            new[] { ("http", 8081), ("orleans-gw", 30000), ("silo", 11111) },
            silo.Ports.OrderBy(p => p.Name, StringComparer.Ordinal).ToArray());
        Assert.Equal(Port(AppSettings.Effective(silo, "Twin.Silo", "Twin:Cluster:SiloPort")), silo.ResolvePort("silo"));
        Assert.Equal(Port(AppSettings.Effective(silo, "Twin.Silo", "Twin:Cluster:GatewayPort")), silo.ResolvePort("orleans-gw"));
        AssertListensOnEveryInterface(silo, "Twin.Silo");
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Gateway_port_is_the_port_the_gateway_listens_on(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);
        var gateway = manifest.App("twin-gateway").Container("gateway");

        Assert.Equal(new[] { ("http", 5080) }, gateway.Ports.ToArray());
        AssertListensOnEveryInterface(gateway, "Twin.Gateway");
        var service = manifest.Single("Service", "twin-gateway");
        Assert.Equal("ClusterIP", service.Node.Str("spec", "type"));
        var port = Assert.Single(service.Node.At("spec", "ports").Items());
        Assert.Equal(80, port.Int("port"));
        Assert.Equal(5080, gateway.ResolvePort(port.Str("targetPort")));
        Assert.True(service.Node.At("spec", "selector").Map().All(l => gateway.Workload.PodLabels.GetValueOrDefault(l.Key) == l.Value));
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Silos_run_under_orleans_kubernetes_hosting_with_the_pods_identity(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);
        var workload = manifest.App("twin-silo");
        var silo = workload.Container("silo");

        Assert.Equal("Deployment", workload.Kind);
        Assert.Equal("true", silo.EnvValue("Twin__Cluster__Kubernetes"));
        Assert.Equal("PostgreSql", silo.EnvValue("Twin__Cluster__Membership"));
        Assert.Equal("PostgreSql", silo.EnvValue("Twin__Storage__Provider"));
        Assert.Equal(("twin-db", "connection-string"), SecretRef(silo, "Twin__Storage__ConnectionString"));
        Assert.Equal("metadata.name", FieldRef(silo, "POD_NAME"));
        Assert.Equal("metadata.namespace", FieldRef(silo, "POD_NAMESPACE"));
        Assert.Equal("status.podIP", FieldRef(silo, "POD_IP"));
        Assert.Equal("metadata.labels['orleans/clusterId']", FieldRef(silo, "ORLEANS_CLUSTER_ID"));
        Assert.Equal("metadata.labels['orleans/serviceId']", FieldRef(silo, "ORLEANS_SERVICE_ID"));

        // Orleans takes the ids from the labels, the application from its settings: they must agree.
        var clusterId = manifest.Resolve(silo, "Twin__Cluster__ClusterId");
        var serviceId = manifest.Resolve(silo, "Twin__Cluster__ServiceId");
        Assert.False(string.IsNullOrEmpty(clusterId));
        Assert.False(string.IsNullOrEmpty(serviceId));
        Assert.Equal(clusterId, workload.PodLabels.GetValueOrDefault("orleans/clusterId"));
        Assert.Equal(serviceId, workload.PodLabels.GetValueOrDefault("orleans/serviceId"));
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Gateways_are_clients_of_the_same_cluster_with_stable_mqtt_sessions(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);
        var silo = manifest.App("twin-silo").Container("silo");
        var workload = manifest.App("twin-gateway");
        var gateway = workload.Container("gateway");

        Assert.Equal("StatefulSet", workload.Kind);
        var headless = manifest.Single("Service", workload.Spec.Str("serviceName") ?? "");
        Assert.Equal("None", headless.Node.Str("spec", "clusterIP"));
        Assert.Equal("metadata.name", FieldRef(gateway, "Twin__Mqtt__ClientId"));
        Assert.Equal("Client", gateway.EnvValue("Twin__Gateway__Mode"));
        Assert.Equal("PostgreSql", gateway.EnvValue("Twin__Cluster__Membership"));
        Assert.Equal(manifest.Resolve(silo, "Twin__Cluster__ClusterId"), manifest.Resolve(gateway, "Twin__Cluster__ClusterId"));
        Assert.Equal(manifest.Resolve(silo, "Twin__Cluster__ServiceId"), manifest.Resolve(gateway, "Twin__Cluster__ServiceId"));
        Assert.Equal(SecretRef(silo, "Twin__Storage__ConnectionString"), SecretRef(gateway, "Twin__Storage__ConnectionString"));
        Assert.Equal("false", gateway.EnvValue("Twin__Broker__Enabled"));
        Assert.Equal("false", gateway.EnvValue("Twin__Simulator__Enabled"));
        Assert.Equal("twins", gateway.EnvValue("Twin__Mqtt__SharedGroup"));
        Assert.Equal(("twin-mqtt", "username"), SecretRef(gateway, "Twin__Mqtt__Username"));
        Assert.Equal(("twin-mqtt", "password"), SecretRef(gateway, "Twin__Mqtt__Password"));

        var host = manifest.Resolve(gateway, "Twin__Mqtt__Host");
        var port = Port(manifest.Resolve(gateway, "Twin__Mqtt__Port"));
        Assert.False(string.IsNullOrEmpty(host));
        if (manifest.Has("mosquitto"))
        {
            // The factory's own broker: its Service, on the port it listens on.
            var service = manifest.Single("Service", host!);
            Assert.Contains(port, service.Node.At("spec", "ports").Items().Select(p => p.Int("port")));
            Assert.True(service.Node.At("spec", "selector").Selects(manifest.App("mosquitto").PodLabels), $"Service {host} does not select the mosquitto pods");
        }
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Migration_job_runs_the_silo_image_with_migrate(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);
        var job = manifest.App("twin-migrate");
        var migrate = Assert.Single(job.Containers);
        var silo = manifest.App("twin-silo").Container("silo");

        Assert.Equal("Job", job.Kind);
        Assert.Equal("twin-migrate", job.Name);
        Assert.Equal(silo.Image, migrate.Image);
        Assert.Equal(new[] { "migrate" }, migrate.Node["args"].Strings());
        Assert.Null(migrate.Node["command"]);
        Assert.Equal(SecretRef(silo, "Twin__Storage__ConnectionString"), SecretRef(migrate, "Twin__Storage__ConnectionString"));
        Assert.Contains(job.PodSpec.Str("restartPolicy"), new[] { "Never", "OnFailure" });
        Assert.True(job.Spec.Int("backoffLimit") >= 3, "the job must retry while PostgreSQL starts");
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Every_configmap_volume_and_service_account_reference_resolves(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);

        foreach (var workload in manifest.Workloads)
        {
            foreach (var c in workload.AllContainers)
            {
                foreach (var env in c.Env)
                {
                    if (env.At("valueFrom", "configMapKeyRef") is { } reference)
                    {
                        Assert.NotNull(manifest.ConfigMapValue(reference.Str("name") ?? "", reference.Str("key") ?? ""));
                    }
                }

                foreach (var mount in c.Node["volumeMounts"].Items())
                {
                    var declared = workload.PodSpec?["volumes"].Items().Any(v => v.Str("name") == mount.Str("name")) == true
                        || workload.Spec?["volumeClaimTemplates"].Items().Any(v => v.Str("metadata", "name") == mount.Str("name")) == true;
                    Assert.True(declared, $"{c}: mounts volume '{mount.Str("name")}', which the pod does not declare");
                }
            }

            foreach (var volume in workload.PodSpec?["volumes"].Items() ?? [])
            {
                if (volume.Str("configMap", "name") is { } configMap)
                {
                    Assert.True(manifest.Contains("ConfigMap", configMap), $"{workload}: volume uses ConfigMap {configMap}, which is not rendered");
                }
            }

            if (workload.PodSpec.Str("serviceAccountName") is { } account)
            {
                Assert.True(manifest.Contains("ServiceAccount", account), $"{workload}: ServiceAccount {account} is not rendered");
            }
        }
    }

    private static void AssertListensOnEveryInterface(Container container, string project)
    {
        var urls = AppSettings.ListenUrls(container, project);
        Assert.True(urls is not null, $"{container}: no listen URL set");
        var url = Assert.Single(urls!.Split(';', StringSplitOptions.RemoveEmptyEntries));
        var uri = new Uri(url.Replace("://+", "://wildcard", StringComparison.Ordinal).Replace("://*", "://wildcard", StringComparison.Ordinal));
        Assert.True(uri.Host is "wildcard" or "0.0.0.0" or "[::]", $"{container}: listens on {url}, not on every interface, so probes and peers cannot reach it");
        Assert.Equal(container.ResolvePort("http"), uri.Port);
    }

    private static int Port(string? value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) ? port : throw new InvalidOperationException($"'{value}' is not a port");

    private static string? FieldRef(Container container, string variable) =>
        container.EnvEntry(variable).Str("valueFrom", "fieldRef", "fieldPath");

    private static (string?, string?) SecretRef(Container container, string variable)
    {
        var reference = container.EnvEntry(variable).At("valueFrom", "secretKeyRef");
        return (reference.Str("name"), reference.Str("key"));
    }
}
