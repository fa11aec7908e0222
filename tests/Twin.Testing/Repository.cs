using System.Reflection;

namespace Twin.Testing;

/// <summary>This checkout and its built programs, so tests and benchmarks run them as a user would.</summary>
public static class Repository
{
    public static string Root { get; } = FindRoot();

    /// <summary>The build configuration this harness was built in (Release under test.sh and the benchmarks); the programs are looked for in the same one.</summary>
    public static string Configuration { get; } =
        typeof(Repository).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";

    /// <summary>A path inside the checkout, from slash-separated parts.</summary>
    public static string PathOf(string relative) => Path.Combine(Root, relative.Replace('/', Path.DirectorySeparatorChar));

    public static string ReadText(string relative)
    {
        var path = PathOf(relative);
        return File.Exists(path) ? File.ReadAllText(path) : throw new FileNotFoundException($"{relative} is missing from the checkout.", path);
    }

    /// <summary>The path of <c>{project}/bin/{Configuration}/net10.0/{project}.dll</c> in this checkout.</summary>
    public static string ProgramDll(string project)
    {
        var path = Path.Combine(Root, project, "bin", Configuration, "net10.0", project + ".dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"{project} is not built; run dotnet build -c {Configuration} first.", path);
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

        throw new InvalidOperationException("DigitalTwin.sln not found above " + AppContext.BaseDirectory);
    }
}
