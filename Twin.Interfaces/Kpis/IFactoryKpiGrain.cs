using System.Collections.Immutable;
using Twin.Scheduling;
using Twin.WorkOrders;

namespace Twin.Kpis;

/// <summary>
/// What one ticket desk (<c>{machine}.{kind}</c>) holds that the factory's KPIs need: counts and
/// running sums over its kept tickets, never the tickets themselves.
/// </summary>
/// <param name="Version">The desk's version: a report older than the one kept is ignored.</param>
/// <param name="RepairMinutes">Sum over resolved tickets of opened → first resolved, in minutes.</param>
/// <param name="FirstOpened">The earliest opening among the desk's tickets.</param>
/// <param name="LastOpened">The latest opening among the desk's tickets.</param>
/// <param name="OpenSince">When each ticket still open (open, acknowledged, in progress) was opened.</param>
/// <param name="Quality">A quality desk (an SPC rule on a characteristic): its tickets count as open tickets, not in MTTR or MTBF.</param>
[GenerateSerializer, Immutable, Alias("twin.TicketDeskKpi")]
public sealed record TicketDeskKpi(
    [property: Id(0)] string Desk,
    [property: Id(1)] string Machine,
    [property: Id(2)] long Version,
    [property: Id(3)] int Tickets,
    [property: Id(4)] int Resolved,
    [property: Id(5)] double RepairMinutes,
    [property: Id(6)] DateTimeOffset? FirstOpened,
    [property: Id(7)] DateTimeOffset? LastOpened,
    [property: Id(8)] ImmutableArray<DateTimeOffset> OpenSince,
    [property: Id(9)] bool Quality = false);

/// <summary>A work order's due date, status and progress, as lateness needs them.</summary>
/// <param name="Version">The order's version: a report older than the one kept is ignored.</param>
[GenerateSerializer, Immutable, Alias("twin.WorkOrderKpi")]
public sealed record WorkOrderKpi(
    [property: Id(0)] string Id,
    [property: Id(1)] long Version,
    [property: Id(2)] string Product,
    [property: Id(3)] DateTimeOffset? Due,
    [property: Id(4)] double Progress,
    [property: Id(5)] WorkOrderStatus Status);

/// <summary>A bin's available stock and the issues among its recent movements, for coverage.</summary>
/// <param name="Version">The bin's version: a report older than the one kept is ignored.</param>
/// <param name="Issued">Sum of the issued quantities among the recent movements (absolute).</param>
/// <param name="FirstIssue">The earliest of those issues; null when there were none.</param>
[GenerateSerializer, Immutable, Alias("twin.BinKpi")]
public sealed record BinKpi(
    [property: Id(0)] string Bin,
    [property: Id(1)] long Version,
    [property: Id(2)] string? Sku,
    [property: Id(3)] decimal Available,
    [property: Id(4)] decimal Issued,
    [property: Id(5)] DateTimeOffset? FirstIssue);

/// <summary>A line's OEE over the current shift (or the last 8 hours) and its bottleneck, as computed at <paramref name="At"/>.</summary>
/// <param name="Version">Rises with every computation of the line (its clock's ticks, kept strictly rising): a report older than the one kept is ignored.</param>
[GenerateSerializer, Immutable, Alias("twin.LineKpiReport")]
public sealed record LineKpiReport(
    [property: Id(0)] string Line,
    [property: Id(1)] long Version,
    [property: Id(2)] string Window,
    [property: Id(3)] double? Oee,
    [property: Id(4)] double? Availability,
    [property: Id(5)] double? Performance,
    [property: Id(6)] double? Quality,
    [property: Id(7)] string? Bottleneck,
    [property: Id(8)] DateTimeOffset At);

/// <summary>What the factory's schedule promises, as the planner reported it after its latest re-plan.</summary>
/// <param name="Version">The plan's version: an older report is ignored.</param>
/// <param name="OnTimeRate">Share of the planned orders with a due date projected on time.</param>
/// <param name="Stability">Mean share of operations that kept machine and start over the recent re-plans.</param>
/// <param name="ProjectedLate">Orders the plan projects to finish after their due date, latest first.</param>
[GenerateSerializer, Immutable, Alias("twin.PlanKpi")]
public sealed record PlanKpi(
    [property: Id(0)] long Version,
    [property: Id(1)] DateTimeOffset? PlannedAt,
    [property: Id(2)] int PlannedOrders,
    [property: Id(3)] double? OnTimeRate,
    [property: Id(4)] double? Stability,
    [property: Id(5)] ImmutableArray<OrderPromise> ProjectedLate);

