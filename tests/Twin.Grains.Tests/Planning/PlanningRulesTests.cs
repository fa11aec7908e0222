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
}
