using System.Text.RegularExpressions;
using System.Xml.Linq;
using Twin.Deploy.Tests.Support;

namespace Twin.Deploy.Tests;

/// <summary>
/// The project references read as the design (docs/ARCHITECTURE.md): contracts at the bottom,
/// grains and ingestion on them, the silo host on the grains, the gateway on contracts and
/// ingestion, with the silo's composition used only by the gateway's embedded mode. A reference,
/// package or <c>using</c> against that direction fails here.
/// </summary>
public sealed partial class ArchitectureTests
{
    /// <summary>Each product project and the product projects it may reference.</summary>
    private static readonly Dictionary<string, string[]> Allowed = new(StringComparer.Ordinal)
    {
        ["Twin.Interfaces"] = [],
        ["Twin.Grains"] = ["Twin.Interfaces", "Twin.Planning"],
        ["Twin.Planning"] = [],
        ["Twin.Ingestion"] = ["Twin.Interfaces"],
        ["Twin.Hosting"] = ["Twin.Interfaces"],
        ["Twin.Silo"] = ["Twin.Grains", "Twin.Hosting", "Twin.Interfaces"],
        ["Twin.Gateway"] = ["Twin.Interfaces", "Twin.Ingestion", "Twin.Hosting", "Twin.Silo"],
    };

    /// <summary>Packages a project must not pull in: what would make it more than its layer.</summary>
    private static readonly Dictionary<string, string[]> Forbidden = new(StringComparer.Ordinal)
    {
        // Microsoft.Orleans.Streaming pulls in the runtime: the contracts name streams by namespace and key only (TwinTopic).
        ["Twin.Interfaces"] = ["Microsoft.Orleans.Runtime", "Microsoft.Orleans.Streaming", "Microsoft.Orleans.Server", "Npgsql", "Microsoft.Data.Sqlite", "MQTTnet", "OpenTelemetry"],
        ["Twin.Grains"] = ["Microsoft.Orleans.Server", "Npgsql", "Microsoft.Data.Sqlite", "MQTTnet", "OpenTelemetry", "Microsoft.AspNetCore"],
        ["Twin.Ingestion"] = ["Microsoft.Orleans.Runtime", "Microsoft.Orleans.Streaming", "Microsoft.Orleans.Server", "Npgsql", "Microsoft.Data.Sqlite", "MQTTnet", "Microsoft.AspNetCore"],
        ["Twin.Hosting"] = ["Microsoft.Orleans.Runtime", "Microsoft.Orleans.Streaming", "Microsoft.Orleans.Server", "Microsoft.Data.Sqlite", "MQTTnet"],
        ["Twin.Gateway"] = ["Microsoft.Orleans.Server", "Microsoft.Data.Sqlite", "Google.OrTools"],

        // The scheduling core is plain code over CP-SAT: no Orleans at all, no storage, no I/O.
        ["Twin.Planning"] = ["Microsoft.Orleans", "Npgsql", "Microsoft.Data.Sqlite", "MQTTnet", "OpenTelemetry", "Microsoft.AspNetCore"],
    };

    public static TheoryData<string> Projects() => [.. Allowed.Keys];

    [Theory]
    [MemberData(nameof(Projects))]
    public void A_project_references_only_the_layers_below_it(string project)
    {
        var references = ProjectReferences(project);
        var wrong = references.Where(r => !Allowed[project].Contains(r)).ToList();
        Assert.True(wrong.Count == 0, $"{project} references {string.Join(", ", wrong)}; it may reference only {string.Join(", ", Allowed[project].DefaultIfEmpty("nothing"))} (docs/ARCHITECTURE.md)");
    }

    [Theory]
    [MemberData(nameof(Projects))]
    public void A_project_pulls_in_no_package_beyond_its_layer(string project)
    {
        if (!Forbidden.TryGetValue(project, out var forbidden))
        {
            return;
        }

        var csproj = XDocument.Load(Repository.PathOf($"{project}/{project}.csproj"));
        var packages = csproj.Descendants("PackageReference").Select(p => (string?)p.Attribute("Include") ?? "")
            .Concat(csproj.Descendants("FrameworkReference").Select(p => (string?)p.Attribute("Include") ?? ""));
        var wrong = packages.Where(p => forbidden.Any(f => p.StartsWith(f, StringComparison.Ordinal))).ToList();
        Assert.True(wrong.Count == 0, $"{project} pulls in {string.Join(", ", wrong)}");
    }

