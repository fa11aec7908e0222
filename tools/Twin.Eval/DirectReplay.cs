using System.Collections.Immutable;
using Twin.Grains.Domain;
using Twin.Grains.Infrastructure;
using Twin.Grains.Maintenance;
using Twin.Machines;

namespace Twin.Eval;

/// <summary>
/// <c>--direct</c>: the same rules the machine twin runs (<see cref="MachineRules"/> and
/// <see cref="TicketRules"/>), called in this process without a gateway, for quick experiments.
/// The published figures come from the HTTP replay; both give the same scores.
/// </summary>
public static class DirectReplay
{
    public static ReplayResult Replay(LabelledSeries series, MachineTwinOptions options)
    {
        var state = new MachineState();
        var desks = new Dictionary<FaultKind, TicketDeskState>();
        var scores = new double[series.Times.Count];
        var points = new List<HistoryPoint>();
        for (var i = 0; i < series.Times.Count; i++)
        {
            var readings = ImmutableArray.CreateBuilder<SensorReading>();
            for (var c = 0; c < series.Sensors.Count; c++)
            {
                if (double.IsFinite(series.Rows[i][c]))
                {
                    readings.Add(new SensorReading(series.Sensors[c], series.Rows[i][c], null));
                }
            }

            points.Clear();
            MachineRules.Apply(state, new TelemetryMessage(i + 1, series.Times[i], readings.ToImmutable()), options, points, out _);
            // The machine score series has a deadband: a row without a point scored what the last point said.
            var stored = points.Where(p => p.Sensor == MachineRules.MachineScoreSeries).Select(p => (double?)p.AnomalyScore).FirstOrDefault();
            scores[i] = stored ?? (i > 0 ? scores[i - 1] : 0);
            foreach (var report in state.Outbox.Select(e => e.Message).OfType<Twin.Grains.Infrastructure.FaultMessage>().Select(f => f.Report))
            {
                if (!desks.TryGetValue(report.Kind, out var desk))
                {
                    desks[report.Kind] = desk = new TicketDeskState();
                }

                TicketRules.Report(desk, report with { Machine = "m" }, series.Times[i]);
            }

            state.Outbox.Clear();
        }

        var tickets = desks.SelectMany(d => d.Value.Tickets.Select(t => new TicketTrace(
            $"m.{d.Key}.{t.Number}",
            d.Key.ToString(),
            t.Evidence.Min(e => e.Time),
            t.Status is Twin.Maintenance.TicketStatus.Resolved or Twin.Maintenance.TicketStatus.Closed ? t.Evidence.Max(e => e.Time) : null))).ToList();
        return new ReplayResult(scores, tickets);
    }
}
