using System.Collections.Immutable;
using Twin.Grains.Domain;
using Twin.Machines;

namespace Twin.Grains.Tests.Domain;

public class OeeMathTests
{
    private static readonly ShiftCalendar TwoShifts = new(
        [new Shift("early", new TimeOnly(6, 0), new TimeOnly(14, 0)), new Shift("late", new TimeOnly(14, 0), new TimeOnly(22, 0))],
        [new PlannedStop(new TimeOnly(10, 0), new TimeOnly(10, 30), "break"), new PlannedStop(new TimeOnly(18, 0), new TimeOnly(18, 30), "break")],
        TimeSpan.FromHours(1));

    [Fact]
    public void Planned_busy_time_is_shift_time_minus_planned_stops_in_the_calendars_local_time()
    {
        // 04:00–12:00 UTC is 05:00–13:00 local: shift from 06:00 (7 h) minus the 10:00 break (0.5 h).
        var from = new DateTimeOffset(2026, 11, 26, 4, 0, 0, TimeSpan.Zero);
        Assert.Equal(6.5 * 3600, OeeMath.PlannedSeconds(TwoShifts, from, from.AddHours(8)), 3);

        // Across midnight: 20:00–06:00 local has only 20:00–22:00 planned.
        var evening = new DateTimeOffset(2026, 11, 26, 19, 0, 0, TimeSpan.Zero);
        Assert.Equal(2 * 3600, OeeMath.PlannedSeconds(TwoShifts, evening, evening.AddHours(10)), 3);

        // No calendar: every hour is planned.
        Assert.Equal(3600, OeeMath.PlannedSeconds(null, from, from.AddHours(1)), 3);
    }

    [Fact]
    public void The_current_shift_is_found_in_local_time()
    {
        var now = new DateTimeOffset(2026, 11, 26, 14, 30, 0, TimeSpan.Zero); // 15:30 local
        Assert.Equal(new DateTimeOffset(2026, 11, 26, 13, 0, 0, TimeSpan.Zero), OeeMath.CurrentShift(TwoShifts, now));
        Assert.Null(OeeMath.CurrentShift(TwoShifts, new DateTimeOffset(2026, 11, 26, 23, 0, 0, TimeSpan.Zero)));
    }

    [Fact]
    public void Machine_OEE_by_ISO_22400_over_a_shift_with_a_break()
    {
        var ledger = new OeeLedger();
        var shiftStart = new DateTimeOffset(2026, 11, 26, 5, 0, 0, TimeSpan.Zero); // 06:00 local
        // Runs 06:00–09:00, down 09:00–09:30, runs 09:30–10:00, stops for the break, runs 10:30–12:00.
        ledger.Status(shiftStart, MachineRunState.Running);
        ledger.Status(shiftStart.AddHours(3), MachineRunState.Down);
        ledger.Status(shiftStart.AddHours(3.5), MachineRunState.Running);
        ledger.Status(shiftStart.AddHours(4), MachineRunState.Idle);
        ledger.Status(shiftStart.AddHours(4.5), MachineRunState.Running);
        ledger.Status(shiftStart.AddHours(6), MachineRunState.Idle);
        ledger.Parts(shiftStart.AddHours(1), 800, 20);
        ledger.Parts(shiftStart.AddHours(5), 580, 0);

        var now = shiftStart.AddHours(6);
        var windows = OeeMath.Windows(ledger, TwoShifts, TimeSpan.FromSeconds(15), now, TimeSpan.FromMinutes(5));
        var shift = Assert.Single(windows, w => w.Window == "shift");

        // Planned 6 h − 0.5 h break = 19,800 s; run 3 + 0.5 + 1.5 = 5 h = 18,000 s.
        Assert.Equal(19800, shift.PlannedSeconds, 0);
        Assert.Equal(18000, shift.RunSeconds, 0);
        Assert.Equal(18000.0 / 19800, shift.Availability!.Value, 6);
        Assert.Equal(15.0 * 1400 / 18000, shift.Performance!.Value, 6);
        Assert.Equal(1380.0 / 1400, shift.Quality!.Value, 6);
        Assert.Equal(15.0 * 1380 / 19800, shift.Oee!.Value, 6);
    }

    [Fact]
    public void A_machine_not_heard_from_is_not_timed_as_running()
    {
        var ledger = new OeeLedger();
        var t0 = new DateTimeOffset(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);
        ledger.Status(t0, MachineRunState.Running);
        ledger.Heard(t0.AddMinutes(10), TimeSpan.FromMinutes(1));

        var totals = ledger.Sum(t0, t0.AddHours(1), TimeSpan.FromMinutes(1));

        // Silent from 08:00 to 08:10: only the minute after each message counts (the offline
        // timeout), not the ten minutes nobody heard from it.
        Assert.Equal(2 * 60, totals.RunSeconds, 0);
    }
}
