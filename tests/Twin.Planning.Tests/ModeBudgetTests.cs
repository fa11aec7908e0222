namespace Twin.Planning.Tests;

/// <summary>A model too wide for the search keeps its widest operations on fewer machines, always including the rule's choice.</summary>
public sealed class ModeBudgetTests
{
    private static SchedulingProblem Wide(int steps, int machines)
    {
        var ids = Enumerable.Range(0, machines).Select(i => $"m{i:000}").ToList();
        var wide = new JobSpec("wide", [.. Enumerable.Range(0, steps).Select(s => new OperationSpec($"{s}", [.. ids.Select((m, i) => new ModeSpec(m, 10 + (i % 5)))]))], Due: 50);
        var narrow = Enumerable.Range(0, 20).Select(j => new JobSpec($"j{j}", [new OperationSpec("0", [new ModeSpec(ids[j % 3], 7), new ModeSpec(ids[(j + 1) % 3], 8)])], Due: 30)).ToList();
        return new SchedulingProblem([.. narrow, wide], [.. ids.Select(m => new MachineSpec(m))]);
    }

    [Fact]
    public void Under_the_budget_nothing_is_limited()
    {
        var problem = Wide(10, 10);
        var jobs = problem.Jobs.ToList();
        var hint = DispatchRules.Place(problem, jobs, DispatchRule.Edd);
        var (limitedJobs, limited, _) = ModeBudget.Limit(jobs, hint, new Dictionary<(string, string), PlannedOperation>(), 1000);
        Assert.Equal(0, limited);
        Assert.Same(jobs, limitedJobs);
    }

    [Fact]
    public void Over_the_budget_only_the_wide_operations_are_cut_and_each_keeps_the_rules_machine()
    {
        var problem = Wide(50, 60);
        var jobs = problem.Jobs.ToList();
        var hint = DispatchRules.Place(problem, jobs, DispatchRule.Edd);
        var (limitedJobs, limited, kept) = ModeBudget.Limit(jobs, hint, new Dictionary<(string, string), PlannedOperation>(), 500);

        // 20 narrow operations of 2 machines (40 choices) leave 460 for 50 wide ones: 9 each.
        Assert.Equal((50, 9), (limited, kept));
        var modes = limitedJobs.Sum(j => j.Operations.Sum(o => o.Modes.Count));
        Assert.True(modes <= 500, $"{modes} choices");
        Assert.All(limitedJobs.Where(j => j.Id != "wide"), j => Assert.Equal(2, j.Operations[0].Modes.Count));
        var ruled = hint.Where(h => h.Job == "wide").ToDictionary(h => h.Operation, h => h.Machine);
        Assert.All(limitedJobs.Single(j => j.Id == "wide").Operations, o =>
        {
            Assert.Equal(9, o.Modes.Count);
            Assert.Contains(o.Modes, m => m.Machine == ruled[o.Id]);
        });
    }

    [Fact]
    public void A_solve_over_the_budget_is_valid_and_says_what_it_limited()
    {
        var problem = Wide(40, 60);
        var schedule = CpSatScheduler.Solve(problem, new SolverSettings(TimeSpan.FromSeconds(2), MaxModes: 400));
        Assert.Empty(ScheduleValidator.Check(problem, schedule));
        Assert.Contains(schedule.Notes, n => n.StartsWith("40 operations with many eligible machines were searched on", StringComparison.Ordinal));
    }
}
