using System.Collections.Immutable;
using Twin.Bins;
using Twin.Grains.Quality;
using Twin.Kpis;
using Twin.Lines;
using Twin.Maintenance;
using Twin.WorkOrders;

namespace Twin.Grains.Kpis;

[GenerateSerializer, Alias("twin.FactoryKpiState")]
public sealed class FactoryKpiState
{
    /// <summary>The one-time rebuild from the factory's twins has run (or found nothing to rebuild).</summary>
    [Id(0)] public bool Rebuilt { get; set; }

    /// <summary>Latest summary per ticket desk (<c>{machine}.{kind}</c>).</summary>
    [Id(1)] public Dictionary<string, TicketDeskKpi> Desks { get; set; } = [];

    /// <summary>Work orders with a due date that are neither completed nor cancelled.</summary>
    [Id(2)] public Dictionary<string, WorkOrderKpi> Orders { get; set; } = [];

    /// <summary>Orders seen completed or cancelled lately, so a late-arriving older report cannot bring them back.</summary>
    [Id(3)] public List<string> ClosedOrders { get; set; } = [];

    [Id(4)] public Dictionary<string, BinKpi> Bins { get; set; } = [];

    [Id(5)] public Dictionary<string, LineKpiReport> Lines { get; set; } = [];

    /// <summary>The planner's latest report.</summary>
    [Id(6)] public PlanKpi? Plan { get; set; }

    /// <summary>Latest recent-hours report per machine's inspection log.</summary>
    [Id(7)] public Dictionary<string, QualityKpiReport> Quality { get; set; } = [];
}

/// <summary>
/// The factory KPIs from the summaries the twins report. Pure. Every summary replaces the one
/// kept for its source when its version is newer, so reports are idempotent and a reordered old
/// one changes nothing; what depends on time passing (ticket ages, lateness, coverage) is
/// evaluated when read.
/// </summary>
public static class KpiRules
{
    /// <summary>At most this many open orders with a due date are kept; beyond, the latest due go first.</summary>
    public const int OrdersKept = 10_000;
    public const int ClosedOrdersRemembered = 1_000;

    public static bool IsOpen(TicketStatus status) => status is TicketStatus.Open or TicketStatus.Acknowledged or TicketStatus.InProgress;

    public static bool Apply(FactoryKpiState state, TicketDeskKpi report)
    {
        if (state.Desks.TryGetValue(report.Desk, out var kept) && kept.Version >= report.Version)
        {
            return false;
        }

        state.Desks[report.Desk] = report;
        return true;
    }

    public static bool Apply(FactoryKpiState state, BinKpi report)
    {
        if (state.Bins.TryGetValue(report.Bin, out var kept) && kept.Version >= report.Version)
        {
            return false;
        }

        state.Bins[report.Bin] = report;
        return true;
    }

    public static bool Apply(FactoryKpiState state, PlanKpi report)
    {
        if (state.Plan is { } kept && kept.Version >= report.Version)
        {
            return false;
        }

        state.Plan = report;
        return true;
    }

    public static bool Apply(FactoryKpiState state, QualityKpiReport report)
    {
        if (state.Quality.TryGetValue(report.Machine, out var kept) && kept.Version >= report.Version)
        {
            return false;
        }

        state.Quality[report.Machine] = report;
        return true;
    }

    public static bool Apply(FactoryKpiState state, LineKpiReport report)
    {
        if (state.Lines.TryGetValue(report.Line, out var kept) && kept.Version >= report.Version)
        {
            return false;
        }

        state.Lines[report.Line] = report;
        return true;
    }

    public static bool Apply(FactoryKpiState state, WorkOrderKpi report)
    {
        if (state.ClosedOrders.Contains(report.Id))
        {
            return false;
        }

        var known = state.Orders.TryGetValue(report.Id, out var kept);
        if (known && kept!.Version >= report.Version)
        {
            return false;
        }

        if (report.Status is WorkOrderStatus.Completed or WorkOrderStatus.Cancelled)
        {
            // Terminal: it can never be late again.
            state.Orders.Remove(report.Id);
            state.ClosedOrders.Add(report.Id);
            if (state.ClosedOrders.Count > ClosedOrdersRemembered)
            {
                state.ClosedOrders.RemoveRange(0, state.ClosedOrders.Count - ClosedOrdersRemembered);
            }

            return true;
        }

        if (report.Due is null)
        {
            return state.Orders.Remove(report.Id);
        }

        state.Orders[report.Id] = report;
        if (state.Orders.Count > OrdersKept)
        {
            state.Orders.Remove(state.Orders.Values.MaxBy(o => o.Due)!.Id);
        }

        return true;
    }

