namespace Twin.Planning.Tests;

/// <summary>Small instances whose optimum is worked out by hand in each test's comment; the solver must find it and the validator must accept it.</summary>
public sealed class HandSolvedTests
{
    private static readonly SolverSettings Quick = new(TimeSpan.FromSeconds(5));

    private static JobSpec Job(string id, long due, params (string Machine, long Duration)[] operations) =>
        new(id, [.. operations.Select((o, i) => new OperationSpec($"{i}", [new ModeSpec(o.Machine, o.Duration)]))], Due: due);

    private static Schedule SolveValid(SchedulingProblem problem)
    {
        var schedule = CpSatScheduler.Solve(problem, Quick);
        Assert.Empty(ScheduleValidator.Check(problem, schedule));
        Assert.Equal(CpSatScheduler.Method, schedule.Method);
        Assert.Empty(schedule.Notes);
        return schedule;
    }

    [Fact]
    public void One_machine_puts_the_order_that_hurts_least_first()
    {
        // A (3, due 3), B (2, due 2), C (4, due 10). B, A, C: A ends at 5, 2 late; C at 9 on time.
        // A first makes B 3 late; C anywhere but last makes A or B later still. Optimum: 2.
        var problem = new SchedulingProblem([Job("A", 3, ("m", 3)), Job("B", 2, ("m", 2)), Job("C", 10, ("m", 4))], [new MachineSpec("m")]);
        var schedule = SolveValid(problem);
        Assert.Equal(ScheduleStatus.Optimal, schedule.Status);
        Assert.Equal(2, schedule.WeightedTardiness);
        Assert.Equal(9, schedule.Makespan);
        Assert.Equal(["B", "A", "C"], schedule.Dispatch["m"].Select(o => o.Job));
        Assert.Equal(2, schedule.Jobs.Single(j => j.Job == "A").Lateness);
        Assert.Equal(-1, schedule.Jobs.Single(j => j.Job == "C").Lateness);
    }

    [Fact]
    public void Weights_decide_who_is_late()
    {
        // Two orders of 4 each, both due at 4: one is 4 late. Weight 3 on B puts B first: tardiness 1 × 4.
        var problem = new SchedulingProblem([Job("A", 4, ("m", 4)), Job("B", 4, ("m", 4)) with { Weight = 3 }], [new MachineSpec("m")]);
        var schedule = SolveValid(problem);
        Assert.Equal(4, schedule.WeightedTardiness);
        Assert.Equal("B", schedule.Dispatch["m"][0].Job);
    }

    [Fact]
    public void Two_jobs_crossing_two_machines_take_six()
    {
        // J1: m1 3 then m2 2; J2: m2 2 then m1 3. Both start at 0 on their first machine; J1 on m2
        // at 3–5; J2 on m1 waits for J1 until 3: 3–6. Five is impossible (m1 would need J2 from 2,
        // while J1 holds it to 3; J1 after J2 ends at 8). Optimum: 6.
        var problem = new SchedulingProblem(
            [new JobSpec("J1", [Op("0", ("m1", 3)), Op("1", ("m2", 2))]), new JobSpec("J2", [Op("0", ("m2", 2)), Op("1", ("m1", 3))])],
            [new MachineSpec("m1"), new MachineSpec("m2")]);
        var schedule = SolveValid(problem);
        Assert.Equal(ScheduleStatus.Optimal, schedule.Status);
        Assert.Equal(6, schedule.Makespan);
    }

    [Fact]
    public void A_flexible_operation_takes_the_machine_that_finishes_it_first()
    {
        // Fast (5) but unavailable until 4 ends at 9; slow (8) from 0 ends at 8. Optimum: slow, 8.
        var problem = new SchedulingProblem(
            [new JobSpec("J", [Op("0", ("fast", 5), ("slow", 8))])],
            [new MachineSpec("fast", [new Unavailability(0, 4, "maintenance")]), new MachineSpec("slow")]);
        var schedule = SolveValid(problem);
        Assert.Equal("slow", schedule.Operations.Single().Machine);
        Assert.Equal(8, schedule.Makespan);
    }

