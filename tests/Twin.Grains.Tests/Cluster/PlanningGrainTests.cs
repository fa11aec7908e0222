using System.Diagnostics;
using Twin.Machines;
using Twin.Scheduling;
using Twin.WorkOrders;

namespace Twin.Grains.Tests.Cluster;

/// <summary>The planner hears the twins through their outboxes and answers its callers while CP-SAT searches.</summary>
[Collection(ClusterCollection.Name)]
public class PlanningGrainTests(ClusterFixture fixture)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly string _factory = "plan-" + Guid.NewGuid().ToString("N")[..8];

    private IPlanningGrain Planner => fixture.Client.GetGrain<IPlanningGrain>(_factory);

    private async Task<PlanSnapshot> PlanWhenAsync(Func<PlanSnapshot, bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var plan = await Planner.GetPlanAsync();
            if (condition(plan))
            {
                return plan;
            }

            if (clock.Elapsed > Deadline)
            {
                throw new TimeoutException($"{what}: not seen within {Deadline.TotalSeconds} s; plan {plan.Version} with {plan.Orders.Length} orders");
            }

            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Work_orders_reach_the_plan_through_their_outbox_and_leave_it_when_cancelled()
    {
        await Planner.DefineRoutingAsync(new Routing("gear", [new RoutingStep("10", ["hob"], TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(1))]));
        var order = fixture.Client.GetGrain<IWorkOrderGrain>(TwinKey.Compose(_factory, "WO-1"));
        await order.CreateAsync(new WorkOrderDefinition("gear", 20, fixture.Clock.GetUtcNow().AddHours(1), [], Priority: 3));

        var plan = await PlanWhenAsync(p => p.Orders.Length == 1 && !p.Replanning, "WO-1 planned");
        var op = Assert.Single(plan.Operations);
        Assert.Equal(("WO-1", "hob", TimeSpan.FromMinutes(30)), (op.WorkOrder, op.Machine, op.End - op.Start));
        Assert.False(plan.Orders[0].Late);
        Assert.Contains("WO-1: work order created", plan.Last!.Triggers);

        await order.TransitionAsync(WorkOrderStatus.Cancelled, "erp", "customer cancelled");
        var after = await PlanWhenAsync(p => p.Orders.IsEmpty && !p.Replanning, "WO-1 gone from the plan");
        Assert.Contains("WO-1: work order cancelled", after.Last!.Triggers);
        Assert.Contains("hob", after.Last.Machines);
    }

    [Fact]
    public async Task A_predicted_failure_reserves_a_maintenance_window_until_its_ticket_is_resolved()
    {
        var now = fixture.Clock.GetUtcNow();
        await Planner.DefineRoutingAsync(new Routing("shaft", [new RoutingStep("10", ["lathe"], TimeSpan.Zero, TimeSpan.FromMinutes(1))]));
        await fixture.Client.GetGrain<IWorkOrderGrain>(TwinKey.Compose(_factory, "WO-1")).CreateAsync(new WorkOrderDefinition("shaft", 240, null, []));
        var free = await PlanWhenAsync(p => p.Orders.Length == 1 && !p.Replanning, "WO-1 planned");
        Assert.Equal(now.AddHours(4), free.Orders[0].ProjectedCompletion);

        // The ticket desk of lathe's predicted failures opens a ticket: a window from 1 h to 3 h after it opened.
        var desk = fixture.Client.GetGrain<Twin.Maintenance.IMaintenanceTicketGrain>(new Twin.Maintenance.TicketDeskKey(_factory, "lathe", FaultKind.Predicted).GrainKey);
        await desk.ReportAsync(new Twin.Maintenance.FaultReport("p1", "lathe", FaultKind.Predicted, new Twin.Maintenance.FaultEvidence(now, "vibration", 7.1, 1)));
        var reserved = await PlanWhenAsync(p => p.Version > free.Version && !p.Replanning, "a re-plan after the prediction");
        var lathe = await Planner.GetDispatchAsync("lathe");

        // Four hours in one piece cannot run around the window (and so is not frozen either): it waits for the window's end.
        Assert.All(lathe.Operations, o => Assert.True(o.End <= now.AddHours(1) || o.Start >= now.AddHours(3), $"{o.Start:t}–{o.End:t} is in the window"));
        Assert.Equal(now.AddHours(7), reserved.Orders[0].ProjectedCompletion);
        Assert.Contains(reserved.Last!.Triggers, t => t.Contains("predicted failure", StringComparison.Ordinal));

        await desk.MoveAsync(1, Twin.Maintenance.TicketStatus.Resolved, "tech", "bearing replaced");
        var released = await PlanWhenAsync(p => p.Version > reserved.Version && !p.Replanning, "a re-plan after the ticket was resolved");
        Assert.Contains(released.Last!.Triggers, t => t.Contains("window released", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_planner_answers_while_a_solve_runs()
    {
        // Fifteen products, each through ten machines in an order of its own: a job shop CP-SAT does
        // not prove optimal within its time limit, so the solve takes the whole of it.
        var random = new Random(7);
        var machines = Enumerable.Range(0, 10).Select(m => $"m{m}").ToList();
        for (var p = 0; p < 15; p++)
        {
            var steps = machines.OrderBy(_ => random.Next()).Select((m, i) => new RoutingStep($"{i}", [m], TimeSpan.Zero, TimeSpan.FromSeconds(random.Next(10, 100)))).ToList();
            await Planner.DefineRoutingAsync(new Routing($"p{p}", [.. steps]));
        }

        for (var p = 0; p < 15; p++)
        {
            await fixture.Client.GetGrain<IWorkOrderGrain>(TwinKey.Compose(_factory, $"WO-{p}")).CreateAsync(new WorkOrderDefinition($"p{p}", 60, null, []));
        }

        // While it plans, reads come back at once (the search runs off the grain's turn).
        var latencies = new List<TimeSpan>();
        var sawReplanning = false;
        var clock = Stopwatch.StartNew();
        PlanSnapshot plan;
        do
        {
            var call = Stopwatch.StartNew();
            plan = await Planner.GetPlanAsync();
            await Planner.GetRoutingsAsync();
            latencies.Add(call.Elapsed);
            sawReplanning |= plan.Replanning;
            await Task.Delay(100);
        }
        while ((plan.Replanning || plan.Orders.Length < 15) && clock.Elapsed < Deadline);

        Assert.True(sawReplanning, "never saw the planner at work");
        Assert.Equal(15, plan.Orders.Length);
        Assert.Equal(150, plan.Operations.Length);
        // How many reads fit depends on the machine's load, not on the planner: two are enough to have read during the search.
        Assert.True(latencies.Count >= 2, $"only {latencies.Count} reads during the solve");
        Assert.True(latencies.Max() < TimeSpan.FromSeconds(1), $"slowest read {latencies.Max().TotalMilliseconds:0} ms");
    }

    [Fact]
    public async Task A_trickle_of_signals_faster_than_a_solve_still_gets_plans_applied()
    {
        // The job shop of the test above: every solve takes the whole time limit (4 s by default).
        var random = new Random(11);
        var machines = Enumerable.Range(0, 10).Select(m => $"m{m}").ToList();
        for (var p = 0; p < 15; p++)
        {
            var steps = machines.OrderBy(_ => random.Next()).Select((m, i) => new RoutingStep($"{i}", [m], TimeSpan.Zero, TimeSpan.FromSeconds(random.Next(10, 100)))).ToList();
            await Planner.DefineRoutingAsync(new Routing($"p{p}", [.. steps]));
        }

        for (var p = 0; p < 15; p++)
        {
            await Planner.SignalAsync(Created($"WO-{p}", $"p{p}", 60));
        }

        var first = await PlanWhenAsync(p => p.Orders.Length == 15 && !p.Replanning, "the 15 orders planned");
        var interval = TimeSpan.FromSeconds(1);
        Assert.True(first.Last!.Elapsed > 2 * interval, $"the solve took {first.Last.Elapsed.TotalSeconds:0.0} s: too quick for signals every {interval.TotalSeconds} s to overtake it");

        // A new small order every second for sixteen seconds (four time limits): each solve is
        // overtaken by the next signal. Plans must still be applied while they keep coming.
        var trickle = Stopwatch.StartNew();
        for (var i = 0; i < 16; i++)
        {
            await Planner.SignalAsync(Created($"T-{i}", $"p{i % 15}", 1));
            var next = interval * (i + 1) - trickle.Elapsed;
            if (next > TimeSpan.Zero)
            {
                await Task.Delay(next);
            }
        }

        var during = await Planner.GetPlanAsync();
        var history = await Planner.GetHistoryAsync();
        Assert.True(during.Version > first.Version, $"no plan applied during {trickle.Elapsed.TotalSeconds:0} s of signals every {interval.TotalSeconds} s (plan {during.Version})");
        Assert.Contains(history, h => h.Version > first.Version && h.Triggers.Any(t => t.StartsWith("T-", StringComparison.Ordinal)));

        // And the last signal's effect is in force within a few time limits of it.
        var caughtUp = await PlanWhenAsync(p => !p.Replanning && p.Orders.Any(o => o.WorkOrder == "T-15"), "the last order of the trickle planned");
        Assert.Equal(31, caughtUp.Orders.Length);
        Assert.True(trickle.Elapsed < TimeSpan.FromSeconds(16 + 20), $"caught up {trickle.Elapsed.TotalSeconds - 16:0.0} s after the last signal");

        PlanningSignal Created(string order, string product, long quantity) => new(
            $"order:{order}:1", PlanningSignalKind.OrderChanged, order, fixture.Clock.GetUtcNow(), "work order created",
            new OrderDemand(order, 1, product, quantity, 0, null, WorkOrderStatus.Released, [], 1, null));
    }

    [Fact]
    public async Task Every_machines_calendar_and_every_breakdown_reach_the_planner()
    {
        await Planner.DefineRoutingAsync(new Routing("pin", [new RoutingStep("10", ["k1", "k2"], TimeSpan.Zero, TimeSpan.FromMinutes(1))]));
        await fixture.Client.GetGrain<IWorkOrderGrain>(TwinKey.Compose(_factory, "WO-1")).CreateAsync(new WorkOrderDefinition("pin", 10, null, []));
        var first = await PlanWhenAsync(p => p.Orders.Length == 1 && !p.Replanning, "WO-1 planned");

        // Two machines get their calendars (at one definition version each): both must count.
        var day = new ShiftCalendar([new Shift("day", new TimeOnly(6, 0), new TimeOnly(14, 0))], [], TimeSpan.Zero);
        foreach (var machine in new[] { "k1", "k2" })
        {
            await fixture.Client.GetGrain<IMachineGrain>(TwinKey.Compose(_factory, machine)).DefineAsync(new MachineDefinition(machine, System.Collections.Immutable.ImmutableDictionary<string, SensorLimit>.Empty, Calendar: day));
        }

        var clock = Stopwatch.StartNew();
        List<string> triggers;
        do
        {
            await Task.Delay(50);
            triggers = [.. (await Planner.GetHistoryAsync()).SelectMany(h => h.Triggers).Where(t => t.Contains("shift calendar set", StringComparison.Ordinal))];
        }
        while (triggers.Count < 2 && clock.Elapsed < Deadline);

        Assert.Contains("k1: shift calendar set", triggers);
        Assert.Contains("k2: shift calendar set", triggers);
        var calendars = await PlanWhenAsync(p => !p.Replanning, "the calendars planned");

        // The same machine breaks down twice: both breakdowns re-plan.
        var k1 = fixture.Client.GetGrain<IMachineGrain>(TwinKey.Compose(_factory, "k1"));
        var t0 = fixture.Clock.GetUtcNow();
        var downs = 0;
        foreach (var (seq, state) in new[] { (1L, MachineRunState.Down), (2L, MachineRunState.Running), (3L, MachineRunState.Down) })
        {
            var before = (await Planner.GetPlanAsync()).Version;
            await k1.IngestAsync([new StatusMessage(seq, t0.AddSeconds(seq), state)]);
            var after = await PlanWhenAsync(p => p.Version > before && !p.Replanning, $"a re-plan after status {seq}");
            downs += after.Last!.Triggers.Count(t => t.Contains("machine down", StringComparison.Ordinal));
        }

        Assert.Equal(2, downs);
        Assert.True(calendars.Version > first.Version);
    }

    [Fact]
    public async Task A_re_plan_with_nothing_changed_moves_nothing_and_changes_no_dispatch_list()
    {
        await Planner.DefineRoutingAsync(new Routing("nut", [new RoutingStep("10", ["n1"], TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(1)), new RoutingStep("20", ["n2"], TimeSpan.Zero, TimeSpan.FromMinutes(1))]));
        await fixture.Client.GetGrain<IWorkOrderGrain>(TwinKey.Compose(_factory, "WO-1")).CreateAsync(new WorkOrderDefinition("nut", 30, null, []));
        var first = await PlanWhenAsync(p => p.Orders.Length == 1 && !p.Replanning, "WO-1 planned");

        // A fraction of a second later, planned again with nothing new: every start stays, no list changed.
        var plan = first;
        try
        {
            for (var i = 0; i < 3; i++)
            {
                fixture.Clock.Advance(TimeSpan.FromMilliseconds(370));
                await Planner.ReplanAsync("nothing new");
                var again = await PlanWhenAsync(p => p.Version > plan.Version && !p.Replanning, $"re-plan {i + 1}");
                Assert.Empty(again.Last!.Machines);
                Assert.Equal(first.Operations.Select(o => (o.Machine, o.Start, o.End)), again.Operations.Select(o => (o.Machine, o.Start, o.End)));
                plan = again;
            }
        }
        finally
        {
            // The collection's other tests count from whole seconds of the shared clock.
            fixture.Clock.Advance(TimeSpan.FromMilliseconds(890));
        }
    }
}