    /// <summary>Whether a work order's change is worth a report: anything but progress, or progress by a percent or more.</summary>
    public static bool WorthReporting(WorkOrderKpi? last, WorkOrderKpi now) =>
        last is null
        || last.Status != now.Status
        || last.Due != now.Due
        || last.Product != now.Product
        || Math.Abs(now.Progress - last.Progress) >= 0.01;

    public static FactoryKpiSnapshot Read(FactoryKpiState state, string factory, DateTimeOffset now)
    {
        var all = state.Desks.Values.ToList();
        var open = all.SelectMany(d => d.OpenSince).Select(opened => now - opened).ToList();

        // Repairs and failures are the machines' own: quality desks (SPC signals) count as open tickets only.
        var desks = all.Where(d => !d.Quality).ToList();
        var ages = new OpenTicketAges(
            open.Count(a => a < TimeSpan.FromHours(1)),
            open.Count(a => a >= TimeSpan.FromHours(1) && a < TimeSpan.FromHours(8)),
            open.Count(a => a >= TimeSpan.FromHours(8) && a < TimeSpan.FromHours(24)),
            open.Count(a => a >= TimeSpan.FromHours(24)));

        // MTTR over every resolved ticket; MTBF per machine (between its own openings), averaged.
        var resolved = desks.Sum(d => d.Resolved);
        var mtbf = desks.GroupBy(d => d.Machine, StringComparer.Ordinal)
            .Select(g => Reliability(g.Key, g).MtbfHours)
            .OfType<double>()
            .ToList();

        return new FactoryKpiSnapshot(
            factory,
            now,
            [.. state.Lines.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Value)],
            open.Count,
            ages,
            resolved > 0 ? desks.Sum(d => d.RepairMinutes) / resolved : null,
            mtbf.Count > 0 ? mtbf.Average() : null,
            [.. state.Bins.OrderBy(b => b.Key, StringComparer.Ordinal).Select(b => Coverage(b.Value, now)).OrderBy(c => c.Days ?? double.MaxValue)],
            [.. state.Orders.Values.Where(o => o.Due is { } due && due < now).OrderBy(o => o.Due).ThenBy(o => o.Id, StringComparer.Ordinal)],
            state.Plan,
            state.Quality.Count > 0 ? QualityFigures(state.Quality.Values, now, TimeSpan.FromHours(24)) : null);
    }

    /// <summary>
    /// The quality figures over the hours of <paramref name="window"/> that end with the current one
    /// (event time): sums of the machines' hourly buckets, so a read costs the same however many parts there were.
    /// </summary>
    public static QualityKpis QualityFigures(IEnumerable<QualityKpiReport> reports, DateTimeOffset now, TimeSpan window)
    {
        var from = QualityLedger.HourOf(now) - window + TimeSpan.FromHours(1);
        long inspected = 0, firstPass = 0, firstPassGood = 0, scrap = 0;
        var defects = new Dictionary<string, long>(StringComparer.Ordinal);
        var machines = new List<ScrapFigure>();
        var shifts = new List<ScrapFigure>();
        foreach (var report in reports.OrderBy(r => r.Machine, StringComparer.Ordinal))
        {
            long machineInspected = 0, machineScrap = 0;
            var byShift = new SortedDictionary<string, (long Inspected, long Scrap)>(StringComparer.Ordinal);
            foreach (var bucket in report.Buckets.Where(b => b.Hour >= from && b.Hour <= now))
            {
                machineInspected += bucket.Inspected;
                machineScrap += bucket.Scrap;
                firstPass += bucket.FirstPass;
                firstPassGood += bucket.FirstPassGood;
                foreach (var (code, count) in bucket.Defects)
                {
                    defects[code] = defects.GetValueOrDefault(code) + count;
                }

                foreach (var (shift, count) in bucket.Shifts)
                {
                    var (i, sc) = byShift.GetValueOrDefault(shift);
                    byShift[shift] = (i + count.Inspected, sc + count.Scrap);
                }
            }

            if (machineInspected == 0)
            {
                continue;
            }

            inspected += machineInspected;
            scrap += machineScrap;
            machines.Add(new ScrapFigure(report.Machine, null, machineInspected, machineScrap, (double)machineScrap / machineInspected));
            shifts.AddRange(byShift.Select(s => new ScrapFigure(report.Machine, s.Key.Length == 0 ? null : s.Key, s.Value.Inspected, s.Value.Scrap, s.Value.Inspected > 0 ? (double)s.Value.Scrap / s.Value.Inspected : null)));
        }

        var total = defects.Values.Sum();
        var cumulative = 0L;
        var pareto = defects.OrderByDescending(d => d.Value).ThenBy(d => d.Key, StringComparer.Ordinal).Select(d =>
        {
            cumulative += d.Value;
            return new DefectShare(d.Key, d.Value, (double)d.Value / total, (double)cumulative / total);
        }).ToImmutableArray();
        return new QualityKpis(
            $"{window.TotalHours:0}h",
            inspected,
            firstPass > 0 ? (double)firstPassGood / firstPass : null,
            scrap,
            inspected > 0 ? (double)scrap / inspected : null,
            pareto,
            [.. machines],
            [.. shifts]);
    }

    /// <summary>MTTR and MTBF of a machine from the summaries of its desks.</summary>
    /// <remarks>
    /// The mean of the gaps between consecutive openings is (last − first) / (openings − 1), so a
    /// first and last opening and a count give the same figure as the list of openings.
    /// </remarks>
    public static MachineReliability Reliability(string machine, IEnumerable<TicketDeskKpi> desks)
    {
        var list = desks.ToList();
        var tickets = list.Sum(d => d.Tickets);
        var resolved = list.Sum(d => d.Resolved);
        var first = list.Select(d => d.FirstOpened).OfType<DateTimeOffset>().DefaultIfEmpty().Min();
        var last = list.Select(d => d.LastOpened).OfType<DateTimeOffset>().DefaultIfEmpty().Max();
        return new MachineReliability(
            machine,
            tickets,
            resolved,
            resolved > 0 ? list.Sum(d => d.RepairMinutes) / resolved : null,
            tickets > 1 ? (last - first).TotalHours / (tickets - 1) : null);
    }

    public static MachineReliability Reliability(FactoryKpiState state, string machine) =>
        Reliability(machine, state.Desks.Values.Where(d => !d.Quality && string.Equals(d.Machine, machine, StringComparison.Ordinal)));

    /// <summary>Consumption is the issues among the bin's recent movements, per day over the span they cover (at least an hour).</summary>
    public static BinCoverage Coverage(BinKpi bin, DateTimeOffset now)
    {
        if (bin.FirstIssue is not { } first)
        {
            return new BinCoverage(bin.Bin, bin.Sku, bin.Available, null, null);
        }

        var days = Math.Max((now - first).TotalDays, 1.0 / 24);
        var daily = (double)bin.Issued / days;
        return new BinCoverage(bin.Bin, bin.Sku, bin.Available, daily, daily > 0 ? (double)bin.Available / daily : null);
    }

    /// <summary>A desk's summary from its tickets (what <c>ListAsync</c> returns, or its state).</summary>
    public static TicketDeskKpi Desk(string desk, string machine, long version, IEnumerable<(DateTimeOffset OpenedAt, TicketStatus Status, IEnumerable<TicketStep> History)> tickets, bool quality = false)
    {
        var list = tickets.ToList();
        var repairs = list
            .Select(t => t.History.FirstOrDefault(h => h.Status == TicketStatus.Resolved)?.At - t.OpenedAt)
            .OfType<TimeSpan>()
            .Select(r => r.TotalMinutes)
            .ToList();
        return new TicketDeskKpi(
            desk,
            machine,
            version,
            list.Count,
            repairs.Count,
            repairs.Sum(),
            list.Count > 0 ? list.Min(t => t.OpenedAt) : null,
            list.Count > 0 ? list.Max(t => t.OpenedAt) : null,
            [.. list.Where(t => IsOpen(t.Status)).Select(t => t.OpenedAt)],
            quality);
    }

    public static TicketDeskKpi Desk(string desk, string machine, long version, IEnumerable<Ticket> tickets, bool quality = false) =>
        Desk(desk, machine, version, tickets.Select(t => (t.OpenedAt, t.Status, (IEnumerable<TicketStep>)t.History)), quality);

    /// <summary>A bin's summary from its recent movements.</summary>
    public static BinKpi Bin(string bin, long version, string? sku, decimal available, IEnumerable<MovementRecord> recent)
    {
        var issues = recent.Where(m => m.Kind == MovementKind.Issue).ToList();
        return new BinKpi(bin, version, sku, available, issues.Sum(m => Math.Abs(m.Quantity)), issues.Count > 0 ? issues.Min(m => m.Timestamp) : null);
    }

    public static BinKpi Bin(BinSnapshot bin) => Bin(bin.Id, bin.Version, bin.Sku, bin.Available, bin.RecentMovements);

    public static WorkOrderKpi WorkOrder(WorkOrderSnapshot order) =>
        new(order.Id, order.Version, order.Definition.Product, order.Definition.Due, order.Progress, order.Status);

    /// <summary>The shift window, or the last 8 hours without a calendar.</summary>
    public static LineKpiReport Line(LinePerformance line, long version, DateTimeOffset at)
    {
        var window = line.Windows.FirstOrDefault(w => w.Window == "shift") ?? line.Windows.FirstOrDefault(w => w.Window == "8h");
        return new LineKpiReport(line.Id, version, window?.Window ?? "8h", window?.Oee, window?.Availability, window?.Performance, window?.Quality, line.Bottleneck?.Machine, at);
    }
}
