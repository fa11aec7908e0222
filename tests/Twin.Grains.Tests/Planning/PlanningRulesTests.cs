using System.Collections.Immutable;
using Twin.Grains.Planning;
using Twin.Machines;
using Twin.Planning;
using Twin.Scheduling;
using Twin.WorkOrders;

namespace Twin.Grains.Tests.Planning;

/// <summary>The planner's picture of the factory from signals, and that picture as a scheduling problem.</summary>
public sealed class PlanningRulesTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);
    private static readonly PlanningOptions Options = new();

    private static PlanningState State()
    {
        var state = new PlanningState();
        state.Routings["bracket"] = new Routing("bracket", [
            new RoutingStep("10", ["saw"], TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(1)),
            new RoutingStep("20", ["press", "press-2"], TimeSpan.Zero, TimeSpan.FromMinutes(3))]);
        return state;
    }

    private static PlanningSignal Order(string id, long version, long quantity, WorkOrderStatus status, long good = 0, DateTimeOffset? due = null, ImmutableArray<BomLine> bom = default) =>
        new($"order:{id}:{version}", PlanningSignalKind.OrderChanged, id, Now, "work order changed",
            new OrderDemand(id, version, "bracket", quantity, good, due, status, bom.IsDefault ? [] : bom, 1, "l1"));

    [Fact]
    public void Signals_apply_once_and_an_older_order_report_changes_nothing()
    {
        var state = State();
        Assert.True(PlanningRules.Apply(state, Order("WO-1", 2, 10, WorkOrderStatus.Released), Options));
        Assert.False(PlanningRules.Apply(state, Order("WO-1", 2, 10, WorkOrderStatus.Released), Options));
        Assert.False(PlanningRules.Apply(state, Order("WO-1", 1, 99, WorkOrderStatus.Created), Options));
        Assert.Equal(10, state.Orders["WO-1"].Quantity);
        Assert.Equal(["WO-1: work order changed"], state.PendingTriggers);

        Assert.True(PlanningRules.Apply(state, Order("WO-1", 3, 10, WorkOrderStatus.Completed), Options));
        Assert.Empty(state.Orders);
        Assert.Equal(2, state.InputVersion);
    }

    [Fact]
    public void The_problem_plans_what_is_left_on_the_routing_machines()
    {
        var state = State();
        PlanningRules.Apply(state, Order("WO-1", 1, 10, WorkOrderStatus.InProgress, good: 4, due: Now.AddHours(2)), Options);
        PlanningRules.Apply(state, Order("WO-2", 1, 5, WorkOrderStatus.Released) with { Order = new OrderDemand("WO-2", 1, "gear", 5, 0, null, WorkOrderStatus.Released, [], 1, null) }, Options);
        var (problem, unscheduled) = PlanningRules.ToProblem(state, Now, Options);

        var job = Assert.Single(problem.Jobs);
        Assert.Equal(7200, job.Due);
        Assert.Equal([("saw", 360L, 300L)], job.Operations[0].Modes.Select(m => (m.Machine, m.Duration, m.Setup)));
        Assert.Equal(["press", "press-2"], job.Operations[1].Modes.Select(m => m.Machine));
        Assert.Equal(1080, job.Operations[1].Modes[0].Duration);
        Assert.Equal("no routing for product 'gear' (PUT …/routings/gear)", unscheduled["WO-2"]);
        Assert.Equal(["press", "press-2", "saw"], problem.Machines.Select(m => m.Id));
        Assert.Equal(Options.Freeze.TotalSeconds, problem.Freeze);
    }

    [Fact]
    public void A_down_machine_is_out_until_the_assumed_repair_and_back_when_it_reports_up()
    {
        var state = State();
        PlanningRules.Apply(state, Order("WO-1", 1, 10, WorkOrderStatus.Released), Options);
        Assert.True(PlanningRules.Apply(state, new PlanningSignal("m:1:down", PlanningSignalKind.MachineDown, "press", Now, "machine down"), Options));
        var (down, _) = PlanningRules.ToProblem(state, Now, Options);
        var span = Assert.Single(down.Machines.Single(m => m.Id == "press").Unavailable);
        Assert.Equal(Options.AssumedRepair.TotalSeconds, span.End);
        Assert.True(span.Start < 0);

        var schedule = CpSatScheduler.Solve(down, new SolverSettings(TimeSpan.FromSeconds(2)));
        Assert.Empty(ScheduleValidator.Check(down, schedule));
        Assert.Equal("press-2", schedule.Operations.Single(o => o.Operation == "20").Machine);

        Assert.True(PlanningRules.Apply(state, new PlanningSignal("m:2:up", PlanningSignalKind.MachineUp, "press", Now, "machine back (running)"), Options));
        Assert.Empty(PlanningRules.ToProblem(state, Now, Options).Problem.Machines.Single(m => m.Id == "press").Unavailable);
    }

    [Fact]
    public void A_shift_calendar_closes_the_nights_and_the_breaks()
    {
        // One shift 06:00–14:00 UTC with a break 10:00–10:30: from 08:00, closed 10:00–10:30, then 14:00 to 06:00 the next day.
        var calendar = new ShiftCalendar([new Shift("early", new TimeOnly(6, 0), new TimeOnly(14, 0))], [new PlannedStop(new TimeOnly(10, 0), new TimeOnly(10, 30), "break")], TimeSpan.Zero);
        var closed = PlanningRules.Closed(calendar, Now, Now.AddDays(2)).ToList();
        Assert.Contains(closed, c => c.From == Now.Date.AddHours(14) && c.To == Now.Date.AddDays(1).AddHours(6) && c.Reason == "no shift");
        Assert.Contains(closed, c => c.From == Now.Date.AddHours(10) && c.To == Now.Date.AddHours(10.5) && c.Reason == "planned stop");
        Assert.DoesNotContain(closed, c => c.From < Now.Date.AddHours(10) && c.To > Now);

        var state = State();
        PlanningRules.Apply(state, Order("WO-1", 1, 130, WorkOrderStatus.Released), Options);
        PlanningRules.Apply(state, new PlanningSignal("cal", PlanningSignalKind.MachineCalendar, "saw", Now, "shift calendar set", Calendar: calendar), Options);
        var (problem, _) = PlanningRules.ToProblem(state, Now, Options);
        var schedule = CpSatScheduler.Solve(problem, new SolverSettings(TimeSpan.FromSeconds(2)));
        Assert.Empty(ScheduleValidator.Check(problem, schedule));

        // 130 parts and a setup: 135 minutes, which cross the 10:00 break from 08:00; they run 10:30–12:45 instead.
        var saw = schedule.Operations.Single(o => o.Machine == "saw");
        Assert.Equal(9000, saw.Start);
        Assert.Equal(17100, saw.End);
    }

    [Fact]
    public void An_order_short_of_material_waits_for_it_and_earlier_due_orders_are_served_first()
    {
        var state = State();
        var bom = ImmutableArray.Create(new BomLine("steel", 2, "bin-steel"));
        PlanningRules.Apply(state, Order("WO-1", 1, 10, WorkOrderStatus.Released, due: Now.AddHours(4), bom: bom), Options);
        PlanningRules.Apply(state, Order("WO-2", 1, 10, WorkOrderStatus.Released, due: Now.AddHours(8), bom: bom), Options);
        PlanningRules.Apply(state, new PlanningSignal("material:below:x", PlanningSignalKind.MaterialShort, "bin-steel", Now, "steel below its reorder point (30 available)", Sku: "steel", Available: 30), Options);

        // 30 steel: WO-1 (due first) needs 20 and gets it; WO-2 needs 20 of the 10 left and waits.
        Assert.Equal(Now, PlanningRules.MaterialReady(state, state.Orders["WO-1"], Now, Options));
        Assert.Equal(Now + Options.MaterialLeadTime, PlanningRules.MaterialReady(state, state.Orders["WO-2"], Now, Options));
        var (problem, _) = PlanningRules.ToProblem(state, Now, Options);
        Assert.Equal((long)Options.MaterialLeadTime.TotalSeconds, problem.Jobs.Single(j => j.Id == "WO-2").Release);

        PlanningRules.Apply(state, new PlanningSignal("material:refill:y", PlanningSignalKind.MaterialAvailable, "bin-steel", Now, "steel refilled", Sku: "steel", Available: 500), Options);
        Assert.Equal(Now, PlanningRules.MaterialReady(state, state.Orders["WO-2"], Now, Options));
    }

    [Fact]
    public void Dispatch_changes_are_found_per_machine()
    {
        var a = new ScheduledOperation("WO-1", "10", "saw", Now, Now.AddMinutes(10), TimeSpan.Zero, "bracket", null);
        var b = new ScheduledOperation("WO-2", "10", "saw", Now.AddMinutes(10), Now.AddMinutes(20), TimeSpan.Zero, "bracket", null);
        var c = new ScheduledOperation("WO-1", "20", "press", Now.AddMinutes(10), Now.AddMinutes(40), TimeSpan.Zero, "bracket", null);
        Assert.Empty(PlanningRules.ChangedMachines([a, b, c], [c, b, a]));
        Assert.Equal(["saw"], PlanningRules.ChangedMachines([a, b, c], [b with { Start = Now, End = Now.AddMinutes(10) }, a with { Start = Now.AddMinutes(10), End = Now.AddMinutes(20) }, c]));
        Assert.Equal(["press"], PlanningRules.ChangedMachines([a, b, c], [a, b]));
    }

    [Fact]
    public void An_order_too_large_for_the_horizon_is_unschedulable_and_the_rest_is_planned()
    {
        var state = State();
        PlanningRules.Apply(state, Order("WO-1", 1, 10, WorkOrderStatus.Released), Options);
        PlanningRules.Apply(state, Order("WO-INT", 1, int.MaxValue, WorkOrderStatus.Released, due: DateTimeOffset.MaxValue), Options);
        PlanningRules.Apply(state, Order("WO-LONG", 1, long.MaxValue, WorkOrderStatus.Released, bom: [new BomLine("steel", 1e20m, "bin-steel")]), Options);
        PlanningRules.Apply(state, new PlanningSignal("material:below:z", PlanningSignalKind.MaterialShort, "bin-steel", Now, "steel below its reorder point", Sku: "steel", Available: 5), Options);

        // 10 parts: 5 min setup + 10 min, then 30 min: planned. 2^31 parts of 4 minutes are 16,000 years.
        var (problem, unscheduled) = PlanningRules.ToProblem(state, Now, Options);
        Assert.Equal("WO-1", Assert.Single(problem.Jobs).Id);
        Assert.Contains("more than the planning horizon of 28 days (Twin:Planning:Horizon)", unscheduled["WO-INT"], StringComparison.Ordinal);
        Assert.Contains("more than a thousand years", unscheduled["WO-LONG"], StringComparison.Ordinal);
        Assert.Equal(Now + Options.MaterialLeadTime, PlanningRules.MaterialReady(state, state.Orders["WO-LONG"], Now, Options));

        // The rest of the factory is planned, and its instants are all representable.
        var schedule = CpSatScheduler.Solve(problem, new SolverSettings(TimeSpan.FromSeconds(2)));
        Assert.Empty(ScheduleValidator.Check(problem, schedule));
        Assert.Equal(2, PlanningRules.ToPlan(state, schedule, Now).Count);

        // Just inside the horizon is still planned: 28 days of machine time exactly.
        var edge = new PlanningState();
        edge.Routings["day"] = new Routing("day", [new RoutingStep("10", ["m"], TimeSpan.Zero, TimeSpan.FromDays(1))]);
        edge.Orders["WO-28"] = new OrderDemand("WO-28", 1, "day", 28, 0, null, WorkOrderStatus.Released, [], 1, null);
        edge.Orders["WO-29"] = new OrderDemand("WO-29", 1, "day", 29, 0, null, WorkOrderStatus.Released, [], 1, null);
        var (edgeProblem, edgeRefused) = PlanningRules.ToProblem(edge, Now, Options);
        Assert.Equal(28 * 86400L, Assert.Single(edgeProblem.Jobs).Operations[0].Modes[0].Duration);
        Assert.Contains("29 parts of 'day' need 29 days of machine time", edgeRefused["WO-29"], StringComparison.Ordinal);
    }

    [Fact]
    public void Triggers_beyond_the_twenty_kept_are_counted_and_said()
    {
        var state = State();
        for (var i = 1; i <= 25; i++)
        {
            PlanningRules.Touch(state, $"change {i}");
        }

        var (listed, notListed) = PlanningRules.TakeTriggers(state, state.InputVersion);
        Assert.Equal(20, listed.Length);
        Assert.Equal("change 6", listed[0]);
        Assert.Equal(5, notListed);
        var listing = PlanningRules.Listing(listed, notListed);
        Assert.Equal(21, listing.Length);
        Assert.Equal("… and 5 more before these (only the newest 20 are listed)", listing[0]);
        Assert.Equal("change 25", listing[^1]);
        Assert.Empty(state.PendingTriggers);
        state.PlannedInput = state.InputVersion;

        // A plan made from input 27 answers the two changes before it; the third waits for the next one.
        PlanningRules.Touch(state, "a");
        PlanningRules.Touch(state, "b");
        PlanningRules.Touch(state, "c");
        var (first, none) = PlanningRules.TakeTriggers(state, 27);
        Assert.Equal(new[] { "a", "b" }, first.AsEnumerable());
        Assert.Equal(0, none);
        Assert.Equal(["c"], state.PendingTriggers);
        Assert.Equal(new[] { "a", "b" }, PlanningRules.Listing(first, none).AsEnumerable());
    }

    [Fact]
    public void A_failed_re_plan_is_recorded_and_the_planner_does_not_stay_replanning()
    {
        var state = State();
        PlanningRules.Touch(state, "WO-9: work order created");
        Assert.True(PlanningRules.Replanning(state, solving: false));

        var record = PlanningRules.RecordFailure(state, state.InputVersion, Now, TimeSpan.FromSeconds(1), "OverflowException: too big", TimeSpan.FromSeconds(5));
        Assert.Same(record, state.History[0]);
        Assert.Equal(("none", "failed"), (record.Method, record.Status));
        Assert.Equal(new[] { "WO-9: work order created" }, record.Triggers.AsEnumerable());
        Assert.Contains("OverflowException: too big", Assert.Single(record.Notes), StringComparison.Ordinal);
        Assert.False(PlanningRules.Replanning(state, solving: false));
        Assert.Null(PlanningRules.Stability(state));

        // The next change plans again.
        PlanningRules.Touch(state, "retry after a failed re-plan");
        Assert.True(PlanningRules.Unanswered(state));
    }

    [Fact]
    public void A_what_if_order_short_of_material_starts_after_the_lead_time_and_says_so()
    {
        var state = State();
        PlanningRules.Apply(state, Order("WO-1", 1, 20, WorkOrderStatus.Released, bom: [new BomLine("steel", 2, "bin-steel")]), Options);
        OrderDemand Probe(long quantity) => new("what-if", 0, "bracket", quantity, 0, null, WorkOrderStatus.Released, [new BomLine("steel", 1, "bin-steel")], 1, null);

        // 100 in the bin, 40 kept for WO-1: 60 free.
        var (release, shortages) = PlanningRules.Material(state, Probe(60), new Dictionary<string, PlanningRules.BinSupply> { ["bin-steel"] = new("steel", 100, 0) }, Now, Options);
        Assert.Equal(Now, release);
        Assert.Empty(shortages);

        (release, shortages) = PlanningRules.Material(state, Probe(70), new Dictionary<string, PlanningRules.BinSupply> { ["bin-steel"] = new("steel", 100, 0) }, Now, Options);
        Assert.Equal(Now + Options.MaterialLeadTime, release);
        Assert.Equal(new MaterialShortage("bin-steel", "steel", 70, 60, 0, false, Now + Options.MaterialLeadTime), Assert.Single(shortages));

        // A purchase request of 20 covers the 10 missing.
        (_, shortages) = PlanningRules.Material(state, Probe(70), new Dictionary<string, PlanningRules.BinSupply> { ["bin-steel"] = new("steel", 100, 20) }, Now, Options);
        Assert.True(Assert.Single(shortages).Covered);

        // A bin the factory does not know gives nothing; and a BOM too large to count does not overflow.
        (_, shortages) = PlanningRules.Material(state, Probe(1000) with { Bom = [new BomLine("gold", 1e27m, "bin-gold")] }, new Dictionary<string, PlanningRules.BinSupply>(), Now, Options);
        Assert.Equal(("bin-gold", 0m, false), (Assert.Single(shortages).Bin, shortages[0].Available, shortages[0].Covered));
    }

    [Fact]
    public void A_routing_naming_one_machine_twice_in_a_step_is_refused_and_sub_second_runs_add_up_before_rounding()
    {
        var twice = new Routing("bracket", [new RoutingStep("10", ["saw", "press", "saw"], TimeSpan.Zero, TimeSpan.FromMinutes(1))]);
        Assert.Equal(["steps[0].machines: 'saw' is listed twice"], PlanningRules.Validate(twice));

        // A 0.3 s cycle is valid: 1,000 parts take 300 s, not 1,000 s rounded per part.
        var fast = new Routing("bracket", [new RoutingStep("10", ["press"], TimeSpan.Zero, TimeSpan.FromMilliseconds(300))]);
        Assert.Empty(PlanningRules.Validate(fast));
        Assert.Equal(300, (long)PlanningRules.RunSeconds(TimeSpan.FromMilliseconds(300), 1000));
        Assert.Equal(1, (long)PlanningRules.RunSeconds(TimeSpan.FromMilliseconds(300), 1));
    }
}
