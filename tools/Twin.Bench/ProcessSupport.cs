using System.Globalization;
using System.Runtime.InteropServices;

namespace Twin.Bench;

/// <summary>The product's programs, built in Release beside this checkout's benchmark.</summary>
public static class Programs
{
    /// <summary>The path of <c>{project}/bin/Release/net10.0/{project}.dll</c> in this checkout.</summary>
    public static string Dll(string project)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var path = Path.Combine(dir.FullName, project, "bin", "Release", "net10.0", project + ".dll");
            if (File.Exists(Path.Combine(dir.FullName, "DigitalTwin.sln")))
            {
                return File.Exists(path) ? path : throw new FileNotFoundException($"{project} is not built: dotnet build tools/Twin.Bench -c Release", path);
            }
        }

        throw new FileNotFoundException("DigitalTwin.sln not found above the benchmark");
    }
}

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM: runs every registered clean-up, newest first (servers stop before
/// their folders are removed), then exits with 130, so no server or temporary folder outlives an
/// interrupted run.
/// </summary>
public static class Interrupt
{
    private static readonly List<Action> Registered = [];
    private static readonly PosixSignalRegistration[] Signals =
    [
        PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
        PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
    ];

    private static int _interrupted;

    /// <summary>Runs <paramref name="cleanUp"/> if the run is interrupted before the returned registration is disposed.</summary>
    public static IDisposable OnCancel(Action cleanUp)
    {
        GC.KeepAlive(Signals);
        lock (Registered)
        {
            Registered.Add(cleanUp);
        }

        return new Registration(cleanUp);
    }

    private static void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        if (Interlocked.Exchange(ref _interrupted, 1) == 1)
        {
            return;
        }

        Console.Error.WriteLine($"{context.Signal}: stopping the servers and removing the temporary folders");
        Action[] cleanUps;
        lock (Registered)
        {
            cleanUps = [.. Enumerable.Reverse(Registered)];
        }

        foreach (var cleanUp in cleanUps)
        {
            try
            {
                cleanUp();
            }
            catch (Exception ex)
            {
                Console.Error.WriteLine($"clean-up failed: {ex.Message}");
            }
        }

        Environment.Exit(130);
    }

    private sealed class Registration(Action cleanUp) : IDisposable
    {
        public void Dispose()
        {
            lock (Registered)
            {
                Registered.Remove(cleanUp);
            }
        }
    }
}

/// <summary>One line of <c>/proc/{pid}/stat</c>: parent and CPU times.</summary>
public readonly record struct ProcessStat(int Id, int ParentId, TimeSpan Cpu, TimeSpan ReapedChildrenCpu)
{
    /// <summary>The process's figures, or null when it is gone.</summary>
    public static ProcessStat? Read(int id)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{id}/stat");
        }
        catch (IOException)
        {
            return null;
        }

        // After the parenthesised name: state, ppid, ..., utime (12th), stime, cutime, cstime, in clock ticks (USER_HZ, 100 on Linux).
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return new ProcessStat(
            id,
            int.Parse(fields[1], CultureInfo.InvariantCulture),
            Ticks(fields[11]) + Ticks(fields[12]),
            Ticks(fields[13]) + Ticks(fields[14]));
    }

    /// <summary>Every process now running.</summary>
    public static IEnumerable<ProcessStat> All()
    {
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var id) && Read(id) is { } stat)
            {
                yield return stat;
            }
        }
    }

    private static TimeSpan Ticks(string field) => TimeSpan.FromSeconds(long.Parse(field, CultureInfo.InvariantCulture) / 100.0);
}
