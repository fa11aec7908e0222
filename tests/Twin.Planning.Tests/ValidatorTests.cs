namespace Twin.Planning.Tests;

/// <summary>Every schedule the solver or a rule makes passes the independent validator; and the validator does catch a broken one.</summary>
public sealed class ValidatorTests
{
    public static TheoryData<int> Seeds() => [.. Enumerable.Range(1, 12)];

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Solver_and_rules_keep_every_constraint_on_random_instances(int seed)
    {
        var problem = RandomInstances.Make(seed);
        var solved = CpSatScheduler.Solve(problem, new SolverSettings(TimeSpan.FromSeconds(1)));
        Assert.Empty(ScheduleValidator.Check(problem, solved));
        // Which method answered depends on the machine's speed within the time limit (a loaded
        // machine may see the search find nothing and the rule's schedule used); MethodTests checks the label.
        Assert.Empty(solved.Unscheduled);
        Assert.Equal(problem.Jobs.Sum(j => j.Operations.Count), solved.Operations.Count);
        foreach (var rule in Enum.GetValues<DispatchRule>())
        {
            Assert.Empty(ScheduleValidator.Check(problem, DispatchRules.Build(problem, rule)));
        }
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void The_solver_is_never_later_than_the_due_date_rule_it_starts_from(int seed)
    {
        var problem = RandomInstances.Make(seed, previous: false);
        var solved = CpSatScheduler.Solve(problem, new SolverSettings(TimeSpan.FromSeconds(1)));
        var edd = DispatchRules.Build(problem, DispatchRule.Edd);
        Assert.True(solved.WeightedTardiness <= edd.WeightedTardiness, $"CP-SAT {solved.WeightedTardiness} > EDD {edd.WeightedTardiness}");
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Without_sequencing_setups_the_solver_still_keeps_every_constraint_and_beats_no_rule(int seed)
    {
        // The path large problems take: setups planned as always paid, saved and compacted afterwards.
        foreach (var problem in new[] { RandomInstances.Make(seed, jobs: 12), RandomInstances.Make(seed, jobs: 12, previous: false) })
        {
            var solved = CpSatScheduler.Solve(problem, new SolverSettings(TimeSpan.FromSeconds(1), MaxSequencingArcs: 0));
            Assert.Empty(ScheduleValidator.Check(problem, solved));
            var rule = DispatchRules.Build(problem, problem.Previous is null ? DispatchRule.Edd : DispatchRule.Previous);
            Assert.True(
                (solved.WeightedTardiness, solved.Makespan).CompareTo((rule.WeightedTardiness, rule.Makespan)) <= 0 || solved.Notes.Any(n => n.Contains("freeze", StringComparison.Ordinal)),
                $"CP-SAT ({solved.WeightedTardiness}, {solved.Makespan}) worse than {rule.Method} ({rule.WeightedTardiness}, {rule.Makespan})");
        }
    }

    [Fact]
    public void The_validator_names_each_broken_rule()
    {
        var problem = RandomInstances.Make(3, previous: false);
        var good = CpSatScheduler.Solve(problem, new SolverSettings(TimeSpan.FromSeconds(1)));
        Assert.Empty(ScheduleValidator.Check(problem, good));

        // Overlap: two operations of one machine at the same start.
        var onOne = good.Operations.GroupBy(o => o.Machine).First(g => g.Count() > 1).OrderBy(o => o.Start).ToList();
        var shifted = onOne[1] with { Start = onOne[0].Start, End = onOne[0].Start + (onOne[1].End - onOne[1].Start) };
        Assert.Contains(ScheduleValidator.Check(problem, Replace(good, onOne[1], shifted)), e => e.Contains("overlap", StringComparison.Ordinal));

        // Precedence: a second operation moved before its first ends.
        var job = problem.Jobs.First(j => j.Operations.Count > 1);
        var second = good.Operations.Single(o => o.Job == job.Id && o.Operation == job.Operations[1].Id);
        var first = good.Operations.Single(o => o.Job == job.Id && o.Operation == job.Operations[0].Id);
        var early = second with { Start = first.Start, End = first.Start + (second.End - second.Start) };
        Assert.Contains(ScheduleValidator.Check(problem, Replace(good, second, early)), e => e.Contains("before the operation before it ends", StringComparison.Ordinal));

        // Wrong duration, missing operation, wrong promise.
        var longer = first with { End = first.End + 1 };
        Assert.Contains(ScheduleValidator.Check(problem, Replace(good, first, longer)), e => e.Contains("lasts", StringComparison.Ordinal));
        Assert.Contains(ScheduleValidator.Check(problem, good with { Operations = [.. good.Operations.Skip(1)] }), e => e.Contains("is missing", StringComparison.Ordinal));
        Assert.Contains(ScheduleValidator.Check(problem, good with { Makespan = good.Makespan + 1 }), e => e.Contains("makespan", StringComparison.Ordinal));

        // Work in an unavailable span.
        var victim = good.Operations[0];
        var broken = problem with { Machines = [.. problem.Machines.Select(m => m.Id == victim.Machine ? m with { Unavailable = [new Unavailability(victim.Start, victim.End, "down")] } : m)] };
        Assert.Contains(ScheduleValidator.Check(broken, good), e => e.Contains("unavailable span", StringComparison.Ordinal));
    }

    [Fact]
    public void The_validator_holds_the_freeze()
    {
        var problem = RandomInstances.Make(5);
        var solved = CpSatScheduler.Solve(problem, new SolverSettings(TimeSpan.FromSeconds(1)));
        Assert.Empty(ScheduleValidator.Check(problem, solved));
        var frozen = ProblemRules.Frozen(problem, problem.Jobs);
        if (frozen.Count == 0)
        {
            // This seed froze nothing: freeze everything that starts in the first 100 instead.
            problem = problem with { Freeze = 100 };
            solved = CpSatScheduler.Solve(problem, new SolverSettings(TimeSpan.FromSeconds(1)));
            frozen = ProblemRules.Frozen(problem, problem.Jobs);
        }

        Assert.NotEmpty(frozen);
        var kept = frozen.Values.First();
        var moved = solved.Operations.Single(o => o.Job == kept.Job && o.Operation == kept.Operation);
        Assert.Equal((kept.Machine, kept.Start), (moved.Machine, moved.Start));
        var later = moved with { Start = moved.Start + 1000, End = moved.End + 1000 };
        Assert.Contains(ScheduleValidator.Check(problem, Replace(solved, moved, later)), e => e.Contains("is frozen", StringComparison.Ordinal));
    }

    private static Schedule Replace(Schedule schedule, PlannedOperation from, PlannedOperation to) =>
        schedule with { Operations = [.. schedule.Operations.Select(o => o == from ? to : o)] };
}
