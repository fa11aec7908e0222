using System.Text.Json;
using System.Text.RegularExpressions;

namespace Twin.Deploy.Tests.Support;

/// <summary>A Dockerfile as its instructions, each with the build stage it belongs to.</summary>
internal sealed class Dockerfile
{
    private Dockerfile(string path, List<Instruction> instructions)
    {
        Path = path;
        Instructions = instructions;
    }

    public string Path { get; }

    public IReadOnlyList<Instruction> Instructions { get; }

    /// <summary>The FROM of each stage, in order.</summary>
    public IReadOnlyList<Instruction> Stages => [.. Instructions.Where(i => i.Keyword == "FROM")];

    public int FinalStage => Stages.Count - 1;

    public IEnumerable<Instruction> In(int stage, string keyword) =>
        Instructions.Where(i => i.Stage == stage && i.Keyword == keyword);

    public static Dockerfile Load(string relative)
    {
        var lines = Repository.ReadText(relative).Split('\n');
        var instructions = new List<Instruction>();
        var stage = -1;
        var current = "";
        foreach (var raw in lines)
        {
            var line = raw.TrimEnd('\r').Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            if (line.EndsWith('\\'))
            {
                current += line[..^1] + " ";
                continue;
            }

            var text = (current + line).Trim();
            current = "";
            var space = text.IndexOf(' ', StringComparison.Ordinal);
            var keyword = (space < 0 ? text : text[..space]).ToUpperInvariant();
            if (keyword == "FROM")
            {
                stage++;
            }

            instructions.Add(new Instruction(keyword, space < 0 ? "" : text[(space + 1)..].Trim(), stage));
        }

        return new Dockerfile(relative, instructions);
    }

    public override string ToString() => Path;
}

/// <summary>One instruction: <c>COPY --from=build /app .</c> is keyword COPY, arguments the rest.</summary>
internal sealed record Instruction(string Keyword, string Arguments, int Stage)
{
    public IReadOnlyList<string> Words => Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The JSON (exec) form of ENTRYPOINT/CMD, or null for the shell form.</summary>
    public IReadOnlyList<string>? ExecForm => Arguments.StartsWith('[') ? JsonSerializer.Deserialize<string[]>(Arguments) : null;
}

/// <summary>
/// A .dockerignore: patterns matched, like Docker does, against a path and each directory above it;
/// the last matching pattern decides (a leading <c>!</c> re-includes).
/// </summary>
internal sealed class DockerIgnore(string text)
{
    private readonly List<(Regex Pattern, bool Include)> _patterns = [.. text.Split('\n')
        .Select(l => l.Trim())
        .Where(l => l.Length > 0 && !l.StartsWith('#'))
        .Select(l => (ToRegex(l.TrimStart('!')), l.StartsWith('!')))];

    public bool Excludes(string path)
    {
        var parts = path.Split('/');
        var candidates = Enumerable.Range(1, parts.Length).Select(n => string.Join('/', parts.Take(n))).ToList();
        var excluded = false;
        foreach (var (pattern, include) in _patterns)
        {
            if (candidates.Any(pattern.IsMatch))
            {
                excluded = !include;
            }
        }

        return excluded;
    }

    private static Regex ToRegex(string pattern)
    {
        var p = pattern.Trim('/');
        var regex = new System.Text.StringBuilder("^");
        for (var i = 0; i < p.Length; i++)
        {
            if (p[i] == '*' && i + 1 < p.Length && p[i + 1] == '*')
            {
                var slash = i + 2 < p.Length && p[i + 2] == '/';
                regex.Append(slash ? "(.*/)?" : ".*");
                i += slash ? 2 : 1;
            }
            else if (p[i] == '*')
            {
                regex.Append("[^/]*");
            }
            else if (p[i] == '?')
            {
                regex.Append("[^/]");
            }
            else
            {
                regex.Append(Regex.Escape(p[i].ToString()));
            }
        }

        return new Regex(regex.Append('$').ToString(), RegexOptions.CultureInvariant);
    }
}