    [Fact]
    public void Work_waits_for_the_next_shift_rather_than_run_into_a_break()
    {
        // Shifts 0–8 and 16–24. Two jobs of 5: 0–5, then the second cannot fit 5–10 and starts at 16.
        var problem = new SchedulingProblem(
            [Job("A", 100, ("m", 5)), Job("B", 100, ("m", 5))],
            [new MachineSpec("m", [new Unavailability(8, 16, "no shift"), new Unavailability(24, 1000, "no shift")])]);
        var schedule = SolveValid(problem);
        Assert.Equal(21, schedule.Makespan);
        Assert.Equal([0L, 16L], schedule.Dispatch["m"].Select(o => o.Start));
    }

    [Fact]
    public void A_run_of_one_product_saves_its_setups()
    {
        // X, Y, X, Y, each 1 long with a setup of 5 unless the machine just ran the same product.
        // Grouped X X Y Y: 5+1, 1, 5+1, 1 = 14 with two setups; alternating pays four (24).
        var jobs = new[] { "X", "Y", "X", "Y" }.Select((p, i) => new JobSpec($"{p}{i}", [new OperationSpec("0", [new ModeSpec("m", 1, 5)], p)])).ToList();
        var problem = new SchedulingProblem(jobs, [new MachineSpec("m")]);
        var schedule = SolveValid(problem);
        Assert.Equal(14, schedule.Makespan);
        Assert.Equal(2, schedule.Setups);
        Assert.Equal(2, schedule.Operations.Count(o => o.Setup == 0));
    }

    [Fact]
    public void Tardiness_comes_before_makespan()
    {
        // X1 (due 1), Y1 (due 7), X2 (due 100), each 1 long, setup 5 per product change.
        // Makespan-first groups X1 X2 Y1: ends 6, 7, 13, tardiness 5 + 6 = 11, makespan 13.
        // Tardiness-first runs X1 Y1 X2: ends 6, 12, 18, tardiness 5 + 5 = 10, makespan 18.
        var jobs = new List<JobSpec>
        {
            new("X1", [new OperationSpec("0", [new ModeSpec("m", 1, 5)], "X")], Due: 1),
            new("Y1", [new OperationSpec("0", [new ModeSpec("m", 1, 5)], "Y")], Due: 7),
            new("X2", [new OperationSpec("0", [new ModeSpec("m", 1, 5)], "X")], Due: 100),
        };
        var problem = new SchedulingProblem(jobs, [new MachineSpec("m")]);
        var schedule = SolveValid(problem);
        Assert.Equal(10, schedule.WeightedTardiness);
        Assert.Equal(18, schedule.Makespan);
        Assert.Equal(["X1", "Y1", "X2"], schedule.Dispatch["m"].Select(o => o.Job));
    }

    [Fact]
    public void With_the_makespan_held_setups_are_saved_too()
    {
        // L (20) can only run on n: the makespan is 20 whatever X0 and X1 (1 each, setup 5) do on m.
        // Any order of them fits in 20, but only back to back, one setup, is the last level's optimum.
        var jobs = new List<JobSpec>
        {
            new("L", [new OperationSpec("0", [new ModeSpec("n", 20)])]),
            new("X0", [new OperationSpec("0", [new ModeSpec("m", 1, 5)], "X")]),
            new("X1", [new OperationSpec("0", [new ModeSpec("m", 1, 5)], "X")]),
        };
        var problem = new SchedulingProblem(jobs, [new MachineSpec("m"), new MachineSpec("n")]);
        var schedule = SolveValid(problem);
        Assert.Equal(20, schedule.Makespan);
        Assert.Equal(1, schedule.Setups);
        Assert.Equal(1, schedule.Operations.Count(o => o.Machine == "m" && o.Setup == 5));
    }

