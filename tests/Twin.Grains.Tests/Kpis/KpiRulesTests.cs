using System.Collections.Immutable;
using Twin.Bins;
using Twin.Grains.Kpis;
using Twin.Kpis;
using Twin.Machines;
using Twin.Maintenance;
using Twin.WorkOrders;

namespace Twin.Grains.Tests.Kpis;

public class KpiRulesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);

    private static Ticket T(string machine, double hour, int? repairMinutes, TicketStatus? status = null) => new(
        "f", $"{machine}.LimitHigh.{hour}", machine, FaultKind.LimitHigh, status ?? (repairMinutes is null ? TicketStatus.Open : TicketStatus.Resolved), T0.AddHours(hour), 1, [],
        repairMinutes is null
            ? [new TicketStep(TicketStatus.Open, T0.AddHours(hour), null, null)]
            : [new TicketStep(TicketStatus.Open, T0.AddHours(hour), null, null), new TicketStep(TicketStatus.Resolved, T0.AddHours(hour).AddMinutes(repairMinutes.Value), "x", null)],
        1, 0);

    /// <summary>The computation the reliability endpoint did over the whole ticket list before the KPI grain (the oracle).</summary>
    private static (int Tickets, int Resolved, double? Mttr, double? Mtbf) OldReliability(IReadOnlyCollection<Ticket> tickets)
    {
        var repairs = tickets
            .Select(t => (t.OpenedAt, Resolved: t.History.FirstOrDefault(h => h.Status == TicketStatus.Resolved)?.At))
            .Where(t => t.Resolved is not null)
            .Select(t => (t.Resolved!.Value - t.OpenedAt).TotalMinutes)
            .ToList();
        var openings = tickets.Select(t => t.OpenedAt).Order().ToList();
        var gaps = openings.Zip(openings.Skip(1), (a, b) => (b - a).TotalHours).ToList();
        return (tickets.Count, repairs.Count, repairs.Count > 0 ? repairs.Average() : null, gaps.Count > 0 ? gaps.Average() : null);
    }

    private static FactoryKpiState StateOf(params (string Desk, Ticket[] Tickets)[] desks)
    {
        var state = new FactoryKpiState();
        foreach (var (desk, tickets) in desks)
        {
            Assert.True(KpiRules.Apply(state, KpiRules.Desk(desk, desk[..desk.LastIndexOf('.')], 1, tickets)));
        }

        return state;
    }

    [Fact]
    public void Mttr_averages_repairs_and_mtbf_averages_the_gaps_between_failures()
    {
        // The figures the gateway's test of the old computation asserted.
        var r = KpiRules.Reliability(StateOf(("m.LimitHigh", [T("m", 0, 30), T("m", 10, 90), T("m", 30, null)])), "m");
        Assert.Equal(3, r.Tickets);
        Assert.Equal(2, r.Resolved);
        Assert.Equal(60, r.MttrMinutes);
        Assert.Equal(15, r.MtbfHours);

        var none = KpiRules.Reliability(new FactoryKpiState(), "m");
        Assert.Equal((0, 0), (none.Tickets, none.Resolved));
        Assert.Null(none.MttrMinutes);
        Assert.Null(none.MtbfHours);
    }

    [Fact]
    public void Running_sums_over_desks_equal_the_old_computation_over_every_ticket()
    {
        var random = new Random(11);
        for (var run = 0; run < 200; run++)
        {
            // A machine with up to three fault kinds, tickets in any order, some resolved, one reopened.
            var desks = Enumerable.Range(0, random.Next(1, 4)).Select(k =>
            {
                var tickets = Enumerable.Range(0, random.Next(0, 8))
                    .Select(_ => T("m", random.NextDouble() * 500, random.Next(3) == 0 ? null : random.Next(1, 600)))
                    .ToArray();
                return ($"m.Kind{k}", tickets);
            }).ToArray();
            var all = desks.SelectMany(d => d.tickets).ToList();

            var expected = OldReliability(all);
            var actual = KpiRules.Reliability(StateOf(desks), "m");

            Assert.Equal(expected.Tickets, actual.Tickets);
            Assert.Equal(expected.Resolved, actual.Resolved);
            AssertClose(expected.Mttr, actual.MttrMinutes);
            AssertClose(expected.Mtbf, actual.MtbfHours);
        }
    }

    [Fact]
    public void Factory_mttr_is_over_every_repair_and_mtbf_the_average_of_machines_with_two_openings()
    {
        var a = new[] { T("a", 0, 30), T("a", 10, 90) };
        var b = new[] { T("b", 0, 10), T("b", 2, null), T("b", 8, null) };
        var c = new[] { T("c", 5, 20) };
        var state = StateOf(("a.LimitHigh", a), ("b.LimitHigh", b), ("c.LimitHigh", c));

        var kpis = KpiRules.Read(state, "f", T0.AddHours(9));

        AssertClose(OldReliability([.. a, .. b, .. c]).Mttr, kpis.MttrMinutes);
        AssertClose(new[] { OldReliability(a).Mtbf!.Value, OldReliability(b).Mtbf!.Value }.Average(), kpis.MtbfHours);
    }

    [Fact]
    public void Open_tickets_are_bucketed_by_age_at_read_time()
    {
        var state = StateOf(
            ("a.LimitHigh", [T("a", 0, 30), T("a", 8.5, null)]),
            ("a.Flatline", [T("a", 2, null, TicketStatus.Acknowledged)]),
            ("b.LimitHigh", [T("b", -20, null, TicketStatus.InProgress), T("b", -40, 5, TicketStatus.Closed)]));

        var at9 = KpiRules.Read(state, "f", T0.AddHours(9));
        Assert.Equal(3, at9.OpenTickets);
        Assert.Equal(new OpenTicketAges(1, 1, 0, 1), at9.OpenTicketsByAge);

        // Nothing reported since: the same tickets have aged.
        var later = KpiRules.Read(state, "f", T0.AddHours(20));
        Assert.Equal(new OpenTicketAges(0, 0, 2, 1), later.OpenTicketsByAge);
    }

    [Fact]
    public void Reports_are_idempotent_and_an_older_one_changes_nothing()
    {
        var state = new FactoryKpiState();
        var v2 = KpiRules.Desk("m.LimitHigh", "m", 2, [T("m", 0, 30)]);
        var v1 = KpiRules.Desk("m.LimitHigh", "m", 1, [T("m", 0, null)]);
        Assert.True(KpiRules.Apply(state, v2));
        Assert.False(KpiRules.Apply(state, v2));
        Assert.False(KpiRules.Apply(state, v1));
        Assert.Equal(0, KpiRules.Read(state, "f", T0).OpenTickets);

        var bin = new BinKpi("b", 5, "s", 10, 0, null);
        Assert.True(KpiRules.Apply(state, bin));
        Assert.False(KpiRules.Apply(state, bin with { Version = 4, Available = 99 }));
        Assert.Equal(10, KpiRules.Read(state, "f", T0).StockCoverage.Single().Available);
    }

    [Fact]
    public void An_order_becomes_late_by_time_passing_and_leaves_when_completed()
    {
        var state = new FactoryKpiState();
        var order = new WorkOrderKpi("wo-1", 1, "widget", T0.AddHours(1), 0.4, WorkOrderStatus.InProgress);
        Assert.True(KpiRules.Apply(state, order));
        KpiRules.Apply(state, new WorkOrderKpi("wo-0", 1, "widget", T0.AddMinutes(30), 0, WorkOrderStatus.Released));
        KpiRules.Apply(state, new WorkOrderKpi("wo-none", 1, "widget", null, 0, WorkOrderStatus.Released));

        Assert.Empty(KpiRules.Read(state, "f", T0).LateWorkOrders);
        Assert.Equal(["wo-0", "wo-1"], KpiRules.Read(state, "f", T0.AddHours(2)).LateWorkOrders.Select(o => o.Id));

        Assert.True(KpiRules.Apply(state, order with { Version = 3, Status = WorkOrderStatus.Completed, Progress = 1 }));
        Assert.False(KpiRules.Apply(state, order with { Version = 2 }));
        Assert.Equal(["wo-0"], KpiRules.Read(state, "f", T0.AddHours(2)).LateWorkOrders.Select(o => o.Id));
    }

    [Fact]
    public void Progress_under_a_percent_is_not_worth_a_report()
    {
        var last = new WorkOrderKpi("wo", 1, "p", T0, 0.100, WorkOrderStatus.InProgress);
        Assert.True(KpiRules.WorthReporting(null, last));
        Assert.False(KpiRules.WorthReporting(last, last with { Version = 2, Progress = 0.105 }));
        Assert.True(KpiRules.WorthReporting(last, last with { Version = 2, Progress = 0.12 }));
        Assert.True(KpiRules.WorthReporting(last, last with { Version = 2, Progress = 0.105, Status = WorkOrderStatus.Completed }));
        Assert.True(KpiRules.WorthReporting(last, last with { Version = 2, Due = T0.AddDays(1) }));
    }

    [Fact]
    public void Coverage_equals_the_old_computation_from_the_recent_movements()
    {
        var now = T0.AddDays(2);
        ImmutableArray<MovementRecord> recent =
        [
            new("r1", MovementKind.Receipt, 100, T0, 100),
            new("i1", MovementKind.Issue, -10, T0.AddHours(1), 90),
            new("i2", MovementKind.Issue, 30, T0.AddDays(1), 60),
        ];
        var snapshot = new BinSnapshot("f", "b", 3, "steel", 60, 0, 60, 10, 50, false, null, recent);

        var coverage = KpiRules.Coverage(KpiRules.Bin(snapshot), now);

        // Old: issues' absolute quantities over the days since the first issue (at least an hour).
        var days = (now - T0.AddHours(1)).TotalDays;
        Assert.Equal(40 / days, coverage.DailyConsumption!.Value, 9);
        Assert.Equal(60 / (40 / days), coverage.Days!.Value, 9);

        var quiet = KpiRules.Coverage(KpiRules.Bin(snapshot with { RecentMovements = [recent[0]] }), now);
        Assert.Null(quiet.DailyConsumption);
        Assert.Null(quiet.Days);

        // An issue just now spreads over at least an hour.
        var burst = KpiRules.Coverage(KpiRules.Bin(snapshot with { RecentMovements = [new("i", MovementKind.Issue, 5, now, 55)] }), now);
        Assert.Equal(5 * 24, burst.DailyConsumption!.Value, 9);
    }

    private static void AssertClose(double? expected, double? actual)
    {
        Assert.Equal(expected is null, actual is null);
        if (expected is { } e)
        {
            Assert.Equal(e, actual!.Value, 1e-6);
        }
    }
}
