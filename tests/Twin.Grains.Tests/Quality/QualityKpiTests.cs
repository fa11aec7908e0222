using Twin.Grains.Kpis;
using Twin.Grains.Quality;
using Twin.Kpis;
using Twin.Machines;
using Twin.Maintenance;
using Twin.Quality;

namespace Twin.Grains.Tests.Quality;

/// <summary>Inspection records, the hourly ledger and the factory's quality figures.</summary>
public class QualityKpiTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 8, 30, 0, TimeSpan.Zero);

    private static readonly ShiftCalendar Shifts = new(
        [new Shift("early", new TimeOnly(6, 0), new TimeOnly(14, 0)), new Shift("late", new TimeOnly(14, 0), new TimeOnly(22, 0))], [], TimeSpan.FromHours(1));

    private static QualityMessage Inspection(DateTimeOffset ts, double value, string? defect = null, bool reinspection = false, DateTimeOffset? start = null) =>
        new(1, ts, [new Measurement("bore", value, new SpecLimits(9.9, 10.1))], "P-1", null, null, defect, reinspection, start);

    [Fact]
    public void A_record_has_its_window_on_the_machine_its_verdict_and_its_shift()
    {
        var window = TimeSpan.FromMinutes(1);
        var max = TimeSpan.FromHours(1);

        // After an inspection 40 s earlier: the window starts there; 07:30 UTC is 08:30 local, the early shift.
        var record = InspectionRules.Record("r1", "m", Inspection(T0.AddHours(-1), 10.0), T0.AddHours(-1).AddSeconds(-40), Shifts, "WO-1", window, max);
        Assert.Equal(T0.AddHours(-1).AddSeconds(-40), record.Start);
        Assert.Null(record.Defect);
        Assert.Equal("early", record.Shift);
        Assert.Equal("WO-1", record.WorkOrder);

        // The previous inspection was two hours ago: the default window. Out of spec: its own code.
        var late = InspectionRules.Record("r2", "m", Inspection(T0.AddHours(6), 10.2), T0.AddHours(4), Shifts, null, window, max);
        Assert.Equal(T0.AddHours(6) - window, late.Start);
        Assert.Equal("out-of-spec.bore", late.Defect);
        Assert.True(late.Measurements[0].OutOfSpec);
        Assert.Equal("late", late.Shift);

        // A start given wins; a defect code given wins; no calendar, no shift.
        var given = InspectionRules.Record("r3", "m", Inspection(T0, 10.2, "burr", start: T0.AddMinutes(-5)), T0.AddSeconds(-10), null, null, window, max);
        Assert.Equal((T0.AddMinutes(-5), "burr", (string?)null), (given.Start, given.Defect, given.Shift));
    }

    private static InspectionRecord Part(DateTimeOffset at, string? defect, bool reinspection = false, string? shift = "early") =>
        new(Guid.NewGuid().ToString("N"), "m", at.AddMinutes(-1), at, null, null, null, defect, reinspection, [], shift);

    [Fact]
    public void The_ledger_counts_each_hour_and_keeps_the_recent_ones()
    {
        var hours = new List<QualityBucket>();
        Assert.True(QualityLedger.Add(hours, Part(T0, null)));
        Assert.True(QualityLedger.Add(hours, Part(T0.AddMinutes(10), "burr")));
        Assert.True(QualityLedger.Add(hours, Part(T0.AddMinutes(20), null, reinspection: true, shift: "late")));
        Assert.True(QualityLedger.Add(hours, Part(T0.AddHours(-2), "dent")));
        Assert.Equal([T0.AddHours(-2).AddMinutes(-30), T0.AddMinutes(-30)], hours.Select(h => h.Hour));
        var current = hours[1];
        Assert.Equal((3L, 2L, 1L, 1L), (current.Inspected, current.FirstPass, current.FirstPassGood, current.Scrap));
        Assert.Equal(1, current.Defects["burr"]);
        Assert.Equal(new QualityCount(2, 1), current.Shifts["early"]);
        Assert.Equal(new QualityCount(1, 0), current.Shifts["late"]);

        // 47 h later: the hours more than 48 h before the newest fall out; an older part is not counted.
        Assert.True(QualityLedger.Add(hours, Part(T0.AddHours(47), null)));
        Assert.Equal(2, hours.Count);
        Assert.False(QualityLedger.Add(hours, Part(T0.AddHours(-5), null)));
    }

    [Fact]
    public void The_factory_figures_sum_the_machines_hours_of_the_last_day()
    {
        var a = new List<QualityBucket>();
        var b = new List<QualityBucket>();
        foreach (var defect in new[] { null, null, "burr", "burr", "scratch" })
        {
            QualityLedger.Add(a, Part(T0, defect));
        }

        QualityLedger.Add(b, Part(T0, "burr", shift: "late"));
        QualityLedger.Add(b, Part(T0, null, shift: "late"));
        QualityLedger.Add(b, Part(T0.AddDays(-2), "dent")); // outside the day
        var state = new FactoryKpiState();
        Assert.True(KpiRules.Apply(state, new QualityKpiReport("press-1", 1, [.. a])));
        Assert.True(KpiRules.Apply(state, new QualityKpiReport("press-2", 3, [.. b])));
        Assert.False(KpiRules.Apply(state, new QualityKpiReport("press-2", 2, [])));

        var q = KpiRules.Read(state, "f", T0.AddMinutes(5)).Quality!;
        Assert.Equal(("24h", 7L, 4L), (q.Window, q.Inspected, q.Scrap));
        Assert.Equal(3.0 / 7, q.FirstPassYield!.Value, 12);
        Assert.Equal([("burr", 3L, 0.75, 0.75), ("scratch", 1L, 0.25, 1.0)], q.Pareto.Select(d => (d.Defect, d.Count, d.Share, d.Cumulative)));
        Assert.Equal([("press-1", (string?)null, 5L, 3L), ("press-2", null, 2L, 1L)], q.ByMachine.Select(m => (m.Machine, m.Shift, m.Inspected, m.Scrap)));
        Assert.Equal([("press-1", (string?)"early", 5L, 3L), ("press-2", "late", 2L, 1L)], q.ByShift.Select(m => (m.Machine, m.Shift, m.Inspected, m.Scrap)));
        Assert.Null(KpiRules.Read(new FactoryKpiState(), "f", T0).Quality);
    }

    [Fact]
    public void Quality_desks_count_as_open_tickets_but_not_in_mttr_or_mtbf()
    {
        var state = new FactoryKpiState();
        var opened = (T0, TicketStatus.Open, (IEnumerable<TicketStep>)[]);
        var resolved = (T0.AddHours(-2), TicketStatus.Resolved, (IEnumerable<TicketStep>)[new TicketStep(TicketStatus.Resolved, T0.AddHours(-1), "a", null)]);
        KpiRules.Apply(state, KpiRules.Desk("m.diameter.Nelson2", "m", 1, [opened, resolved], quality: true));
        var k = KpiRules.Read(state, "f", T0.AddMinutes(1));
        Assert.Equal(1, k.OpenTickets);
        Assert.Null(k.MttrMinutes);
        Assert.Equal(0, KpiRules.Reliability(state, "m").Tickets);
    }

    [Fact]
    public void A_quality_desk_key_names_its_characteristic_and_reads_back()
    {
        var desk = new TicketDeskKey("plant-1", "cnc.2", FaultKind.Nelson2, "bore_diameter");
        Assert.Equal("plant-1/cnc.2.bore_diameter.Nelson2", desk.GrainKey);
        Assert.Equal("cnc.2.bore_diameter.Nelson2.3", desk.TicketId(3));
        Assert.Equal(desk, TicketDeskKey.Parse(desk.GrainKey));
        Assert.True(TicketDeskKey.TryParseTicket("plant-1", "cnc.2.bore_diameter.Nelson2.3", out var read, out var number));
        Assert.Equal((desk, 3), (read, number));

        // A quality kind needs a characteristic; a machine fault has none.
        Assert.False(TicketDeskKey.TryParseTicket("plant-1", "cnc.Nelson2.1", out _, out _));
        Assert.True(TicketDeskKey.TryParseTicket("plant-1", "cnc.2.LimitHigh.1", out var fault, out _));
        Assert.Equal(new TicketDeskKey("plant-1", "cnc.2", FaultKind.LimitHigh), fault);
        Assert.Null(fault.Characteristic);
        Assert.Equal(FaultKind.Nelson8, SpcRules.Kind(8));
        Assert.Equal(3, SpcRules.Rule(FaultKind.Nelson3));
        Assert.False(SpcRules.IsSpc(FaultKind.Predicted));
        Assert.Equal([FaultKind.Nelson1, FaultKind.Nelson5], SpcRules.Kinds(0b1_0001).ToArray());
    }

    [Fact]
    public void Characteristic_keys_keep_machine_and_name_apart()
    {
        var key = new CharacteristicKey("f", "cnc.2", "bore");
        Assert.Equal("f/cnc.2/bore", key.GrainKey);
        Assert.Equal(key, CharacteristicKey.Parse(key.GrainKey));
        Assert.False(CharacteristicKey.TryParseId("f", "cnc-2/bo.re", out _));
        Assert.False(CharacteristicKey.TryParseId("f", "cnc-2", out _));
        Assert.False(CharacteristicKey.IsValidName(new string('a', 65), out _));
    }
}
