using System.Text.RegularExpressions;
using Twin.Deploy.Tests.Support;

namespace Twin.Deploy.Tests;

/// <summary>The bundled Mosquitto: persistence, authentication, ACLs, and what the gateways expect of it.</summary>
public sealed class BrokerTests
{
    private const string Infra = "deploy/k8s/base/infra";

    public static TheoryData<string> WithBroker => new(Kustomize.Kustomizations.Where(k => Kustomize.Render(k).Has("mosquitto")));

    [Fact]
    public void Broker_persists_messages_and_admits_only_known_users()
    {
        var settings = Settings();

        Assert.Equal("1883", settings.GetValueOrDefault("listener"));
        Assert.Equal("true", settings.GetValueOrDefault("persistence"));
        Assert.Equal("/mosquitto/data/", settings.GetValueOrDefault("persistence_location"));
        Assert.Equal("/mosquitto/config/passwd", settings.GetValueOrDefault("password_file"));
        Assert.Equal("/mosquitto/config/acl", settings.GetValueOrDefault("acl_file"));
        Assert.Equal("false", settings.GetValueOrDefault("allow_anonymous"));
    }

    [Theory]
    [MemberData(nameof(WithBroker))]
    public void Broker_keeps_its_data_on_a_volume_and_listens_where_the_service_points(string kustomization)
    {
        var manifest = Kustomize.Render(kustomization);
        var workload = manifest.App("mosquitto");
        var broker = workload.Container("mosquitto");
        var settings = Settings();

        Assert.Equal("StatefulSet", workload.Kind);
        var data = broker.Node["volumeMounts"].Items().Single(m => settings["persistence_location"].TrimEnd('/') == m.Str("mountPath"));
        Assert.Contains(workload.Spec?["volumeClaimTemplates"].Items() ?? [], t => t.Str("metadata", "name") == data.Str("name"));
        var config = broker.Node["volumeMounts"].Items().Single(m => m.Str("mountPath") == "/mosquitto/config");
        Assert.Contains(workload.InitContainers, i => i.Node["volumeMounts"].Items().Any(m => m.Str("name") == config.Str("name") && m.Str("mountPath") == "/mosquitto/config"));

        var port = int.Parse(settings["listener"], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(port, broker.ResolvePort("mqtt"));
        var service = manifest.Single("Service", "mosquitto");
        var servicePort = Assert.Single(service.Node.At("spec", "ports").Items());
        Assert.Equal(port, broker.ResolvePort(servicePort.Str("targetPort")));
    }

    [Fact]
    public void Broker_users_may_do_what_gateways_and_devices_do()
    {
        var acl = Acl();
        var users = SecretTests.Values(Kustomize.Render("deploy/k8s/base/secrets").Single("Secret", "twin-mqtt")).ToDictionary(v => v.Key, v => v.Value, StringComparer.Ordinal);
        var source = Repository.ReadText("Twin.Ingestion/MachineTopic.cs");
        var filter = Regex.Match(source, "const string Filter = \"([^\"]+)\"").Groups[1].Value;
        var subscription = Regex.Match(source, "const string Subscription = \"([^\"]+)\"").Groups[1].Value;

        Assert.False(string.IsNullOrEmpty(filter), "the contract's topic shape (MachineTopic.Filter) was not found");
        Assert.False(string.IsNullOrEmpty(subscription), "the gateway's topic filter (MachineTopic.Subscription) was not found");
        Assert.Contains($"topic read {subscription}", acl.GetValueOrDefault(users["username"]) ?? []);
        Assert.Contains($"topic write {filter}", acl.GetValueOrDefault(users["device-username"]) ?? []);
    }

    [Fact]
    public void Broker_users_may_be_the_sparkplug_host_and_edge_nodes()
    {
        var acl = Acl();
        var users = SecretTests.Values(Kustomize.Render("deploy/k8s/base/secrets").Single("Secret", "twin-mqtt")).ToDictionary(v => v.Key, v => v.Value, StringComparer.Ordinal);
        var gateway = acl.GetValueOrDefault(users["username"]) ?? [];
        var device = acl.GetValueOrDefault(users["device-username"]) ?? [];

        // The host subscribes spBv1.0/+/# (Twin:Sparkplug:Groups), asks for rebirths and announces its state.
        Assert.Contains("topic read spBv1.0/#", gateway);
        Assert.Contains("topic write spBv1.0/+/NCMD/+", gateway);
        Assert.Contains("topic write spBv1.0/STATE/+", gateway);
        foreach (var type in new[] { "NBIRTH", "NDATA", "NDEATH" })
        {
            Assert.Contains($"topic write spBv1.0/+/{type}/+", device);
        }

        foreach (var type in new[] { "DBIRTH", "DDATA", "DDEATH" })
        {
            Assert.Contains($"topic write spBv1.0/+/{type}/+/+", device);
        }

        // No write that reaches commands or states: no CMD or STATE rule, no '#' over the Sparkplug namespace (or everything).
        Assert.DoesNotContain(device, rule => rule.StartsWith("topic write", StringComparison.Ordinal) && (rule.Contains("CMD", StringComparison.Ordinal) || rule.Contains("STATE", StringComparison.Ordinal)
            || (rule.EndsWith('#') && (rule.Contains("spBv1.0", StringComparison.Ordinal) || rule.Split(' ')[^1] is "#" or "+/#"))));
    }

    [Fact]
    public void Broker_lets_the_gateways_publish_back_and_plant_systems_read_it()
    {
        var acl = Acl();
        var users = SecretTests.Values(Kustomize.Render("deploy/k8s/base/secrets").Single("Secret", "twin-mqtt")).ToDictionary(v => v.Key, v => v.Value, StringComparer.Ordinal);
        var root = Regex.Match(Repository.ReadText("Twin.Gateway/Uns/UnsPublishOptions.cs"), "const string DefaultRoot = \"([^\"]+)\"").Groups[1].Value;
        Assert.EndsWith("/{factory}", root, StringComparison.Ordinal);
        var subtree = root[..root.IndexOf("/{factory}", StringComparison.Ordinal)] + "/#";
        var gateway = acl.GetValueOrDefault(users["username"]) ?? [];
        var device = acl.GetValueOrDefault(users["device-username"]) ?? [];

        // Retained values under the default root (Twin:Uns:Publish:Root), read back once per connect to clear stale ones.
        Assert.Contains($"topic readwrite {subtree}", gateway);
        Assert.Contains($"topic read {subtree}", device);
        Assert.DoesNotContain(device, rule => rule.StartsWith("topic write twin", StringComparison.Ordinal) || rule.StartsWith("topic readwrite twin", StringComparison.Ordinal) || rule == "topic write #");
    }

    [Fact]
    public void Broker_users_may_read_and_publish_the_documented_uns_templates()
    {
        var acl = Acl();
        var users = SecretTests.Values(Kustomize.Render("deploy/k8s/base/secrets").Single("Secret", "twin-mqtt")).ToDictionary(v => v.Key, v => v.Value, StringComparer.Ordinal);
        var gateway = acl.GetValueOrDefault(users["username"]) ?? [];
        var device = acl.GetValueOrDefault(users["device-username"]) ?? [];
        var templates = Regex.Matches(Repository.ReadText("docs/INGESTION.md"), "\"Topic\": \"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(templates);

        // Without a read rule Mosquitto still grants the subscription and delivers nothing: no error anywhere.
        foreach (var template in templates)
        {
            var levels = template.Split('/');
            var root = string.Join('/', levels.TakeWhile(l => !l.StartsWith('{'))) + "/#";
            Assert.True(gateway.Contains($"topic read {root}"), $"the gateways read {root} ({template})");
            Assert.True(device.Contains($"topic write {root}"), $"devices publish {root} ({template})");
        }
    }

    /// <summary>mosquitto.conf as setting → value.</summary>
    private static Dictionary<string, string> Settings() =>
        Repository.ReadText(Infra + "/mosquitto.conf").Split('\n')
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split(' ', 2))
            .ToDictionary(p => p[0], p => p.Length > 1 ? p[1].Trim() : "", StringComparer.Ordinal);

    /// <summary>The ACL file as user → rules.</summary>
    private static Dictionary<string, List<string>> Acl()
    {
        var acl = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        List<string>? current = null;
        foreach (var line in Repository.ReadText(Infra + "/acl").Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')))
        {
            if (line.StartsWith("user ", StringComparison.Ordinal))
            {
                current = [];
                acl[line[5..].Trim()] = current;
            }
            else
            {
                (current ?? throw new InvalidDataException($"acl: '{line}' comes before any user")).Add(Regex.Replace(line, @"\s+", " "));
            }
        }

        return acl;
    }
}
