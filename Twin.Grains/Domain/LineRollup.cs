using System.Collections.Immutable;
using Twin.Lines;
using Twin.Machines;

namespace Twin.Grains.Domain;

/// <summary>Rolls a line's machines up into the line's status and throughput.</summary>
public static class LineRollup
{
    public static LineStatus Status(IReadOnlyCollection<MachineSummary> machines)
    {
        var reporting = machines.Where(m => m.Status != MachineStatus.Unknown).ToList();
        if (reporting.Count == 0)
        {
            return LineStatus.Unknown;
        }

        if (reporting.Any(m => m.Status is MachineStatus.Down or MachineStatus.Offline))
        {
            return LineStatus.Impaired;
        }

        var running = reporting.Count(m => m.Status == MachineStatus.Running);
        if (running == reporting.Count)
        {
            return LineStatus.Running;
        }

        return running == 0 ? LineStatus.Idle : LineStatus.PartlyIdle;
    }

    /// <summary>The line's output rate is the rate of its last machine in flow order.</summary>
    public static double Throughput(ImmutableArray<MachineSummary> machinesInFlowOrder) =>
        machinesInFlowOrder.IsDefaultOrEmpty ? 0 : machinesInFlowOrder[^1].GoodPerMinute;

    /// <summary>Checks a definition: valid, distinct machine ids.</summary>
    public static IReadOnlyList<string> Validate(LineDefinition definition)
    {
        var errors = new List<string>();
        if (definition.Machines.IsDefault)
        {
            errors.Add("machines: required (may be empty)");
            return errors;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var machine in definition.Machines)
        {
            if (!TwinKey.IsValidId(machine, out var error))
            {
                errors.Add($"machines: {error}");
            }
            else if (!seen.Add(machine))
            {
                errors.Add($"machines: '{machine}' is listed twice");
            }
        }

        return errors;
    }
}
