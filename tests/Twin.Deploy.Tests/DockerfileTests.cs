using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Twin.Deploy.Tests.Support;

namespace Twin.Deploy.Tests;

/// <summary>
/// The images' Dockerfiles (deploy/docker): pinned base images, a non-root user, the right program,
/// and the ports the manifests expect. Built from the repository root as the build context.
/// </summary>
public sealed class DockerfileTests
{
    /// <summary>Image (deploy/docker/{image}.Dockerfile, factory-twin/{image}) and the project it publishes.</summary>
    public static TheoryData<string, string> Images => new() { { "silo", "Twin.Silo" }, { "gateway", "Twin.Gateway" } };

    [Theory]
    [MemberData(nameof(Images))]
    public void Base_images_are_pinned_to_full_versions(string image, string project)
    {
        var dockerfile = Load(image);
        var stageNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

        Assert.True(dockerfile.Stages.Count >= 2, $"{dockerfile}: build and runtime stages expected ({project})");
        foreach (var from in dockerfile.Stages)
        {
            var words = from.Words.Where(w => !w.StartsWith("--", StringComparison.Ordinal)).ToList();
            var reference = words[0];
            if (!stageNames.Contains(reference))
            {
                var tag = Tag(reference);
                Assert.True(reference.Contains("@sha256:", StringComparison.Ordinal) || (tag is not null && Regex.IsMatch(tag, @"^\d+\.\d+\.\d+")),
                    $"{dockerfile}: FROM {reference} is not pinned to a full version (major.minor.patch) or a digest");
            }

            if (words.Count == 3 && string.Equals(words[1], "AS", StringComparison.OrdinalIgnoreCase))
            {
                stageNames.Add(words[2]);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void Build_stage_has_the_sdk_global_json_asks_for(string image, string project)
    {
        var dockerfile = Load(image);
        var sdk = dockerfile.Stages.Select(s => s.Words[0]).Single(r => r.StartsWith("mcr.microsoft.com/dotnet/sdk:", StringComparison.Ordinal));
        var required = Version.Parse(JsonNode.Parse(Repository.ReadText("global.json"))?["sdk"]?["version"]?.GetValue<string>() ?? "");
        var actual = Version.Parse(Regex.Match(Tag(sdk) ?? "", @"^\d+\.\d+\.\d+").Value);

        Assert.True(actual.Major == required.Major && actual.Minor == required.Minor && actual >= required,
            $"{dockerfile} builds {project} with SDK {actual}; global.json asks for {required} or a later {required.Major}.{required.Minor} feature band");
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void Final_stage_runs_the_published_program_as_a_non_root_user(string image, string project)
    {
        var dockerfile = Load(image);
        var final = dockerfile.FinalStage;

        Assert.StartsWith("mcr.microsoft.com/dotnet/aspnet:", dockerfile.Stages[final].Words[0], StringComparison.Ordinal);
        var user = dockerfile.In(final, "USER").LastOrDefault()?.Arguments.Split(':')[0];
        Assert.True(user is not null, $"{dockerfile}: the final stage sets no USER, so it runs as root");
        Assert.DoesNotContain(user, new[] { "root", "0" });
        Assert.Equal(new[] { "dotnet", project + ".dll" }, dockerfile.In(final, "ENTRYPOINT").Single().ExecForm);
        Assert.Contains(dockerfile.In(final, "COPY"), c => c.Words.Contains("--from=build") && c.Words.Contains("/app"));

        var publish = dockerfile.In(0, "RUN").Single(r => r.Arguments.StartsWith("dotnet publish", StringComparison.Ordinal)).Words;
        Assert.Contains($"{project}/{project}.csproj", publish);
        Assert.Equal("Release", publish[publish.ToList().IndexOf("-c") + 1]);
        Assert.Equal("/app", publish[publish.ToList().IndexOf("-o") + 1]);
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void Build_stage_copies_every_project_the_program_references(string image, string project)
    {
        var dockerfile = Load(image);
        var copied = dockerfile.In(0, "COPY").SelectMany(c => c.Words.SkipLast(1)).Select(w => w.TrimEnd('/')).ToHashSet(StringComparer.Ordinal);

        foreach (var file in new[] { "global.json", "Directory.Build.props", "Directory.Packages.props" })
        {
            Assert.True(copied.Contains(file), $"{dockerfile}: {file} is not copied into the build");
        }

        foreach (var referenced in ProjectClosure($"{project}/{project}.csproj"))
        {
            var directory = Path.GetDirectoryName(referenced)!.Replace('\\', '/');
            Assert.True(copied.Contains(directory), $"{dockerfile}: {directory}/ is not copied, but {project} references it");
            Assert.True(copied.Contains(referenced), $"{dockerfile}: {referenced} is not copied before the restore");
        }
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void Exposed_ports_are_the_container_ports_of_the_image(string image, string project)
    {
        var dockerfile = Load(image);
        var exposed = dockerfile.In(dockerfile.FinalStage, "EXPOSE").SelectMany(e => e.Words)
            .Select(w => int.Parse(w.Split('/')[0], CultureInfo.InvariantCulture)).Order().ToList();
        var manifest = Kustomize.Render("deploy/k8s/base");
        var declared = manifest.Workloads.SelectMany(w => w.Containers)
            .Where(c => c.Image == $"factory-twin/{image}" || c.Image.StartsWith($"factory-twin/{image}:", StringComparison.Ordinal))
            .SelectMany(c => c.Ports.Select(p => p.Port)).Distinct().Order().ToList();

        Assert.NotEmpty(declared);
        Assert.True(declared.SequenceEqual(exposed), $"{dockerfile} ({project}) exposes {string.Join(", ", exposed)}; its pods declare {string.Join(", ", declared)}");
    }

    [Fact]
    public void Build_context_leaves_out_build_output_and_keeps_the_sources()
    {
        var ignore = new DockerIgnore(Repository.ReadText(".dockerignore"));

        foreach (var path in new[] { ".git/HEAD", "Twin.Silo/bin/Release/net10.0/Twin.Silo.dll", "Twin.Grains/obj/project.assets.json", "Twin.Gateway/dashboard/node_modules/uplot/package.json", "Twin.Gateway/data/twin.db", "artifacts/x" })
        {
            Assert.True(ignore.Excludes(path), $".dockerignore lets {path} into the build context");
        }

        var needed = new[] { "global.json", "Directory.Build.props", "Directory.Packages.props", ".editorconfig", "Twin.Gateway/wwwroot/app.js", "Twin.Gateway/wwwroot/index.html" }
            .Concat(ProjectClosure("Twin.Gateway/Twin.Gateway.csproj"))
            .Concat(Directory.GetFiles(Repository.PathOf("Twin.Silo/Schema"), "*.sql", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(Repository.Root, f).Replace('\\', '/')));
        foreach (var path in needed)
        {
            Assert.True(File.Exists(Repository.PathOf(path)), $"{path} does not exist");
            Assert.False(ignore.Excludes(path), $".dockerignore keeps {path} out of the build context");
        }
    }

    private static Dockerfile Load(string image) => Dockerfile.Load($"deploy/docker/{image}.Dockerfile");

    private static string? Tag(string reference)
    {
        var lastPart = reference[(reference.LastIndexOf('/') + 1)..].Split('@')[0];
        var colon = lastPart.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? null : lastPart[(colon + 1)..];
    }

    /// <summary>A project and every project it references, transitively, relative to the root.</summary>
    private static List<string> ProjectClosure(string project)
    {
        var seen = new List<string>();
        var pending = new Stack<string>([project]);
        while (pending.Count > 0)
        {
            var current = pending.Pop();
            if (seen.Contains(current))
            {
                continue;
            }

            seen.Add(current);
            var document = XDocument.Parse(Repository.ReadText(current));
            foreach (var reference in document.Descendants("ProjectReference").Select(r => (string?)r.Attribute("Include")).OfType<string>())
            {
                var full = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Repository.PathOf(current))!, reference.Replace('\\', Path.DirectorySeparatorChar)));
                pending.Push(Path.GetRelativePath(Repository.Root, full).Replace('\\', '/'));
            }
        }

        return seen;
    }
}
