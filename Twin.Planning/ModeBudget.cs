namespace Twin.Planning;

/// <summary>
/// Keeps the search's model within a number of machine choices. An operation that may run on
/// many machines costs the solver an optional interval (and a presence literal) per machine; one
/// routing of 100 steps with 100 machines each is 10,000 of them, enough that a 2-core search
/// finds nothing in its seconds and the whole factory falls back to the dispatch rule. Over the
/// budget, every operation with more than a per-operation share of machines keeps only that many:
/// the machine the dispatch rule's schedule (the search's starting point) gave it, so that
/// schedule stays a solution, then the machines that schedule loads least, then by run time and id.
/// </summary>
public static class ModeBudget
{
    /// <summary>Fewest machines a limited operation keeps.</summary>
    public const int MinKept = 3;

    /// <summary>
    /// The jobs as the model sees them, how many operations were limited, and to how many machines
    /// each. Frozen operations are never limited (they keep the machine they run on).
    /// </summary>
    public static (List<JobSpec> Jobs, int Limited, int Kept) Limit(
        List<JobSpec> jobs,
        IReadOnlyList<PlannedOperation> hint,
        IReadOnlyDictionary<(string Job, string Operation), PlannedOperation> frozen,
        int maxModes)
    {
        var open = jobs.SelectMany(j => j.Operations.Where(o => !frozen.ContainsKey((j.Id, o.Id)))).ToList();
        var total = open.Sum(o => (long)o.Modes.Count);
        if (total <= maxModes || open.Count == 0)
        {
            return (jobs, 0, 0);
        }

        // The share each operation may have, raised while the operations under it leave room.
        var share = Math.Max(MinKept, maxModes / open.Count);
        while (true)
        {
            var next = share + 1;
            if (open.Sum(o => (long)Math.Min(o.Modes.Count, next)) > maxModes)
            {
                break;
            }

            share = next;
            if (open.All(o => o.Modes.Count <= share))
            {
                return (jobs, 0, 0);
            }
        }

        var chosen = hint.ToDictionary(h => (h.Job, h.Operation), h => h.Machine);
        var load = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var h in hint)
        {
            load[h.Machine] = load.GetValueOrDefault(h.Machine) + (h.End - h.Start);
        }

        var limited = 0;
        var result = new List<JobSpec>(jobs.Count);
        foreach (var job in jobs)
        {
            var operations = new List<OperationSpec>(job.Operations.Count);
            foreach (var operation in job.Operations)
            {
                if (operation.Modes.Count <= share || frozen.ContainsKey((job.Id, operation.Id)))
                {
                    operations.Add(operation);
                    continue;
                }

                chosen.TryGetValue((job.Id, operation.Id), out var ruled);
                var kept = operation.Modes
                    .OrderBy(m => m.Machine == ruled ? 0 : 1)
                    .ThenBy(m => load.GetValueOrDefault(m.Machine))
                    .ThenBy(m => m.Duration + m.Setup)
                    .ThenBy(m => m.Machine, StringComparer.Ordinal)
                    .Take(share)
                    .ToList();
                operations.Add(operation with { Modes = kept });
                limited++;
            }

            result.Add(job with { Operations = operations });
        }

        return (result, limited, share);
    }
}
