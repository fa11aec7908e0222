using System.Diagnostics;

namespace Twin.Planning;

/// <summary>The priority a dispatch rule gives the operations competing for a machine.</summary>
public enum DispatchRule
{
    /// <summary>Earliest due date of the job first (no due date last), then the shortest operation.</summary>
    Edd,

    /// <summary>Shortest processing time first.</summary>
    Spt,

    /// <summary>In the order of the previous plan (its start), preferring its machine: a repair that moves as little as it can.</summary>
    Previous,
}

/// <summary>
/// List scheduling by a dispatch rule (Giffler–Thompson active schedules): repeatedly, the
/// operation that can complete first fixes a machine and a time, and among the operations that
/// could start on that machine before then the rule picks the one to run. No search; the
/// baseline CP-SAT is measured against, and the first solution it is given.
/// </summary>
/// <remarks>
/// Operations are appended to a machine's timeline (never slotted into an earlier gap), skipping
/// its unavailable spans; frozen operations are placed first, where the previous plan had them.
/// </remarks>
public static class DispatchRules
{
    public static Schedule Build(SchedulingProblem problem, DispatchRule rule)
    {
        var clock = Stopwatch.StartNew();
        var (jobs, unscheduled) = ProblemRules.Split(problem);
        var operations = Place(problem, jobs, rule);
        return ProblemRules.Build(problem, jobs, operations, ScheduleStatus.Heuristic, rule.ToString().ToUpperInvariant(), clock.Elapsed, unscheduled, []);
    }

    /// <param name="frozen">The operations kept where they are; by default those <see cref="ProblemRules.Frozen"/> names.</param>
    /// <param name="saveSetups">False: every operation pays its setup (as the solver plans it when it does not sequence setups).</param>
    internal static List<PlannedOperation> Place(SchedulingProblem problem, IReadOnlyList<JobSpec> jobs, DispatchRule rule, Dictionary<(string Job, string Operation), PlannedOperation>? frozen = null, bool saveSetups = true)
    {
        var unavailable = problem.Machines.ToDictionary(
            m => m.Id,
            m => (IReadOnlyList<Unavailability>)[.. m.Unavailable.OrderBy(u => u.Start)],
            StringComparer.Ordinal);
        var free = problem.Machines.ToDictionary(m => m.Id, _ => long.MinValue, StringComparer.Ordinal);
        var lastKey = problem.Machines.ToDictionary(m => m.Id, _ => (string?)null, StringComparer.Ordinal);
        var previous = (problem.Previous ?? []).GroupBy(p => (p.Job, p.Operation)).ToDictionary(g => g.Key, g => g.First());
        var placed = new List<PlannedOperation>();
        var next = new int[jobs.Count];
        var ready = new long[jobs.Count];

        // Frozen prefixes first, in start order, as the previous plan had them.
        frozen ??= ProblemRules.Frozen(problem, jobs);
        for (var j = 0; j < jobs.Count; j++)
        {
            ready[j] = ProblemRules.ReadyAt(problem, jobs[j]);
        }

        foreach (var kept in frozen.Values.OrderBy(f => f.Start))
        {
            var j = IndexOf(jobs, kept.Job);
            placed.Add(kept);
            next[j]++;
            ready[j] = Math.Max(ready[j], kept.End);
            free[kept.Machine] = Math.Max(free[kept.Machine], kept.End);
            lastKey[kept.Machine] = saveSetups ? jobs[j].Operations.First(o => o.Id == kept.Operation).SetupKey : null;
        }

        while (true)
        {
            // The earliest completion over every ready operation and machine.
            (int Job, ModeSpec Mode, long Start, long End, long Setup)? best = null;
            for (var j = 0; j < jobs.Count; j++)
            {
                if (next[j] >= jobs[j].Operations.Count)
                {
                    continue;
                }

                foreach (var option in Options(jobs[j], next[j], ready[j], free, lastKey, unavailable))
                {
                    if (best is null || option.End < best.Value.End)
                    {
                        best = (j, option.Mode, option.Start, option.End, option.Setup);
                    }
                }
            }

            if (best is not { } fixing)
            {
                break;
            }

            // The conflict set: operations that could start on that machine before that completion.
            var machine = fixing.Mode.Machine;
            var candidates = new List<(int Job, ModeSpec Mode, long Start, long End, long Setup)>();
            for (var j = 0; j < jobs.Count; j++)
            {
                if (next[j] >= jobs[j].Operations.Count)
                {
                    continue;
                }

                foreach (var option in Options(jobs[j], next[j], ready[j], free, lastKey, unavailable))
                {
                    if (option.Mode.Machine == machine && option.Start < fixing.End)
                    {
                        candidates.Add((j, option.Mode, option.Start, option.End, option.Setup));
                    }
                }
            }

            var chosen = candidates
                .OrderBy(c => Priority(rule, jobs[c.Job], next[c.Job], c.Mode, previous))
                .ThenBy(c => c.Start)
                .ThenBy(c => c.Job)
                .First();
            var job = jobs[chosen.Job];
            var operation = job.Operations[next[chosen.Job]];

            // The rule picked the operation; it runs on whichever of its machines ends it first
            // (for Previous, on its previous machine when it still has it).
            var own = Options(job, next[chosen.Job], ready[chosen.Job], free, lastKey, unavailable).ToList();
            var run = rule == DispatchRule.Previous && previous.TryGetValue((job.Id, operation.Id), out var was) && own.Exists(o => o.Mode.Machine == was.Machine)
                ? own.First(o => o.Mode.Machine == was.Machine)
                : own.MinBy(o => o.End);
            placed.Add(new PlannedOperation(job.Id, operation.Id, run.Mode.Machine, run.Start, run.End, run.Setup));
            next[chosen.Job]++;
            ready[chosen.Job] = run.End;
            free[run.Mode.Machine] = run.End;
            lastKey[run.Mode.Machine] = saveSetups ? operation.SetupKey : null;
        }

        return placed;
    }

    private static int IndexOf(IReadOnlyList<JobSpec> jobs, string id)
    {
        for (var j = 0; j < jobs.Count; j++)
        {
            if (jobs[j].Id == id)
            {
                return j;
            }
        }

        throw new InvalidOperationException($"no job {id}");
    }

    private static IEnumerable<(ModeSpec Mode, long Start, long End, long Setup)> Options(
        JobSpec job,
        int index,
        long ready,
        Dictionary<string, long> free,
        Dictionary<string, string?> lastKey,
        Dictionary<string, IReadOnlyList<Unavailability>> unavailable)
    {
        var operation = job.Operations[index];
        foreach (var mode in operation.Modes)
        {
            var saved = operation.SetupKey is not null && lastKey[mode.Machine] == operation.SetupKey;
            var setup = saved ? 0 : mode.Setup;
            var start = ProblemRules.EarliestFit(unavailable[mode.Machine], Math.Max(ready, free[mode.Machine]), setup + mode.Duration);
            yield return (mode, start, start + setup + mode.Duration, setup);
        }
    }

    private static (long Primary, long Secondary) Priority(DispatchRule rule, JobSpec job, int index, ModeSpec mode, Dictionary<(string, string), PlannedOperation> previous) => rule switch
    {
        DispatchRule.Edd => (job.Due ?? ProblemRules.MaxTime, mode.Setup + mode.Duration),
        DispatchRule.Spt => (mode.Setup + mode.Duration, job.Due ?? ProblemRules.MaxTime),
        _ => (previous.TryGetValue((job.Id, job.Operations[index].Id), out var was) ? was.Start : ProblemRules.MaxTime, job.Due ?? ProblemRules.MaxTime),
    };
}