/// <summary>Inspected parts and scrap of one kind (a shift of a machine).</summary>
[GenerateSerializer, Immutable, Alias("twin.QualityCount")]
public sealed record QualityCount(
    [property: Id(0)] long Inspected,
    [property: Id(1)] long Scrap);

/// <summary>One hour (event time) of a machine's inspections.</summary>
/// <param name="FirstPass">Inspections that were not re-inspections after rework.</param>
/// <param name="FirstPassGood">Of those, the parts that passed.</param>
/// <param name="Scrap">Parts that failed (a defect code, or a measurement outside its limits).</param>
/// <param name="Defects">Failed parts by defect code.</param>
/// <param name="Shifts">Inspections and scrap by the machine's shift (<c>""</c> outside a calendar).</param>
[GenerateSerializer, Immutable, Alias("twin.QualityBucket")]
public sealed record QualityBucket(
    [property: Id(0)] DateTimeOffset Hour,
    [property: Id(1)] long Inspected,
    [property: Id(2)] long FirstPass,
    [property: Id(3)] long FirstPassGood,
    [property: Id(4)] long Scrap,
    [property: Id(5)] ImmutableDictionary<string, long> Defects,
    [property: Id(6)] ImmutableDictionary<string, QualityCount> Shifts);

/// <summary>What one machine's inspection log holds that the factory's quality KPIs need: its recent hours.</summary>
/// <param name="Version">The log's version: a report older than the one kept is ignored.</param>
[GenerateSerializer, Immutable, Alias("twin.QualityKpiReport")]
public sealed record QualityKpiReport(
    [property: Id(0)] string Machine,
    [property: Id(1)] long Version,
    [property: Id(2)] ImmutableArray<QualityBucket> Buckets);

/// <summary>A defect code's share of the scrap: a bar of the Pareto chart.</summary>
/// <param name="Cumulative">Share of this code and every more frequent one.</param>
[GenerateSerializer, Immutable, Alias("twin.DefectShare")]
public sealed record DefectShare(
    [property: Id(0)] string Defect,
    [property: Id(1)] long Count,
    [property: Id(2)] double Share,
    [property: Id(3)] double Cumulative);

/// <summary>Scrap of a machine, or of one of its shifts (<paramref name="Shift"/> null for the machine's total).</summary>
[GenerateSerializer, Immutable, Alias("twin.ScrapFigure")]
public sealed record ScrapFigure(
    [property: Id(0)] string Machine,
    [property: Id(1)] string? Shift,
    [property: Id(2)] long Inspected,
    [property: Id(3)] long Scrap,
    [property: Id(4)] double? Rate);

/// <summary>Quality figures of a factory over a window: first-pass yield, scrap and its Pareto by defect code, scrap by machine and by shift.</summary>
/// <param name="Window">The hours the figures cover: <c>24h</c> is the current hour and the 23 before (event time).</param>
/// <param name="FirstPassYield">First-pass inspections that passed / first-pass inspections.</param>
[GenerateSerializer, Immutable, Alias("twin.QualityKpis")]
public sealed record QualityKpis(
    [property: Id(0)] string Window,
    [property: Id(1)] long Inspected,
    [property: Id(2)] double? FirstPassYield,
    [property: Id(3)] long Scrap,
    [property: Id(4)] double? ScrapRate,
    [property: Id(5)] ImmutableArray<DefectShare> Pareto,
    [property: Id(6)] ImmutableArray<ScrapFigure> ByMachine,
    [property: Id(7)] ImmutableArray<ScrapFigure> ByShift);

/// <summary>Open maintenance tickets by how long they have been open.</summary>
[GenerateSerializer, Immutable, Alias("twin.OpenTicketAges")]
public sealed record OpenTicketAges(
    [property: Id(0)] int UnderOneHour,
    [property: Id(1)] int OneToEightHours,
    [property: Id(2)] int EightToTwentyFourHours,
    [property: Id(3)] int OverADay);