    [Fact]
    public void The_freeze_keeps_what_starts_soon_and_moves_what_does_not()
    {
        // The previous plan had A on slow at 2 (inside the freeze of 5 from now 0) and B on slow at
        // 20 (outside it). Fast is free: B moves to fast at 0; A stays frozen on slow at 2.
        var jobs = new List<JobSpec>
        {
            new("A", [Op("0", ("fast", 2), ("slow", 4))]),
            new("B", [Op("0", ("fast", 2), ("slow", 4))]),
        };
        var previous = new List<PlannedOperation> { new("A", "0", "slow", 2, 6, 0), new("B", "0", "slow", 20, 24, 0) };
        var problem = new SchedulingProblem(jobs, [new MachineSpec("fast"), new MachineSpec("slow")], Now: 0, Freeze: 5, Previous: previous);
        var schedule = SolveValid(problem);
        var a = schedule.Operations.Single(o => o.Job == "A");
        Assert.Equal(("slow", 2L), (a.Machine, a.Start));
        var b = schedule.Operations.Single(o => o.Job == "B");
        Assert.Equal(("fast", 0L), (b.Machine, b.Start));
        Assert.Single(schedule.Changes.Moved);
        Assert.Equal("B", schedule.Changes.Moved[0].Job);
        Assert.Equal(0.5, schedule.Changes.Stability);
        Assert.Equal(new CompletionChange("B", 24, 2), Assert.Single(schedule.Changes.Completions));
    }

    [Fact]
    public void A_machine_that_went_down_gives_up_even_frozen_work()
    {
        // A was planned on press at 0–4 (frozen), then press went down until 50. A moves to the
        // spare (6 long): ends at 16 against a due date of 10, 6 late; the change names it.
        var jobs = new List<JobSpec> { new("A", [Op("0", ("press", 4), ("spare", 6))], Release: 0, Due: 10) };
        var previous = new List<PlannedOperation> { new("A", "0", "press", 10, 14, 0) };
        var problem = new SchedulingProblem(
            jobs,
            [new MachineSpec("press", [new Unavailability(10, 50, "down")]), new MachineSpec("spare")],
            Now: 10,
            Freeze: 60,
            Previous: previous);
        var schedule = SolveValid(problem);
        var a = schedule.Operations.Single();
        Assert.Equal(("spare", 10L, 16L), (a.Machine, a.Start, a.End));
        Assert.Equal(6, schedule.Jobs.Single().Lateness);
        Assert.Equal(new OperationMove("A", "0", "press", 10, "spare", 10), Assert.Single(schedule.Changes.Moved));
    }

    [Fact]
    public void Nothing_starts_before_now_or_the_release()
    {
        var jobs = new List<JobSpec> { new("A", [Op("0", ("m", 3))], Release: 7), new("B", [Op("0", ("m", 3))]) };
        var problem = new SchedulingProblem(jobs, [new MachineSpec("m")], Now: 5);
        var schedule = SolveValid(problem);
        Assert.True(schedule.Operations.Single(o => o.Job == "A").Start >= 7);
        Assert.True(schedule.Operations.Single(o => o.Job == "B").Start >= 5);
        Assert.Equal(11, schedule.Makespan);
    }

    [Fact]
    public void A_job_no_machine_can_run_is_left_out_with_the_reason()
    {
        var problem = new SchedulingProblem([Job("A", 10, ("m", 3)), Job("B", 10, ("gone", 3))], [new MachineSpec("m")]);
        var schedule = SolveValid(problem);
        Assert.Equal("operation 0 has no machine that can run it", schedule.Unscheduled["B"]);
        Assert.All(schedule.Operations, o => Assert.Equal("A", o.Job));
    }

    [Fact]
    public void The_dispatch_rules_order_by_due_date_and_by_length()
    {
        // One machine, A (5, due 20), B (1, due 30), C (3, due 10).
        var problem = new SchedulingProblem([Job("A", 20, ("m", 5)), Job("B", 30, ("m", 1)), Job("C", 10, ("m", 3))], [new MachineSpec("m")]);
        var edd = DispatchRules.Build(problem, DispatchRule.Edd);
        var spt = DispatchRules.Build(problem, DispatchRule.Spt);
        Assert.Empty(ScheduleValidator.Check(problem, edd));
        Assert.Empty(ScheduleValidator.Check(problem, spt));
        Assert.Equal(["C", "A", "B"], edd.Dispatch["m"].Select(o => o.Job));
        Assert.Equal(["B", "C", "A"], spt.Dispatch["m"].Select(o => o.Job));
    }

    private static OperationSpec Op(string id, params (string Machine, long Duration)[] modes) =>
        new(id, [.. modes.Select(m => new ModeSpec(m.Machine, m.Duration))]);
}
