using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Twin.Deploy.Tests.Support;

/// <summary>Renders a kustomize directory with <c>kubectl kustomize</c>, as <c>kubectl apply -k</c> would.</summary>
internal static class Kustomize
{
    private static readonly ConcurrentDictionary<string, Lazy<Manifest>> Rendered = new(StringComparer.Ordinal);

    /// <summary>The kustomize directories of the factories (deploy/k8s/overlays/*), relative to the root.</summary>
    public static IReadOnlyList<string> Overlays { get; } = SubDirectories("deploy/k8s/overlays");

    /// <summary>The overlays plus the documented examples (deploy/k8s/examples/*): everything a user applies.</summary>
    public static IReadOnlyList<string> Kustomizations { get; } = [.. Overlays, .. SubDirectories("deploy/k8s/examples")];

    /// <summary>The objects of a directory relative to the repository root; rendered once per test run.</summary>
    public static Manifest Render(string directory) =>
        Rendered.GetOrAdd(directory, d => new Lazy<Manifest>(() => RenderNow(d))).Value;

    private static Manifest RenderNow(string directory)
    {
        var kubectl = FindOnPath("kubectl") ?? throw new InvalidOperationException(
            "kubectl is not on PATH. The deployment tests render the manifests with `kubectl kustomize` (kubectl 1.27 or newer); install kubectl and run them again.");
        var start = new ProcessStartInfo(kubectl)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("kustomize");
        start.ArgumentList.Add(Repository.PathOf(directory));
        using var process = Process.Start(start) ?? throw new InvalidOperationException("kubectl did not start.");
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"kubectl kustomize {directory} did not finish within 60 s.");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"kubectl kustomize {directory} failed (exit code {process.ExitCode}): {error.Result.Trim()}");
        }

        var objects = Yaml.ParseDocuments(output)
            .Where(d => d is not null)
            .Select(d => new K8sObject(d as JsonObject ?? throw new InvalidDataException($"{directory}: a document is not a mapping: {d}")))
            .ToList();
        return new Manifest(directory, objects);
    }

    private static List<string> SubDirectories(string relative)
    {
        var path = Repository.PathOf(relative);
        return Directory.Exists(path)
            ? [.. Directory.GetDirectories(path).Select(d => relative + "/" + Path.GetFileName(d)).Order(StringComparer.Ordinal)]
            : [];
    }

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, program))
            .FirstOrDefault(File.Exists);
}
