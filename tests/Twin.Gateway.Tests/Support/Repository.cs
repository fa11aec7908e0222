using System.Reflection;

namespace Twin.Gateway.Tests.Support;

/// <summary>Finds the built programs of this checkout, so tests run them as a user would.</summary>
public static class Repository
{
    public static string Root { get; } = FindRoot();

    public static string Configuration { get; } =
        typeof(Repository).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";

    public static string ProgramDll(string project)
    {
        var path = Path.Combine(Root, project, "bin", Configuration, "net10.0", project + ".dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"{project} is not built; run dotnet build first.", path);
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
