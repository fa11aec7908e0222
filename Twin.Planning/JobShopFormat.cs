using System.Globalization;

namespace Twin.Planning;

/// <summary>
/// Reads the standard job-shop instance format (OR-Library, JSPLIB): lines starting with
/// <c>#</c> are comments; the first line of numbers is <c>jobs machines</c>; then one line per
/// job of <c>machine duration</c> pairs in its order, machines numbered from 0.
/// </summary>
public static class JobShopFormat
{
    public static SchedulingProblem Parse(string text)
    {
        var numbers = new List<long[]>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            numbers.Add([.. line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Select(t => long.Parse(t, NumberStyles.Integer, CultureInfo.InvariantCulture))]);
        }

        if (numbers.Count == 0 || numbers[0].Length < 2)
        {
            throw new FormatException("a job-shop instance starts with a line 'jobs machines'");
        }

        var (jobCount, machineCount) = ((int)numbers[0][0], (int)numbers[0][1]);
        if (numbers.Count < jobCount + 1)
        {
            throw new FormatException($"the instance names {jobCount} jobs but has {numbers.Count - 1} job lines");
        }

        var jobs = new List<JobSpec>(jobCount);
        for (var j = 0; j < jobCount; j++)
        {
            var row = numbers[j + 1];
            if (row.Length % 2 != 0)
            {
                throw new FormatException($"job line {j + 1} has an odd count of numbers; it is machine-duration pairs");
            }

            var operations = new List<OperationSpec>();
            for (var k = 0; k < row.Length; k += 2)
            {
                if (row[k] < 0 || row[k] >= machineCount)
                {
                    throw new FormatException($"job line {j + 1} names machine {row[k]}; machines are 0 to {machineCount - 1}");
                }

                operations.Add(new OperationSpec($"{k / 2}", [new ModeSpec(MachineName(row[k]), row[k + 1])]));
            }

            jobs.Add(new JobSpec($"j{j}", operations));
        }

        return new SchedulingProblem(jobs, [.. Enumerable.Range(0, machineCount).Select(m => new MachineSpec(MachineName(m)))]);
    }

    private static string MachineName(long index) => string.Create(CultureInfo.InvariantCulture, $"m{index}");
}