/// <summary>How many days a bin's available stock lasts at its recent consumption.</summary>
[GenerateSerializer, Immutable, Alias("twin.BinCoverage")]
public sealed record BinCoverage(
    [property: Id(0)] string Bin,
    [property: Id(1)] string? Sku,
    [property: Id(2)] decimal Available,
    [property: Id(3)] double? DailyConsumption,
    [property: Id(4)] double? Days);

/// <summary>Plant-level indicators of a factory, evaluated at <paramref name="At"/> from what its twins reported.</summary>
/// <param name="MttrMinutes">Mean time to repair over every machine's resolved tickets.</param>
/// <param name="MtbfHours">Mean time between consecutive ticket openings, averaged over machines with at least two.</param>
/// <param name="LateWorkOrders">Orders past due and neither completed nor cancelled, earliest due first.</param>
/// <param name="Plan">What the schedule promises (projected lateness, on-time rate, stability); null before the first plan.</param>
/// <param name="Quality">First-pass yield, scrap Pareto, scrap by machine and shift over the last 24 hours; null before the first inspection.</param>
[GenerateSerializer, Immutable, Alias("twin.FactoryKpiSnapshot")]
public sealed record FactoryKpiSnapshot(
    [property: Id(0)] string Factory,
    [property: Id(1)] DateTimeOffset At,
    [property: Id(2)] ImmutableArray<LineKpiReport> Lines,
    [property: Id(3)] int OpenTickets,
    [property: Id(4)] OpenTicketAges OpenTicketsByAge,
    [property: Id(5)] double? MttrMinutes,
    [property: Id(6)] double? MtbfHours,
    [property: Id(7)] ImmutableArray<BinCoverage> StockCoverage,
    [property: Id(8)] ImmutableArray<WorkOrderKpi> LateWorkOrders,
    [property: Id(9)] PlanKpi? Plan = null,
    [property: Id(10)] QualityKpis? Quality = null);

/// <summary>Maintenance figures of one machine from its tickets.</summary>
/// <param name="MttrMinutes">Mean time to repair: opened → resolved, over resolved tickets.</param>
/// <param name="MtbfHours">Mean time between failures: between consecutive ticket openings.</param>
[GenerateSerializer, Immutable, Alias("twin.MachineReliability")]
public sealed record MachineReliability(
    [property: Id(0)] string Machine,
    [property: Id(1)] int Tickets,
    [property: Id(2)] int Resolved,
    [property: Id(3)] double? MttrMinutes,
    [property: Id(4)] double? MtbfHours);

/// <summary>
/// The KPIs of one factory, keyed by the factory id. The twins that change a KPI report to it
/// after their own state is durable (idempotent, ordered by the twin's version); reads are one
/// call and never ask the twins.
/// </summary>
[Alias("twin.IFactoryKpiGrain")]
public interface IFactoryKpiGrain : IGrainWithStringKey
{
    /// <summary>A ticket desk's current summary (replaces the one kept when newer).</summary>
    [Alias("ReportTickets")]
    Task ReportTicketsAsync(TicketDeskKpi report);

    /// <summary>A work order's current due date, status and progress (replaces the one kept when newer).</summary>
    [Alias("ReportWorkOrder")]
    Task ReportWorkOrderAsync(WorkOrderKpi report);

    /// <summary>A bin's current stock and recent issues (replaces the one kept when newer).</summary>
    [Alias("ReportBin")]
    Task ReportBinAsync(BinKpi report);

    /// <summary>A line's latest OEE and bottleneck (replaces the one kept when newer).</summary>
    [Alias("ReportLine")]
    Task ReportLineAsync(LineKpiReport report);

    /// <summary>The schedule's promises after a re-plan (replaces the one kept when newer).</summary>
    [Alias("ReportPlan")]
    Task ReportPlanAsync(PlanKpi report);

    /// <summary>A machine's recent inspections (replaces the one kept when newer).</summary>
    [Alias("ReportQuality")]
    Task ReportQualityAsync(QualityKpiReport report);

    /// <summary>The factory's KPIs now.</summary>
    [Alias("Get")]
    Task<FactoryKpiSnapshot> GetAsync();

    /// <summary>MTTR and MTBF of one machine from its ticket desks' reports.</summary>
    [Alias("GetReliability")]
    Task<MachineReliability> GetReliabilityAsync(string machine);
}
