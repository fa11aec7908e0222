namespace Twin.Planning.Tests;

/// <summary>A schedule says how it was made: CP-SAT only when the search made it, the rule's name when the rule's schedule is what is answered.</summary>
public sealed class MethodTests
{
    [Fact]
    public void A_schedule_the_search_never_reached_is_named_after_the_rule()
    {
        // Three thousand operations and a fifth of a second: CP-SAT stops before its first solution,
        // and the answer is the EDD schedule it was to start from.
        var problem = RandomInstances.Make(5, jobs: 1500, machines: 20, previous: false);
        var schedule = CpSatScheduler.Solve(problem, new SolverSettings(TimeSpan.FromMilliseconds(200)));
        Assert.Empty(ScheduleValidator.Check(problem, schedule));
        Assert.Contains(schedule.Notes, n => n.Contains("the EDD rule's schedule is used", StringComparison.Ordinal));
        Assert.Equal(("EDD", ScheduleStatus.Heuristic), (schedule.Method, schedule.Status));
    }

    public static TheoryData<int> Seeds() => [.. Enumerable.Range(1, 6)];

    [Theory]
    [MemberData(nameof(Seeds))]
    public void The_method_is_CP_SAT_exactly_when_no_rule_schedule_was_used(int seed)
    {
        foreach (var problem in new[] { RandomInstances.Make(seed, jobs: 12), RandomInstances.Make(seed, jobs: 40, machines: 6, previous: false) })
        {
            var schedule = CpSatScheduler.Solve(problem, new SolverSettings(TimeSpan.FromSeconds(0.5), MaxSequencingArcs: 0));
            var ruleUsed = schedule.Notes.Any(n => n.Contains("rule's schedule", StringComparison.Ordinal));
            Assert.Equal(ruleUsed, schedule.Method != CpSatScheduler.Method);
            Assert.Equal(ruleUsed, schedule.Status == ScheduleStatus.Heuristic);
        }
    }
}
