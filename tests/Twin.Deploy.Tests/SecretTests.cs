using System.Text;
using Twin.Deploy.Tests.Support;

namespace Twin.Deploy.Tests;

/// <summary>
/// Credentials never live in the repository: overlays render no Secrets (an apply would overwrite
/// the real ones), and deploy/k8s/base/secrets lists the Secrets a namespace needs with placeholders.
/// </summary>
public sealed class SecretTests
{
    private const string Placeholder = "change-me";
    private const string Template = "deploy/k8s/base/secrets";

    public static TheoryData<string> Kustomizations => new(Kustomize.Kustomizations);

    [Fact]
    public void Placeholder_secrets_hold_only_placeholder_credentials()
    {
        var secrets = Kustomize.Render(Template).Objects;

        Assert.NotEmpty(secrets);
        Assert.All(secrets, s => Assert.Equal("Secret", s.Kind));
        foreach (var (secret, key, value) in secrets.SelectMany(Values))
        {
            if (key.EndsWith("username", StringComparison.Ordinal))
            {
                Assert.False(string.IsNullOrWhiteSpace(value), $"Secret {secret}: {key} is empty");
            }
            else if (value.Contains('=', StringComparison.Ordinal))
            {
                var password = ConnectionStringPart(value, "Password");
                Assert.True(password == Placeholder, $"Secret {secret}: {key} holds a connection string whose password is not '{Placeholder}'");
            }
            else
            {
                Assert.True(value == Placeholder, $"Secret {secret}: {key} is not the placeholder '{Placeholder}'");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Overlays_render_no_secrets(string kustomization)
    {
        var secrets = Kustomize.Render(kustomization).OfKind("Secret").ToList();

        Assert.True(secrets.Count == 0, $"{kustomization} renders {string.Join(", ", secrets)}: `kubectl apply -k` would overwrite the namespace's real credentials");
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Placeholder_secrets_list_every_secret_key_the_workloads_read(string kustomization)
    {
        var template = Kustomize.Render(Template).Objects.SelectMany(Values).Select(v => (v.Secret, v.Key)).ToHashSet();
        var manifest = Kustomize.Render(kustomization);

        foreach (var c in manifest.Workloads.SelectMany(w => w.AllContainers))
        {
            foreach (var env in c.Env)
            {
                if (env.At("valueFrom", "secretKeyRef") is { } reference)
                {
                    var key = (reference.Str("name") ?? "", reference.Str("key") ?? "");
                    Assert.True(template.Contains(key), $"{c}: reads Secret {key.Item1} key {key.Item2}, which {Template} does not list");
                }
            }

            Assert.Null(c.Node["envFrom"]);
        }
    }

    [Fact]
    public void Placeholder_connection_string_names_the_bundled_database()
    {
        var connection = Values(Kustomize.Render(Template).Single("Secret", "twin-db")).Single(v => v.Key == "connection-string").Value;
        var manifest = Kustomize.Render(Kustomize.Overlays.First(o => Kustomize.Render(o).Has("postgres")));
        var postgres = manifest.App("postgres").Container("postgres");

        Assert.True(manifest.Contains("Service", ConnectionStringPart(connection, "Host") ?? ""), "the connection string's Host is not the postgres Service");
        Assert.Equal(postgres.EnvValue("POSTGRES_DB"), ConnectionStringPart(connection, "Database"));
        Assert.Equal(postgres.EnvValue("POSTGRES_USER"), ConnectionStringPart(connection, "Username"));
        Assert.Equal(("postgres", "password"), (postgres.EnvEntry("POSTGRES_PASSWORD").Str("valueFrom", "secretKeyRef", "name"), postgres.EnvEntry("POSTGRES_PASSWORD").Str("valueFrom", "secretKeyRef", "key")));
    }

    internal static IEnumerable<(string Secret, string Key, string Value)> Values(K8sObject secret)
    {
        foreach (var (key, value) in secret.Node["stringData"].Map())
        {
            yield return (secret.Name, key, value);
        }

        foreach (var (key, value) in secret.Node["data"].Map())
        {
            yield return (secret.Name, key, Encoding.UTF8.GetString(Convert.FromBase64String(value)));
        }
    }

    private static string? ConnectionStringPart(string connectionString, string name) =>
        connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .Where(p => p.Length == 2 && string.Equals(p[0].Trim(), name, StringComparison.OrdinalIgnoreCase))
            .Select(p => p[1].Trim())
            .SingleOrDefault();
}