    [Fact]
    public void Only_the_embedded_composition_of_the_gateway_uses_the_silo()
    {
        var offenders = SourceFiles("Twin.Gateway")
            .Where(f => !f.Replace('\\', '/').Contains("/Embedded/", StringComparison.Ordinal))
            .SelectMany(Uses)
            .ToList();
        Assert.True(offenders.Count == 0, "the gateway uses silo or grain internals outside Twin.Gateway/Embedded:\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void The_gateway_code_never_names_the_solver()
    {
        // OR-Tools is a large native dependency of the silos: the gateway speaks to the planning
        // grain through contracts (its embedded mode co-hosts a silo, which brings the solver along).
        var offenders = SourceFiles("Twin.Gateway")
            .SelectMany(f => File.ReadLines(f).Where(l => l.Contains("Twin.Planning", StringComparison.Ordinal) || l.Contains("Google.OrTools", StringComparison.Ordinal))
                .Select(l => $"{Path.GetRelativePath(Repository.Root, f)}: {l.Trim()}"))
            .ToList();
        Assert.True(offenders.Count == 0, "the gateway names the solver:\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void The_contracts_and_the_ingest_pipeline_know_nothing_of_grains_or_hosts()
    {
        var offenders = SourceFiles("Twin.Interfaces").Concat(SourceFiles("Twin.Ingestion")).Concat(SourceFiles("Twin.Hosting")).Concat(SourceFiles("Twin.Planning"))
            .SelectMany(Uses)
            .ToList();
        Assert.True(offenders.Count == 0, string.Join("\n", offenders));
    }

    [Fact]
    public void The_shared_test_harness_compiles_against_no_product_project_and_no_test_framework()
    {
        // Twin.Testing starts the built programs as a user would, for the tests and the benchmark
        // alike; with no project reference it cannot reach into silo or grain internals either.
        const string harness = "tests/Twin.Testing";
        var csproj = XDocument.Load(Repository.PathOf($"{harness}/Twin.Testing.csproj"));
        var references = csproj.Descendants("ProjectReference").Select(r => (string?)r.Attribute("Include") ?? "").ToList();
        Assert.True(references.Count == 0, $"{harness} references {string.Join(", ", references)}; it starts the programs instead");
        var frameworks = csproj.Descendants("PackageReference").Select(p => (string?)p.Attribute("Include") ?? "")
            .Where(p => p.StartsWith("xunit", StringComparison.OrdinalIgnoreCase) || p.StartsWith("Microsoft.NET.Test.Sdk", StringComparison.Ordinal))
            .ToList();
        Assert.True(frameworks.Count == 0, $"{harness} pulls in {string.Join(", ", frameworks)}; fixtures belong in the test projects");
    }

    /// <summary>Code (not comments) in <paramref name="file"/> that names the silo's or the grains' namespaces.</summary>
    private static IEnumerable<string> Uses(string file) =>
        File.ReadLines(file)
            .Where(line => !line.TrimStart().StartsWith("//", StringComparison.Ordinal))
            .SelectMany(line => InnerNamespaces().Matches(line).Select(m => $"{Path.GetRelativePath(Repository.Root, file)}: {m.Value}"));

    private static List<string> ProjectReferences(string project) =>
        [.. XDocument.Load(Repository.PathOf($"{project}/{project}.csproj"))
            .Descendants("ProjectReference")
            .Select(r => Path.GetFileNameWithoutExtension(((string?)r.Attribute("Include") ?? "").Replace('\\', '/')))];

    [Fact]
    public void Every_log_message_takes_a_unique_event_id_from_the_one_table()
    {
        var table = File.ReadAllText(Repository.PathOf("Twin.Interfaces/TwinEvents.cs"));
        var ids = EventIdConstant().Matches(table).Select(m => (Name: m.Groups[1].Value, Id: int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture))).ToList();
        Assert.True(ids.Count > 40, "the event id table was not found");
        var repeated = ids.GroupBy(i => i.Id).Where(g => g.Count() > 1).Select(g => $"{g.Key}: {string.Join(", ", g.Select(i => i.Name))}").ToList();
        Assert.True(repeated.Count == 0, "event ids used twice:\n" + string.Join("\n", repeated));

        var literals = Allowed.Keys.Concat(["tools"]).SelectMany(SourceFiles)
            .SelectMany(f => File.ReadLines(f).Where(l => LiteralEventId().IsMatch(l)).Select(l => $"{Path.GetRelativePath(Repository.Root, f)}: {l.Trim()}"))
            .ToList();
        Assert.True(literals.Count == 0, "log messages with an event id outside TwinEvents:\n" + string.Join("\n", literals));
    }

    [Fact]
    public void Every_twin_that_writes_through_a_group_commit_closes_it_on_deactivation()
    {
        // Without it a dying activation's background work (an outbox round) can still write and
        // race the next activation's write: an ETag conflict, or a change lost.
        var twins = SourceFiles("Twin.Grains").Where(f => File.ReadAllText(f).Contains("new GroupCommit(", StringComparison.Ordinal)).ToList();
        Assert.True(twins.Count > 10, "the twins were not found");
        var open = twins.Where(f => !File.ReadAllText(f).Contains("CloseAsync(cancellationToken", StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(Repository.Root, f)).ToList();
        Assert.True(open.Count == 0, "twins whose OnDeactivateAsync does not close their GroupCommit:\n" + string.Join("\n", open));
    }

    private static IEnumerable<string> SourceFiles(string project) =>
        Directory.EnumerateFiles(Repository.PathOf(project), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal));

    [GeneratedRegex(@"public const int (\w+) = (\d+);")]
    private static partial Regex EventIdConstant();

    [GeneratedRegex(@"EventId\s*=\s*\d")]
    private static partial Regex LiteralEventId();

    /// <summary>A <c>using</c> of, or a qualified name in, the silo's or the grains' namespaces.</summary>
    [GeneratedRegex(@"\bTwin\.(Silo|Grains)\b[\w.]*")]
    private static partial Regex InnerNamespaces();
}
