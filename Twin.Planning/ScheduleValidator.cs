namespace Twin.Planning;

/// <summary>
/// Checks a schedule against its problem from first principles, sharing no code with the
/// solver or the dispatch rules: every operation of every scheduled job once, on one of its
/// machines, for its duration and setup; precedence; one operation at a time per machine; no
/// work in unavailable spans; nothing new before now or its release; the freeze kept; the
/// promises (completion, lateness, makespan) as the operations say.
/// </summary>
public static class ScheduleValidator
{
    /// <summary>The violations found; empty when the schedule is valid.</summary>
    public static List<string> Check(SchedulingProblem problem, Schedule schedule)
    {
        var errors = new List<string>();
        var machines = problem.Machines.ToDictionary(m => m.Id, StringComparer.Ordinal);
        var placed = new Dictionary<(string, string), PlannedOperation>();
        foreach (var op in schedule.Operations)
        {
            if (!placed.TryAdd((op.Job, op.Operation), op))
            {
                errors.Add($"{op.Job}/{op.Operation} is scheduled twice");
            }
        }

        var previous = (problem.Previous ?? []).GroupBy(p => (p.Job, p.Operation)).ToDictionary(g => g.Key, g => g.First());
        var freezeDropped = schedule.Notes.Any(n => n.Contains("freeze", StringComparison.Ordinal));
        var known = new HashSet<(string, string)>();
        foreach (var job in problem.Jobs)
        {
            if (schedule.Unscheduled.ContainsKey(job.Id))
            {
                if (job.Operations.Any(o => placed.ContainsKey((job.Id, o.Id))))
                {
                    errors.Add($"{job.Id} is unscheduled but has operations in the schedule");
                }

                continue;
            }

            long? before = null;
            var frozenSoFar = true;
            foreach (var spec in job.Operations)
            {
                known.Add((job.Id, spec.Id));
                if (!placed.TryGetValue((job.Id, spec.Id), out var op))
                {
                    errors.Add($"{job.Id}/{spec.Id} is missing");
                    frozenSoFar = false;
                    continue;
                }

                var mode = spec.Modes.FirstOrDefault(m => m.Machine == op.Machine);
                if (mode is null || !machines.ContainsKey(op.Machine))
                {
                    errors.Add($"{job.Id}/{spec.Id} runs on {op.Machine}, which is not one of its machines");
                    continue;
                }

                if (op.Setup != 0 && op.Setup != mode.Setup)
                {
                    errors.Add($"{job.Id}/{spec.Id} has setup {op.Setup}; on {op.Machine} it is {mode.Setup} or, after the same key, 0");
                }

                if (op.End - op.Start != op.Setup + mode.Duration)
                {
                    errors.Add($"{job.Id}/{spec.Id} lasts {op.End - op.Start}; setup {op.Setup} + run {mode.Duration} = {op.Setup + mode.Duration}");
                }

                if (before is { } end && op.Start < end)
                {
                    errors.Add($"{job.Id}/{spec.Id} starts at {op.Start}, before the operation before it ends ({end})");
                }

                before = op.End;

                // Kept from the previous plan (frozen) it may lie before now; anything else may not.
                var kept = previous.TryGetValue((job.Id, spec.Id), out var was) && was.Machine == op.Machine && was.Start == op.Start;
                if (!kept && op.Start < Math.Max(problem.Now, job.Operations[0] == spec ? job.Release : problem.Now))
                {
                    errors.Add($"{job.Id}/{spec.Id} starts at {op.Start}, before now ({problem.Now}) or its release ({job.Release})");
                }

                // The freeze: an operation the previous plan started before now + freeze, still runnable where it was, stays there.
                if (!freezeDropped && frozenSoFar && was is not null && was.Start < problem.Now + problem.Freeze)
                {
                    var keptSetup = was.Setup == 0 ? 0 : mode.Setup;
                    var keptEnd = was.Start + keptSetup + mode.Duration;
                    var runnable = spec.Modes.Any(m => m.Machine == was.Machine)
                        && !machines[was.Machine].Unavailable.Any(u => u.Start < keptEnd && u.End > was.Start);
                    if (runnable && !kept)
                    {
                        errors.Add($"{job.Id}/{spec.Id} is frozen (previous start {was.Start} before {problem.Now + problem.Freeze}) but moved to {op.Machine} at {op.Start}");
                    }

                    frozenSoFar = runnable;
                }
                else
                {
                    frozenSoFar = false;
                }
            }
        }

        foreach (var key in placed.Keys.Where(k => !known.Contains(k)))
        {
            errors.Add($"{key.Item1}/{key.Item2} is not an operation of the problem");
        }

        // One at a time per machine, never in an unavailable span, and saved setups only after the same key.
        var keys = problem.Jobs.SelectMany(j => j.Operations.Select(o => (Key: (j.Id, o.Id), o.SetupKey, Modes: o.Modes)))
            .ToDictionary(x => x.Key, x => (x.SetupKey, x.Modes));
        foreach (var group in schedule.Operations.GroupBy(o => o.Machine, StringComparer.Ordinal))
        {
            var sequence = group.OrderBy(o => o.Start).ThenBy(o => o.End).ToList();
            for (var i = 1; i < sequence.Count; i++)
            {
                if (sequence[i].Start < sequence[i - 1].End && sequence[i].End > sequence[i].Start && sequence[i - 1].End > sequence[i - 1].Start)
                {
                    errors.Add($"{sequence[i - 1].Job}/{sequence[i - 1].Operation} and {sequence[i].Job}/{sequence[i].Operation} overlap on {group.Key}");
                }
            }

            if (machines.TryGetValue(group.Key, out var machine))
            {
                foreach (var op in sequence.Where(o => o.End > o.Start))
                {
                    foreach (var span in machine.Unavailable.Where(u => u.Start < op.End && u.End > op.Start))
                    {
                        errors.Add($"{op.Job}/{op.Operation} runs on {group.Key} from {op.Start} to {op.End}, into its unavailable span {span.Start}–{span.End} ({span.Reason})");
                    }
                }
            }

            for (var i = 0; i < sequence.Count; i++)
            {
                var op = sequence[i];
                if (op.Setup != 0 || !keys.TryGetValue((op.Job, op.Operation), out var spec))
                {
                    continue;
                }

                var full = spec.Modes.FirstOrDefault(m => m.Machine == op.Machine)?.Setup ?? 0;
                if (full > 0 && (i == 0 || spec.SetupKey is null || !keys.TryGetValue((sequence[i - 1].Job, sequence[i - 1].Operation), out var before) || before.SetupKey != spec.SetupKey))
                {
                    errors.Add($"{op.Job}/{op.Operation} skips its setup on {op.Machine}, but the operation before it there has another setup key");
                }
            }
        }

        // The promises.
        var dues = problem.Jobs.ToDictionary(j => j.Id, StringComparer.Ordinal);
        long weighted = 0;
        foreach (var outcome in schedule.Jobs)
        {
            var ends = schedule.Operations.Where(o => o.Job == outcome.Job).Select(o => o.End).DefaultIfEmpty(long.MinValue).Max();
            if (outcome.Completion != ends)
            {
                errors.Add($"{outcome.Job} is promised for {outcome.Completion}, but its last operation ends at {ends}");
            }

            var job = dues[outcome.Job];
            var lateness = job.Due is { } due ? ends - due : 0;
            if (outcome.Lateness != lateness || outcome.Tardiness != Math.Max(0, lateness))
            {
                errors.Add($"{outcome.Job} has lateness {outcome.Lateness} and tardiness {outcome.Tardiness}; it should be {lateness} and {Math.Max(0, lateness)}");
            }

            weighted += Math.Max(0, lateness) * job.Weight;
        }

        if (schedule.WeightedTardiness != weighted)
        {
            errors.Add($"weighted tardiness is reported as {schedule.WeightedTardiness}, it is {weighted}");
        }

        var makespan = schedule.Operations.Count == 0 ? 0 : schedule.Operations.Max(o => o.End);
        if (schedule.Makespan != makespan)
        {
            errors.Add($"makespan is reported as {schedule.Makespan}, it is {makespan}");
        }

        foreach (var (machine, list) in schedule.Dispatch)
        {
            if (list.Any(o => o.Machine != machine) || list.Zip(list.Skip(1)).Any(p => p.First.Start > p.Second.Start))
            {
                errors.Add($"the dispatch list of {machine} is not its operations in start order");
            }
        }

        return errors;
    }
}
