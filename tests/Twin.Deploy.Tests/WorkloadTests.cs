using System.Globalization;
using System.Text.Json.Nodes;
using Twin.Deploy.Tests.Support;

namespace Twin.Deploy.Tests;

/// <summary>Probes, resources, security context and shutdown of every workload.</summary>
public sealed class WorkloadTests
{
    /// <summary>The application's long-running workloads and their containers.</summary>
    private static readonly (string App, string Container)[] Services = [("twin-silo", "silo"), ("twin-gateway", "gateway")];

    /// <summary>Everything that runs the application's images, including the migration job.</summary>
    private static readonly string[] ApplicationWorkloads = ["twin-silo", "twin-gateway", "twin-migrate"];

    public static TheoryData<string> Kustomizations => new(Kustomize.Kustomizations);

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Application_services_probe_their_health_endpoints(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);

        foreach (var (app, name) in Services)
        {
            var container = manifest.App(app).Container(name);
            AssertHttpProbe(container, "startupProbe", "/health/live");
            AssertHttpProbe(container, "livenessProbe", "/health/live");
            AssertHttpProbe(container, "readinessProbe", "/health/ready");
        }
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Every_probe_targets_a_declared_container_port(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);

        foreach (var container in manifest.Workloads.SelectMany(w => w.Containers))
        {
            foreach (var kind in new[] { "startupProbe", "livenessProbe", "readinessProbe" })
            {
                var probe = container.Node[kind];
                if (probe is null)
                {
                    continue;
                }

                var port = probe.Str("httpGet", "port") ?? probe.Str("tcpSocket", "port") ?? probe.Str("grpc", "port");
                Assert.True(port is not null || probe["exec"] is not null, $"{container}: {kind} has no handler");
                if (port is not null)
                {
                    Assert.True(container.ResolvePort(port) is not null, $"{container}: {kind} targets port '{port}', which the container does not declare");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Every_container_requests_and_limits_cpu_and_memory(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);

        Assert.All(manifest.Workloads.SelectMany(w => w.AllContainers), c =>
        {
            foreach (var resource in new[] { "cpu", "memory" })
            {
                var request = c.Node.Str("resources", "requests", resource);
                var limit = c.Node.Str("resources", "limits", resource);
                Assert.True(request is not null && limit is not null, $"{c}: no {resource} request and limit");
                Assert.True(Quantity.Parse(request!) <= Quantity.Parse(limit!), $"{c}: {resource} request {request} exceeds its limit {limit}");
            }
        });
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Every_container_runs_as_a_non_root_user_without_privileges(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);

        foreach (var workload in manifest.Workloads)
        {
            Assert.Equal("RuntimeDefault", workload.PodSpec.Str("securityContext", "seccompProfile", "type"));
            foreach (var c in workload.AllContainers)
            {
                Assert.True(Effective(c, "runAsNonRoot") == "true", $"{c}: runAsNonRoot is not true");
                var user = Effective(c, "runAsUser");
                Assert.True(user is not null && user != "0", $"{c}: runs as user '{user}'; set a non-root runAsUser");
                Assert.True(c.SecurityContext.Bool("allowPrivilegeEscalation") == false, $"{c}: allowPrivilegeEscalation is not false");
                Assert.True(c.SecurityContext.Bool("readOnlyRootFilesystem") == true, $"{c}: the root filesystem is writable");
                Assert.Contains("ALL", c.SecurityContext?["capabilities"]?["drop"].Strings() ?? []);
                Assert.Null(c.SecurityContext?["capabilities"]?["add"]);
                Assert.NotEqual(true, c.SecurityContext.Bool("privileged"));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Application_containers_run_as_the_images_app_user_with_a_writable_tmp(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);

        foreach (var app in ApplicationWorkloads)
        {
            var workload = manifest.App(app);
            foreach (var c in workload.Containers)
            {
                Assert.True(c.SecurityContext.Bool("runAsNonRoot") == true, $"{c}: runAsNonRoot is not set on the container");
                Assert.Equal("1654", Effective(c, "runAsUser"));
                var tmp = c.Node["volumeMounts"].Items().SingleOrDefault(m => m.Str("mountPath") == "/tmp");
                Assert.True(tmp is not null, $"{c}: /tmp is not mounted (the root filesystem is read-only)");
                var volume = workload.PodSpec?["volumes"].Items().Single(v => v.Str("name") == tmp!.Str("name"));
                Assert.NotNull(volume?["emptyDir"]);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Silos_and_gateways_finish_draining_within_their_grace_period(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);

        foreach (var (app, name, grace) in new[] { ("twin-silo", "silo", 60), ("twin-gateway", "gateway", 45) })
        {
            var workload = manifest.App(app);
            var container = workload.Container(name);
            Assert.Equal(grace, workload.TerminationGracePeriodSeconds);
            var hostShutdown = int.Parse(container.EnvValue("DOTNET_SHUTDOWNTIMEOUTSECONDS") ?? "30", CultureInfo.InvariantCulture);
            var preStop = PreStopSeconds(container);
            Assert.True(preStop + hostShutdown < grace,
                $"{container}: preStop {preStop} s + host shutdown {hostShutdown} s do not fit in the {grace} s grace period; the process would be killed while draining");
            Assert.True(hostShutdown >= 30, $"{container}: the host shutdown timeout {hostShutdown} s is below the 30 s docs/OPERATIONS.md asks for");
        }
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Prometheus_scrapes_the_metrics_endpoint(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);

        foreach (var (app, name) in Services)
        {
            var workload = manifest.App(app);
            var annotations = workload.PodAnnotations;
            Assert.Equal("true", annotations.GetValueOrDefault("prometheus.io/scrape"));
            Assert.Equal("/metrics", annotations.GetValueOrDefault("prometheus.io/path"));
            var port = workload.Container(name).ResolvePort(annotations.GetValueOrDefault("prometheus.io/port"));
            Assert.True(port is not null, $"{workload}: prometheus.io/port is not a declared container port");
            Assert.Equal(workload.Container(name).ResolvePort("http"), port);
        }
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Only_silos_get_a_kubernetes_api_token(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);

        foreach (var workload in manifest.Workloads)
        {
            if (workload.AppName == "twin-silo")
            {
                Assert.Equal("twin-silo", workload.PodSpec.Str("serviceAccountName"));
                Assert.NotEqual(false, workload.PodSpec.Bool("automountServiceAccountToken"));
            }
            else
            {
                Assert.True(workload.PodSpec.Bool("automountServiceAccountToken") == false, $"{workload}: mounts a Kubernetes API token it does not need");
                Assert.Null(workload.PodSpec.Str("serviceAccountName"));
            }
        }
    }

    private static void AssertHttpProbe(Container container, string kind, string path)
    {
        var probe = container.Node[kind];
        Assert.True(probe is not null, $"{container}: no {kind}");
        Assert.Equal(path, probe.Str("httpGet", "path"));
        Assert.True(container.ResolvePort(probe.Str("httpGet", "port")) is not null, $"{container}: {kind} port is not declared");
    }

    /// <summary>A container setting, or the pod's when the container leaves it unset.</summary>
    private static string? Effective(Container container, string setting) =>
        container.SecurityContext.Str(setting) ?? container.Workload.PodSpec.Str("securityContext", setting);

    private static int PreStopSeconds(Container container)
    {
        var preStop = container.Node.At("lifecycle", "preStop");
        if (preStop is null)
        {
            return 0;
        }

        if (preStop.Int("sleep", "seconds") is { } seconds)
        {
            return seconds;
        }

        var command = preStop.At("exec", "command").Strings();
        return command is ["sleep", var s] && int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new InvalidOperationException($"{container}: cannot tell how long the preStop hook takes: {preStop.ToJsonString()}");
    }
}
