using System.Globalization;

namespace Twin.Testing;

/// <summary>One line of <c>/proc/{pid}/stat</c>: parent and CPU times, for the CPU a benchmark reports per process.</summary>
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
