using System.Diagnostics;
using System.Globalization;
using Google.OrTools.Sat;

namespace Twin.Planning;

/// <summary>
/// The finite-capacity scheduler: the model as a CP-SAT problem (an optional interval per
/// operation and eligible machine, no overlap per machine with its unavailable spans, precedence
/// within each job, a circuit per machine where a run of one setup key saves setups), solved
/// lexicographically in stages within one time limit: weighted tardiness first, then with it held
/// the makespan, then with both held the number of setups. Each stage starts from the one before;
/// the first from a dispatch rule's schedule (the previous plan's order when there is one, for
/// stability), so there is always an answer.
/// </summary>
public static class CpSatScheduler
{
    public const string Method = "CP-SAT";

    /// <summary>
    /// <see cref="Solve"/>, and should the solver itself fail (a native fault, a model it refuses),
    /// the dispatch rule's schedule with a note that says why: a plan is always answered.
    /// </summary>
    public static Schedule SolveOrFallBack(SchedulingProblem problem, SolverSettings settings, CancellationToken cancellationToken = default)
    {
        try
        {
            return Solve(problem, settings, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            var schedule = DispatchRules.Build(problem, problem.Previous is { Count: > 0 } ? DispatchRule.Previous : DispatchRule.Edd);
            return schedule with { Notes = [$"CP-SAT failed ({ex.GetType().Name}: {ex.Message}); the {schedule.Method} rule's schedule is used"] };
        }
    }

    public static Schedule Solve(SchedulingProblem problem, SolverSettings settings, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        var (jobs, unscheduled) = ProblemRules.Split(problem);
        var notes = new List<string>();
        if (jobs.Count == 0)
        {
            return ProblemRules.Build(problem, jobs, [], unscheduled.Count == 0 ? ScheduleStatus.Optimal : ScheduleStatus.Infeasible, Method, clock.Elapsed, unscheduled, notes);
        }

        var frozen = ProblemRules.Frozen(problem, jobs);
        var solved = TrySolve(problem, jobs, frozen, settings, clock, notes, cancellationToken);
        if (solved is null && frozen.Count > 0)
        {
            notes.Add($"the {frozen.Count} frozen operations could not all be kept; solved without the freeze");
            frozen = [];
            solved = TrySolve(problem, jobs, frozen, settings, clock, notes, cancellationToken);
        }

        var rule = problem.Previous is { Count: > 0 } ? DispatchRule.Previous : DispatchRule.Edd;
        var ruleName = rule.ToString().ToUpperInvariant();
        if (solved is not { } result)
        {
            // No search result in time: the dispatch rule's schedule is still a valid one.
            notes.Add($"CP-SAT found no schedule within the time limit; the {ruleName} rule's schedule is used");
            return ProblemRules.Build(problem, jobs, DispatchRules.Place(problem, jobs, rule), ScheduleStatus.Heuristic, ruleName, clock.Elapsed, unscheduled, notes);
        }

        // Where setups were planned as always paid, close the gaps the saved ones leave (the
        // solver's order and machines, shifted left). And never answer worse than the rule.
        var candidates = new List<(string Name, List<PlannedOperation> Operations)> { ("", result.Operations) };
        if (!result.Sequenced)
        {
            candidates.Add(("", DispatchRules.Place(problem with { Previous = result.Operations }, jobs, DispatchRule.Previous, frozen)));
        }

        candidates.Add((ruleName, DispatchRules.Place(problem, jobs, rule, frozen)));
        var chosen = candidates.MinBy(c => Score(jobs, c.Operations));
        var operations = chosen.Operations;
        if (!result.Searched)
        {
            // Every stage ran out of time before CP-SAT found a solution: what is answered is the
            // rule's schedule the search started from, and the record says so.
            notes.Add($"CP-SAT found no schedule within the time limit; the {ruleName} rule's schedule is used");
            return ProblemRules.Build(problem, jobs, operations, ScheduleStatus.Heuristic, ruleName, clock.Elapsed, unscheduled, notes);
        }

        if (chosen.Name.Length > 0 && Score(jobs, chosen.Operations) != Score(jobs, result.Operations))
        {
            notes.Add($"the {chosen.Name} rule's schedule was better than what the search found in time; it is used");
            return ProblemRules.Build(problem, jobs, operations, ScheduleStatus.Heuristic, chosen.Name, clock.Elapsed, unscheduled, notes);
        }

        return ProblemRules.Build(problem, jobs, operations, result.Optimal ? ScheduleStatus.Optimal : ScheduleStatus.Feasible, Method, clock.Elapsed, unscheduled, notes);
    }

    /// <summary>The objective levels of a schedule, compared in order.</summary>
    private static (long Tardiness, long Makespan, int Setups) Score(List<JobSpec> jobs, List<PlannedOperation> operations)
    {
        var ends = operations.GroupBy(o => o.Job, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Max(o => o.End), StringComparer.Ordinal);
        var tardiness = jobs.Sum(j => j.Due is { } due && ends.TryGetValue(j.Id, out var end) ? Math.Max(0, end - due) * j.Weight : 0);
        return (tardiness, operations.Count == 0 ? 0 : operations.Max(o => o.End), operations.Count(o => o.Setup > 0));
    }

    private sealed class Choice(ModeSpec mode, ILiteral present, ILiteral? saved)
    {
        public ModeSpec Mode { get; } = mode;

        public ILiteral Present { get; } = present;

        /// <summary>Set when this machine may skip the setup (a run of the same key); null when it never can.</summary>
        public ILiteral? Saved { get; } = saved;
    }

    private sealed class Op(int job, int index, OperationSpec spec, LinearExpr start, LinearExpr end)
    {
        public int Job { get; } = job;

        public int Index { get; } = index;

        public OperationSpec Spec { get; } = spec;

        public LinearExpr Start { get; } = start;

        public LinearExpr End { get; } = end;

        public IntVar? StartVar { get; init; }

        /// <summary>Where the freeze keeps it (no variables then).</summary>
        public PlannedOperation? Frozen { get; init; }

        public List<Choice> Choices { get; } = [];
    }

    /// <returns>Null when nothing holds; else the operations, whether every level was proved optimal, whether setups were sequenced, and whether any of it came from the search (false: the dispatch rule's starting point held every level).</returns>
    private static (List<PlannedOperation> Operations, bool Optimal, bool Sequenced, bool Searched)? TrySolve(
        SchedulingProblem problem,
        List<JobSpec> jobs,
        Dictionary<(string Job, string Operation), PlannedOperation> frozen,
        SolverSettings settings,
        Stopwatch clock,
        List<string> notes,
        CancellationToken cancellationToken)
    {
        // Which machines can save a setup: two operations with one key and a setup there. The
        // solver sequences them (a circuit per machine) while that stays small enough.
        var savable = new HashSet<(string Machine, string Key)>();
        foreach (var group in jobs.SelectMany(j => j.Operations).Where(o => o.SetupKey is not null)
            .SelectMany(o => o.Modes.Select(m => (m.Machine, Key: o.SetupKey!, m.Setup)))
            .GroupBy(x => (x.Machine, x.Key)))
        {
            if (group.Count() > 1 && group.Any(x => x.Setup > 0))
            {
                savable.Add(group.Key);
            }
        }

        var sequencedMachines = savable.Select(s => s.Machine).ToHashSet(StringComparer.Ordinal);
        var arcCount = jobs.SelectMany(j => j.Operations).SelectMany(o => o.Modes).Where(m => sequencedMachines.Contains(m.Machine))
            .GroupBy(m => m.Machine).Sum(g => (long)g.Count() * g.Count());
        var sequenced = arcCount <= settings.MaxSequencingArcs;
        if (!sequenced)
        {
            savable.Clear();
            settings.Trace?.Invoke($"setups not sequenced by the solver: {arcCount} arcs > {settings.MaxSequencingArcs}; saved afterwards where runs come together");
        }

        var hintRule = problem.Previous is { Count: > 0 } ? DispatchRule.Previous : DispatchRule.Edd;
        var hint = DispatchRules.Place(problem, jobs, hintRule, frozen, saveSetups: sequenced);

        // A model too large to search in the time (one routing of 100 steps on 100 machines each)
        // would leave the whole factory to the rule: the widest operations keep only some machines.
        var (modelJobs, limited, machinesEach) = ModeBudget.Limit(jobs, hint, frozen, settings.MaxModes);
        if (limited > 0)
        {
            var note = $"{limited} operations with many eligible machines were searched on {machinesEach} of them each (the rule's choice and the least loaded), to keep the model within {settings.MaxModes} machine choices";
            if (!notes.Contains(note))
            {
                notes.Add(note);
            }

            settings.Trace?.Invoke(note);
        }

        var machines = problem.Machines.ToDictionary(m => m.Id, StringComparer.Ordinal);
        var low = Math.Min(problem.Now, frozen.Count == 0 ? problem.Now : frozen.Values.Min(f => f.Start));
        var work = jobs.Sum(j => j.Operations.Sum(o => o.Modes.Max(m => m.Setup + m.Duration)));
        var down = problem.Machines.Sum(m => m.Unavailable.Where(u => u.End > low).Sum(u => u.End - Math.Max(u.Start, low)));
        var latest = Math.Max(jobs.Max(j => ProblemRules.ReadyAt(problem, j)), frozen.Count == 0 ? low : frozen.Values.Max(f => f.End));
        var high = Math.Max(latest + work + down, hint.Count == 0 ? 0 : hint.Max(h => h.End));

        var model = new CpModel();
        var ops = new List<Op>();
        var byMachine = problem.Machines.ToDictionary(m => m.Id, _ => new List<(Op Op, Choice Choice)>(), StringComparer.Ordinal);

        for (var j = 0; j < modelJobs.Count; j++)
        {
            var job = modelJobs[j];
            for (var i = 0; i < job.Operations.Count; i++)
            {
                var spec = job.Operations[i];
                Op op;
                if (frozen.TryGetValue((job.Id, spec.Id), out var kept))
                {
                    op = new Op(j, i, spec, LinearExpr.Constant(kept.Start), LinearExpr.Constant(kept.End)) { Frozen = kept };
                    var mode = spec.Modes.First(m => m.Machine == kept.Machine);

                    var saved = mode.Setup > 0 && kept.Setup == 0 && spec.SetupKey is not null && savable.Contains((mode.Machine, spec.SetupKey)) ? model.TrueLiteral() : null;
                    op.Choices.Add(new Choice(mode, model.TrueLiteral(), saved));
                }
                else
                {
                    var ready = i == 0 ? ProblemRules.ReadyAt(problem, job) : problem.Now;
                    var start = model.NewIntVar(ready, high, $"s {job.Id}/{spec.Id}");
                    var end = model.NewIntVar(ready, high, $"e {job.Id}/{spec.Id}");
                    op = new Op(j, i, spec, start, end) { StartVar = start };
                    var single = spec.Modes.Count == 1;
                    foreach (var mode in spec.Modes)
                    {
                        ILiteral present = single ? model.TrueLiteral() : model.NewBoolVar($"p {job.Id}/{spec.Id}@{mode.Machine}");
                        ILiteral? saved = null;
                        if (mode.Setup > 0 && spec.SetupKey is not null && savable.Contains((mode.Machine, spec.SetupKey)))
                        {
                            saved = model.NewBoolVar($"saved {job.Id}/{spec.Id}@{mode.Machine}");
                            model.AddImplication(saved, present);
                        }

                        op.Choices.Add(new Choice(mode, present, saved));
                    }

                    if (!single)
                    {
                        model.AddExactlyOne(op.Choices.Select(c => c.Present));
                    }
                }

                ops.Add(op);
            }
        }

        // Intervals, per machine with its unavailable spans.
        var intervals = problem.Machines.ToDictionary(m => m.Id, _ => new List<IntervalVar>(), StringComparer.Ordinal);
        foreach (var op in ops)
        {
            foreach (var choice in op.Choices)
            {
                var mode = choice.Mode;
                var name = $"{jobs[op.Job].Id}/{op.Spec.Id}@{mode.Machine}";
                IntervalVar interval;
                if (op.StartVar is null)
                {
                    interval = model.NewIntervalVar(op.Start, op.End - op.Start, op.End, name);
                }
                else if (choice.Saved is { } saved)
                {
                    var size = model.NewIntVar(mode.Duration, mode.Duration + mode.Setup, "size " + name);
                    model.Add(size == mode.Duration + mode.Setup - (mode.Setup * (IntVar)saved));
                    interval = model.NewOptionalIntervalVar(op.Start, size, op.End, choice.Present, name);
                }
                else
                {
                    interval = model.NewOptionalIntervalVar(op.Start, LinearExpr.Constant(mode.Duration + mode.Setup), op.End, choice.Present, name);
                }

                intervals[mode.Machine].Add(interval);
                byMachine[mode.Machine].Add((op, choice));
            }
        }

        foreach (var machine in problem.Machines)
        {
            // Spans may overlap (a breakdown during a stop); fixed intervals in one no-overlap may not.
            foreach (var (spanStart, spanEnd) in ProblemRules.Merge(machine.Unavailable))
            {
                var from = Math.Max(spanStart, low);
                var to = Math.Min(spanEnd, high + 1);
                if (to > from)
                {
                    intervals[machine.Id].Add(model.NewFixedSizeIntervalVar(from, to - from, $"unavailable {machine.Id}"));
                }
            }

            if (intervals[machine.Id].Count > 1)
            {
                model.AddNoOverlap(intervals[machine.Id]);
            }
        }

        // Precedence within each job.
        for (var k = 1; k < ops.Count; k++)
        {
            if (ops[k].Job == ops[k - 1].Job)
            {
                model.Add(ops[k].Start >= ops[k - 1].End);
            }
        }

        // Setups: where a machine can save one, a circuit orders its operations and a saved setup
        // needs the operation right before it on the machine to have the same key.
        var circuits = new List<(List<(Op Op, Choice Choice)> Members, Dictionary<(int From, int To), BoolVar> Arcs)>();
        foreach (var machine in problem.Machines)
        {
            var members = byMachine[machine.Id];
            if (!members.Any(m => m.Choice.Saved is not null))
            {
                continue;
            }

            var circuit = model.AddCircuit();
            var arcs = new Dictionary<(int From, int To), BoolVar>();
            circuits.Add((members, arcs));
            BoolVar Arc(int from, int to, string name)
            {
                var arc = model.NewBoolVar(name);
                arcs[(from, to)] = arc;
                circuit.AddArc(from, to, arc);
                return arc;
            }

            Arc(0, 0, $"empty {machine.Id}");
            var into = members.Select(_ => new List<(int From, ILiteral Arc)>()).ToList();
            for (var a = 0; a < members.Count; a++)
            {
                var present = members[a].Choice.Present;
                circuit.AddArc(a + 1, a + 1, present.Not());
                Arc(0, a + 1, $"first {a}@{machine.Id}");
                Arc(a + 1, 0, $"last {a}@{machine.Id}");
                for (var b = 0; b < members.Count; b++)
                {
                    if (a == b || (members[a].Op.Job == members[b].Op.Job && members[a].Op.Index > members[b].Op.Index))
                    {
                        continue;
                    }

                    var arc = Arc(a + 1, b + 1, $"{a}->{b}@{machine.Id}");
                    model.Add(members[b].Op.Start >= members[a].Op.End).OnlyEnforceIf(arc);
                    into[b].Add((a, arc));
                }
            }

            for (var b = 0; b < members.Count; b++)
            {
                if (members[b].Choice.Saved is not { } saved)
                {
                    continue;
                }

                var key = members[b].Op.Spec.SetupKey;
                var same = into[b].Where(x => members[x.From].Op.Spec.SetupKey == key).Select(x => x.Arc).ToList();
                model.AddBoolOr([.. same, saved.Not()]);
            }
        }

        // The objective levels.
        var lasts = ops.GroupBy(o => o.Job).Select(g => g.Last()).ToList();
        var stages = new List<(string Name, LinearExpr Objective)>();
        var dueJobs = lasts.Where(o => jobs[o.Job].Due is not null).ToList();
        var tardinessVars = new List<(IntVar Var, string Job, long Due)>();
        if (dueJobs.Count > 0)
        {
            var terms = new List<LinearExpr>();
            foreach (var last in dueJobs)
            {
                var job = jobs[last.Job];
                var tardiness = model.NewIntVar(0, Math.Max(0, high - job.Due!.Value), $"t {job.Id}");
                model.Add(tardiness >= last.End - job.Due.Value);
                terms.Add(job.Weight * tardiness);
                tardinessVars.Add((tardiness, job.Id, job.Due.Value));
            }

            stages.Add(("weighted tardiness", LinearExpr.Sum(terms)));
        }

        var makespan = model.NewIntVar(low, high, "makespan");
        model.AddMaxEquality(makespan, lasts.Select(l => l.End));
        stages.Add(("makespan", makespan));
        var setupTerms = ops.Where(o => o.StartVar is not null).SelectMany(o => o.Choices.Where(c => c.Saved is not null)).Select(c => (LinearExpr)(IntVar)c.Saved!).ToList();
        if (setupTerms.Count > 0)
        {
            // Fewer setups is more saved ones: maximise the saved count.
            stages.Add(("setups", -LinearExpr.Sum(setupTerms)));
        }

        var hints = new Hints(ops, jobs, circuits, tardinessVars, makespan);
        hints.Apply(model, hint);
        (List<PlannedOperation> Operations, bool Optimal)? best = null;
        var allOptimal = true;
        var searched = false;
        for (var s = 0; s < stages.Count; s++)
        {
            // CP-SAT stops a little after its own limit, and the answer still has to be built: a margin keeps the whole within the limit.
            var remaining = (settings.TimeLimit * 0.97) - TimeSpan.FromSeconds(0.1) - clock.Elapsed;
            var share = s == stages.Count - 1 ? 1.0 : s == 0 && stages.Count == 3 ? 0.5 : 0.7;
            var budget = remaining.TotalSeconds * share;
            if (budget < 0.05 && best is not null)
            {
                allOptimal = false;
                break;
            }

            model.Minimize(stages[s].Objective);
            using var solver = new CpSolver
            {
                StringParameters = string.Create(CultureInfo.InvariantCulture, $"max_time_in_seconds:{Math.Max(0.05, budget):0.###} num_workers:{settings.Workers} random_seed:{settings.Seed}"),
            };
            using var stop = cancellationToken.Register(solver.StopSearch);
            var stageClock = Stopwatch.StartNew();
            var status = solver.Solve(model);
            settings.Trace?.Invoke(string.Create(CultureInfo.InvariantCulture, $"stage {stages[s].Name}: {status}, objective {solver.ObjectiveValue:0}, bound {solver.BestObjectiveBound:0}, {stageClock.Elapsed.TotalSeconds:0.00} s of {budget:0.00} s (model built at {clock.Elapsed.TotalSeconds - stageClock.Elapsed.TotalSeconds:0.00} s)"));
            if (status is not (CpSolverStatus.Optimal or CpSolverStatus.Feasible))
            {
                allOptimal = false;
                if (best is not null || status == CpSolverStatus.Infeasible || stages[s].Name == "setups")
                {
                    if (best is null)
                    {
                        return null;
                    }

                    break;
                }

                // Nothing found in time (a large problem on few cores): the dispatch rule's
                // schedule, which the hint is, holds this level and the next one starts from it.
                var (tardinessOfHint, makespanOfHint, _) = Score(jobs, hint);
                best = (hint, false);
                model.Add(stages[s].Objective <= (stages[s].Name == "makespan" ? makespanOfHint : tardinessOfHint));
                continue;
            }

            allOptimal &= status == CpSolverStatus.Optimal;
            searched = true;
            var found = Extract(solver, ops, jobs);
            best = (found, false);
            var value = (long)Math.Round(solver.ObjectiveValue);
            model.Add(stages[s].Objective <= value);
            model.ClearHints();
            hints.Apply(model, found);
            if (cancellationToken.IsCancellationRequested)
            {
                allOptimal = false;
                break;
            }
        }

        return best is { } done ? (sequenced ? done.Operations : ProblemRules.SaveSetups(jobs, done.Operations), allOptimal && sequenced, sequenced, searched) : null;
    }

    /// <summary>
    /// A complete solution as the search's starting point: starts and machines, and everything
    /// that follows from them (setups saved, each machine's sequence, tardiness, makespan), so
    /// CP-SAT takes it as a first solution at once instead of having to complete it.
    /// </summary>
    private sealed class Hints(
        List<Op> ops,
        List<JobSpec> jobs,
        List<(List<(Op Op, Choice Choice)> Members, Dictionary<(int From, int To), BoolVar> Arcs)> circuits,
        List<(IntVar Var, string Job, long Due)> tardiness,
        IntVar makespan)
    {
        public void Apply(CpModel model, IReadOnlyList<PlannedOperation> hint)
        {
            var placed = hint.GroupBy(h => (h.Job, h.Operation)).ToDictionary(g => g.Key, g => g.First());
            foreach (var op in ops)
            {
                if (op.StartVar is not { } start || !placed.TryGetValue((jobs[op.Job].Id, op.Spec.Id), out var at))
                {
                    continue;
                }

                model.AddHint(start, at.Start);
                foreach (var choice in op.Choices)
                {
                    var here = choice.Mode.Machine == at.Machine;
                    if (op.Choices.Count > 1 && choice.Present is IntVar present)
                    {
                        model.AddHint(present, here ? 1 : 0);
                    }

                    if (choice.Saved is IntVar saved)
                    {
                        model.AddHint(saved, here && at.Setup == 0 ? 1 : 0);
                    }
                }
            }

            if (placed.Count != ops.Count)
            {
                return;
            }

            foreach (var (members, arcs) in circuits)
            {
                var sequence = Enumerable.Range(0, members.Count)
                    .Where(i => placed[(jobs[members[i].Op.Job].Id, members[i].Op.Spec.Id)].Machine == members[i].Choice.Mode.Machine)
                    .OrderBy(i => placed[(jobs[members[i].Op.Job].Id, members[i].Op.Spec.Id)].Start)
                    .Select(i => i + 1)
                    .ToList();
                var used = new HashSet<(int, int)>();
                if (sequence.Count == 0)
                {
                    used.Add((0, 0));
                }
                else
                {
                    used.Add((0, sequence[0]));
                    used.Add((sequence[^1], 0));
                    for (var k = 1; k < sequence.Count; k++)
                    {
                        used.Add((sequence[k - 1], sequence[k]));
                    }
                }

                foreach (var (key, arc) in arcs)
                {
                    model.AddHint(arc, used.Contains(key) ? 1 : 0);
                }
            }

            var ends = placed.Values.GroupBy(p => p.Job, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Max(p => p.End), StringComparer.Ordinal);
            foreach (var (variable, job, due) in tardiness)
            {
                model.AddHint(variable, Math.Max(0, ends[job] - due));
            }

            model.AddHint(makespan, ends.Values.Max());
        }
    }

    private static List<PlannedOperation> Extract(CpSolver solver, List<Op> ops, List<JobSpec> jobs)
    {
        var result = new List<PlannedOperation>(ops.Count);
        foreach (var op in ops)
        {
            if (op.Frozen is { } kept)
            {
                result.Add(kept);
                continue;
            }

            var choice = op.Choices.First(c => solver.BooleanValue(c.Present));
            var start = solver.Value(op.Start);
            var saved = choice.Saved is { } s && solver.BooleanValue(s);
            var setup = saved ? 0 : choice.Mode.Setup;
            result.Add(new PlannedOperation(jobs[op.Job].Id, op.Spec.Id, choice.Mode.Machine, start, start + setup + choice.Mode.Duration, setup));
        }

        return result;
    }
}
