namespace Twin.Planning;

/// <summary>
/// What the solver and the dispatch rules share: which jobs can be scheduled at all, which
/// operations the freeze keeps, where an operation fits on a machine, and how a list of placed
/// operations becomes a <see cref="Schedule"/> with its promises and its changes.
/// </summary>
public static class ProblemRules
{
    /// <summary>Unavailability ending later than this is refused: every span must end for a schedule to exist.</summary>
    public const long MaxTime = long.MaxValue / 16;

    /// <summary>The jobs whose every operation has a mode on a known machine; the others with why not.</summary>
    public static (List<JobSpec> Schedulable, Dictionary<string, string> Unscheduled) Split(SchedulingProblem problem)
    {
        var machines = problem.Machines.Select(m => m.Id).ToHashSet(StringComparer.Ordinal);
        var schedulable = new List<JobSpec>();
        var unscheduled = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var job in problem.Jobs)
        {
            var reason = job.Operations.Count == 0
                ? "it has no operations"
                : job.Operations.Where(o => !o.Modes.Any(m => machines.Contains(m.Machine) && m.Duration >= 0 && m.Setup >= 0))
                    .Select(o => $"operation {o.Id} has no machine that can run it")
                    .FirstOrDefault();
            if (reason is null)
            {
                schedulable.Add(job with { Operations = [.. job.Operations.Select(o => o with { Modes = [.. o.Modes.Where(m => machines.Contains(m.Machine))] })] });
            }
            else
            {
                unscheduled[job.Id] = reason;
            }
        }

