using Twin.Grains.Domain;
using Twin.Machines;
using Twin.Quality;

namespace Twin.Grains.Quality;

/// <summary>How an inspection becomes a record: its window on the machine, its verdict, its shift. Pure.</summary>
public static class InspectionRules
{
    /// <summary>The record of an inspection on a machine.</summary>
    /// <param name="lastInspection">The previous inspection's event time on the machine.</param>
    /// <param name="currentWorkOrder">The machine's current work order, for a message that names none.</param>
    public static InspectionRecord Record(
        string id,
        string machine,
        QualityMessage message,
        DateTimeOffset? lastInspection,
        ShiftCalendar? calendar,
        string? currentWorkOrder,
        TimeSpan partWindow,
        TimeSpan maxPartWindow)
    {
        var ts = message.Timestamp;
        var start = message.Start
            ?? (lastInspection is { } last && last < ts && ts - last <= maxPartWindow ? last : ts - partWindow);
        var measured = message.Measurements.Select(m => new MeasuredValue(m.Characteristic, m.Value, m.Spec.IsOutside(m.Value))).ToList();
        var defect = message.Defect ?? measured.Where(m => m.OutOfSpec).Select(m => InspectionRecord.OutOfSpecCode(m.Characteristic)).FirstOrDefault();
        return new InspectionRecord(id, machine, start, ts, message.Part, message.Batch, message.WorkOrder ?? currentWorkOrder, defect, message.Reinspection, [.. measured], ShiftAt(calendar, ts));
    }

    /// <summary>The name of the calendar's shift running at <paramref name="time"/>; null without a calendar or between shifts.</summary>
    public static string? ShiftAt(ShiftCalendar? calendar, DateTimeOffset time)
    {
        if (calendar is null || calendar.Shifts.IsDefaultOrEmpty)
        {
            return null;
        }

        foreach (var shift in calendar.Shifts)
        {
            foreach (var (start, end) in OeeMath.Occurrences(calendar, [(shift.Start, shift.End)], time, time.AddTicks(1)))
            {
                if (start <= time && time < end)
                {
                    return shift.Name;
                }
            }
        }

        return null;
    }
}
