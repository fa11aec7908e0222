namespace Twin.Deploy.Tests.Support;

/// <summary>The checkout under test: its deployment files and the application's own settings.</summary>
internal static class Repository
{
    public static string Root { get; } = FindRoot();

    /// <summary>A path inside the checkout, from slash-separated parts.</summary>
    public static string PathOf(string relative) => Path.Combine(Root, relative.Replace('/', Path.DirectorySeparatorChar));

    public static string ReadText(string relative)
    {
        var path = PathOf(relative);
        return File.Exists(path) ? File.ReadAllText(path) : throw new FileNotFoundException($"{relative} is missing from the checkout.", path);
    }

    /// <summary>The kustomize directories of the factories (deploy/k8s/overlays/*), relative to the root.</summary>
    public static IReadOnlyList<string> Overlays { get; } = SubDirectories("deploy/k8s/overlays");

    /// <summary>The overlays plus the documented examples (deploy/k8s/examples/*): everything a user applies.</summary>
    public static IReadOnlyList<string> Kustomizations { get; } = [.. Overlays, .. SubDirectories("deploy/k8s/examples")];

    private static List<string> SubDirectories(string relative)
    {
        var path = PathOf(relative);
        return Directory.Exists(path)
            ? [.. Directory.GetDirectories(path).Select(d => relative + "/" + Path.GetFileName(d)).Order(StringComparer.Ordinal)]
            : [];
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "DigitalTwin.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("DigitalTwin.sln not found above the test directory.");
    }
}