        return (schedulable, unscheduled);
    }

    /// <summary>
    /// The operations the freeze keeps: per job, the operations of the previous plan in precedence
    /// order that started before <c>Now + Freeze</c>, whose machine is still one of their modes and
    /// can still run them where they were (no new unavailability), each after the one before it.
    /// The first operation that cannot be kept ends the job's frozen prefix.
    /// </summary>
    public static Dictionary<(string Job, string Operation), PlannedOperation> Frozen(SchedulingProblem problem, IEnumerable<JobSpec> jobs)
    {
        var frozen = new Dictionary<(string, string), PlannedOperation>();
        if (problem.Previous is not { Count: > 0 } previous)
        {
            return frozen;
        }

        var before = previous.GroupBy(p => (p.Job, p.Operation)).ToDictionary(g => g.Key, g => g.First());
        var machines = problem.Machines.ToDictionary(m => m.Id, StringComparer.Ordinal);
        var cutoff = problem.Now + problem.Freeze;
        foreach (var job in jobs)
        {
            long ready = long.MinValue;
            foreach (var operation in job.Operations)
            {
                if (!before.TryGetValue((job.Id, operation.Id), out var kept) || kept.Start >= cutoff || kept.Start < ready)
                {
                    break;
                }

                var mode = operation.Modes.FirstOrDefault(m => m.Machine == kept.Machine);
                if (mode is null)
                {
                    break;
                }

                var setup = kept.Setup == 0 ? 0 : mode.Setup;
                var end = kept.Start + setup + mode.Duration;
                if (machines[mode.Machine].Unavailable.Any(u => u.Start < end && u.End > kept.Start))
                {
                    break;
                }

                frozen[(job.Id, operation.Id)] = kept with { End = end, Setup = setup };
                ready = end;
            }
        }

        return frozen;
    }

    /// <summary>The earliest start at or after <paramref name="from"/> where <paramref name="length"/> fits between the machine's unavailable spans.</summary>
    public static long EarliestFit(IReadOnlyList<Unavailability> sortedUnavailable, long from, long length)
    {
        // An empty operation (no time) may sit anywhere, as CP-SAT's no-overlap lets it.
        var start = from;
        if (length <= 0)
        {
            return start;
        }

        foreach (var span in sortedUnavailable)
        {
            if (span.End <= start)
            {
                continue;
            }

            if (span.Start >= start + length)
            {
                break;
            }

            start = span.End;
        }

        return start;
    }

    /// <summary>The union of unavailable spans as disjoint <c>[Start, End)</c> ranges in time order.</summary>
    public static List<(long Start, long End)> Merge(IEnumerable<Unavailability> spans)
    {
        var merged = new List<(long Start, long End)>();
        foreach (var span in spans.Where(s => s.End > s.Start).OrderBy(s => s.Start))
        {
            if (merged.Count > 0 && span.Start <= merged[^1].End)
            {
                merged[^1] = (merged[^1].Start, Math.Max(merged[^1].End, span.End));
            }
            else
            {
                merged.Add((span.Start, span.End));
            }
        }

        return merged;
    }

    /// <summary>
    /// Drops the setup of every operation that follows one of the same setup key on its machine,
    /// keeping its end (it starts later by the setup): nothing it touches moves.
    /// </summary>
    public static List<PlannedOperation> SaveSetups(IReadOnlyList<JobSpec> jobs, IReadOnlyList<PlannedOperation> operations)
    {
        var keys = jobs.SelectMany(j => j.Operations.Select(o => (j.Id, o.Id, o.SetupKey))).ToDictionary(x => (x.Item1, x.Item2), x => x.SetupKey);
        var result = new List<PlannedOperation>(operations.Count);
        foreach (var machine in operations.GroupBy(o => o.Machine, StringComparer.Ordinal))
        {
            string? previous = null;
            foreach (var op in machine.OrderBy(o => o.Start).ThenBy(o => o.End))
            {
                var key = keys.GetValueOrDefault((op.Job, op.Operation));
                result.Add(op.Setup > 0 && key is not null && key == previous ? op with { Start = op.Start + op.Setup, Setup = 0 } : op);
                previous = key;
            }
        }

        return result;
    }

    /// <summary>The earliest time work may start: the problem's now (never before the job's release).</summary>
    public static long ReadyAt(SchedulingProblem problem, JobSpec job) => Math.Max(problem.Now, job.Release);

    /// <summary>Turns placed operations into a schedule: promises per job, dispatch lists per machine, objective levels, and the changes against the previous plan.</summary>
    public static Schedule Build(
        SchedulingProblem problem,
        IReadOnlyList<JobSpec> jobs,
        IReadOnlyList<PlannedOperation> operations,
        ScheduleStatus status,
        string method,
        TimeSpan elapsed,
        IReadOnlyDictionary<string, string> unscheduled,
        IReadOnlyList<string> notes)
    {
        var byJob = operations.GroupBy(o => o.Job, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Max(o => o.End), StringComparer.Ordinal);
        var outcomes = new List<JobOutcome>();
        long weighted = 0;
        foreach (var job in jobs)
        {
            if (!byJob.TryGetValue(job.Id, out var completion))
            {
                continue;
            }

            var lateness = job.Due is { } due ? completion - due : 0;
            var tardiness = Math.Max(0, lateness);
            weighted += tardiness * job.Weight;
            outcomes.Add(new JobOutcome(job.Id, completion, job.Due, lateness, tardiness));
        }

        var dispatch = operations
            .GroupBy(o => o.Machine, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<PlannedOperation>)[.. g.OrderBy(o => o.Start).ThenBy(o => o.Job, StringComparer.Ordinal)], StringComparer.Ordinal);
        var ordered = operations.OrderBy(o => o.Start).ThenBy(o => o.Machine, StringComparer.Ordinal).ThenBy(o => o.Job, StringComparer.Ordinal).ToList();
        return new Schedule(
            status,
            method,
            ordered,
            outcomes,
            dispatch,
            operations.Count == 0 ? 0 : operations.Max(o => o.End),
            weighted,
            operations.Count(o => o.Setup > 0),
            elapsed,
            Compare(problem.Previous, ordered),
            unscheduled,
            notes);
    }

    /// <summary>What <paramref name="now"/> changes against <paramref name="previous"/>.</summary>
    public static ScheduleChanges Compare(IReadOnlyList<PlannedOperation>? previous, IReadOnlyList<PlannedOperation> now)
    {
        var before = (previous ?? []).GroupBy(p => (p.Job, p.Operation)).ToDictionary(g => g.Key, g => g.First());
        var moved = new List<OperationMove>();
        var kept = 0;
        foreach (var operation in now)
        {
            if (before.TryGetValue((operation.Job, operation.Operation), out var was) && was.Machine == operation.Machine && was.Start == operation.Start)
            {
                kept++;
                continue;
            }

            moved.Add(new OperationMove(operation.Job, operation.Operation, was?.Machine, was?.Start, operation.Machine, operation.Start));
        }

        var gone = before.Keys.Count(k => !now.Any(o => o.Job == k.Job && o.Operation == k.Operation));
        var union = now.Count + gone;
        var completionsBefore = (previous ?? []).GroupBy(p => p.Job, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Max(o => o.End), StringComparer.Ordinal);
        var completions = now.GroupBy(o => o.Job, StringComparer.Ordinal)
            .Select(g => (Job: g.Key, To: g.Max(o => o.End), From: completionsBefore.TryGetValue(g.Key, out var from) ? from : (long?)null))
            .Where(c => c.From != c.To)
            .OrderBy(c => c.Job, StringComparer.Ordinal)
            .Select(c => new CompletionChange(c.Job, c.From, c.To))
            .ToList();
        return new ScheduleChanges(moved, completions, union == 0 ? 1 : (double)kept / union);
    }
}
