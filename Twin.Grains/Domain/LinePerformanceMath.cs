using System.Collections.Immutable;
using System.Globalization;
using Twin.Lines;
using Twin.Machines;

namespace Twin.Grains.Domain;

/// <summary>Line OEE and bottleneck detection from the machines' OEE windows.</summary>
public static class LinePerformanceMath
{
    /// <summary>Observed time below which no bottleneck is named (too little evidence).</summary>
    public static readonly TimeSpan MinObserved = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Line OEE for a line as a unit: fully productive time over planned busy time, split as
    /// availability and performance of the line's constraint (the member with the longest ideal
    /// cycle time: no line can beat its slowest designed station) and quality of the line's output
    /// (its last machine). So OEE = ideal cycle time × good output / planned busy time.
    /// </summary>
    public static LinePerformance Compute(string factory, string line, ImmutableArray<MachineOee> machines, ImmutableArray<MachineSummary> summaries)
    {
        if (machines.IsDefaultOrEmpty)
        {
            return new LinePerformance(factory, line, null, null, [], null, []);
        }

        var output = machines[^1];
        var constraint = machines
            .Select((m, i) => (m, i))
            .Where(x => x.m.IdealCycleTime is not null)
            .OrderByDescending(x => x.m.IdealCycleTime)
            .ThenByDescending(x => x.i)
            .Select(x => x.m)
            .FirstOrDefault() ?? output;
        var windows = constraint.Windows
            .Select(w => output.Windows.FirstOrDefault(o => o.Window == w.Window) is { } o
                ? OeeMath.Figures(w.Window, w.From, w.To, new LedgerTotals(w.RunSeconds, w.DownSeconds, w.IdleSeconds, o.Good, o.Scrap), w.PlannedSeconds, constraint.IdealCycleTime)
                : null)
            .OfType<OeeFigures>()
            .ToImmutableArray();

        var utilisation = machines.Select((m, i) => Utilisation(m, i < summaries.Length ? summaries[i].GoodPerMinute : 0)).ToImmutableArray();
        return new LinePerformance(factory, line, output.Id, constraint.IdealCycleTime, windows, FindBottleneck(utilisation, machines), utilisation);
    }

    /// <summary>
    /// The active-period method: the machine active (running, or down) for the largest share of the
    /// observed time is the one the others wait for. Idle time is waiting: starved by the machine
    /// before or blocked by the one after.
    /// </summary>
    public static Bottleneck? FindBottleneck(ImmutableArray<MachineUtilisation> machines, ImmutableArray<MachineOee> oee)
    {
        var candidates = machines
            .Select((u, i) => (u, Observed: Hour(oee[i]) is { } h ? h.RunSeconds + h.DownSeconds + h.IdleSeconds : 0))
            .Where(c => c.Observed >= MinObserved.TotalSeconds)
            .OrderByDescending(c => c.u.Active)
            .ThenBy(c => c.u.Idle)
            .ToList();
        if (candidates.Count == 0)
        {
            return null;
        }

        var top = candidates[0].u;
        var culture = CultureInfo.InvariantCulture;
        var evidence = string.Format(culture, "{0} was active {1:P0} of the last hour (running {2:P0}, down {3:P0}, waiting {4:P0})", top.Machine, top.Active, top.Run, top.Down, top.Idle);
        if (candidates.Count > 1)
        {
            var next = candidates[1].u;
            evidence += string.Format(culture, "; next most active: {0} at {1:P0}", next.Machine, next.Active);
        }

        return new Bottleneck(top.Machine, top.Active, evidence + ".");
    }

    private static MachineUtilisation Utilisation(MachineOee machine, double goodPerMinute)
    {
        var hour = Hour(machine);
        var observed = hour is null ? 0 : hour.RunSeconds + hour.DownSeconds + hour.IdleSeconds;
        if (hour is null || observed <= 0)
        {
            return new MachineUtilisation(machine.Id, 0, 0, 0, 0, null, goodPerMinute);
        }

        return new MachineUtilisation(
            machine.Id,
            (hour.RunSeconds + hour.DownSeconds) / observed,
            hour.RunSeconds / observed,
            hour.DownSeconds / observed,
            hour.IdleSeconds / observed,
            hour.PlannedSeconds > 0 ? Math.Min(1, hour.RunSeconds / hour.PlannedSeconds) : null,
            goodPerMinute);
    }

    private static OeeFigures? Hour(MachineOee machine) => machine.Windows.FirstOrDefault(w => w.Window == "1h");
}
