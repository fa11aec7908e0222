using Microsoft.AspNetCore.Http.HttpResults;
using Twin.Kpis;
using Twin.WorkOrders;

namespace Twin.Gateway.Api;

/// <summary>A line's OEE over the current shift (or the last 8 hours without a calendar) and its bottleneck.</summary>
public sealed record LineKpi(string Line, string Window, double? Oee, double? Availability, double? Performance, double? Quality, string? Bottleneck);

/// <summary>Open maintenance tickets by how long they have been open.</summary>
public sealed record TicketAges(int UnderOneHour, int OneToEightHours, int EightToTwentyFourHours, int OverADay);

/// <summary>How many days a bin's available stock lasts at its recent consumption (issues over the bin's recent movements).</summary>
public sealed record StockCoverage(string Bin, string? Sku, decimal Available, double? DailyConsumption, double? Days);

/// <summary>A work order past its due date and not completed or cancelled.</summary>
public sealed record LateWorkOrder(string Id, string Product, DateTimeOffset Due, double Progress, WorkOrderStatus Status);

/// <summary>A work order the schedule projects to finish after its due date.</summary>
/// <param name="LatenessMinutes">Projected completion − due, in minutes.</param>
public sealed record ProjectedLateOrder(string Id, string Product, DateTimeOffset Due, DateTimeOffset ProjectedCompletion, double LatenessMinutes);

/// <summary>Plant-level indicators of a factory.</summary>
/// <param name="MttrMinutes">Mean time to repair over every machine's resolved tickets.</param>
/// <param name="MtbfHours">Mean time between consecutive ticket openings, averaged over machines with at least two.</param>
/// <param name="OnTimeDeliveryRate">Share of the planned orders with a due date that the schedule projects on time.</param>
/// <param name="ScheduleStability">Mean share of operations that kept their machine and start over the recent re-plans.</param>
/// <param name="ProjectedLateOrders">Orders the schedule projects late, latest first.</param>
/// <param name="Quality">First-pass yield, scrap and its Pareto by defect code, scrap by machine and shift, over the last 24 hours of inspections; null before the first.</param>
public sealed record FactoryKpis(
    string Factory,
    DateTimeOffset At,
    IReadOnlyList<LineKpi> Lines,
    int OpenTickets,
    TicketAges OpenTicketsByAge,
    double? MttrMinutes,
    double? MtbfHours,
    IReadOnlyList<StockCoverage> StockCoverage,
    IReadOnlyList<LateWorkOrder> LateWorkOrders,
    double? OnTimeDeliveryRate = null,
    double? ScheduleStability = null,
    IReadOnlyList<ProjectedLateOrder>? ProjectedLateOrders = null,
    QualityKpis? Quality = null);

internal static class KpiApi
{
    public static RouteGroupBuilder MapKpiApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapFactoryGroup("").WithTags("KPIs");
        group.MapGet("/kpis", GetAsync).WithName("GetFactoryKpis")
            .WithSummary("OEE by line, open tickets by age, MTTR/MTBF, stock coverage days, late work orders, the schedule's on-time rate, stability and projected late orders, and quality: first-pass yield, scrap Pareto, scrap by machine and shift.");
        return group;
    }

    /// <summary>One call to the factory's KPI grain, which keeps the figures from the twins' reports: no fan-out.</summary>
    private static async Task<Results<Ok<FactoryKpis>, ValidationProblem>> GetAsync(string factory, IGrainFactory grains)
    {
        if (ApiSupport.ValidateIds(("factory", factory)) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var k = await grains.GetGrain<IFactoryKpiGrain>(factory).GetAsync();
        return TypedResults.Ok(new FactoryKpis(
            k.Factory,
            k.At,
            [.. k.Lines.Select(l => new LineKpi(l.Line, l.Window, l.Oee, l.Availability, l.Performance, l.Quality, l.Bottleneck))],
            k.OpenTickets,
            new TicketAges(k.OpenTicketsByAge.UnderOneHour, k.OpenTicketsByAge.OneToEightHours, k.OpenTicketsByAge.EightToTwentyFourHours, k.OpenTicketsByAge.OverADay),
            k.MttrMinutes,
            k.MtbfHours,
            [.. k.StockCoverage.Select(c => new StockCoverage(c.Bin, c.Sku, c.Available, c.DailyConsumption, c.Days))],
            [.. k.LateWorkOrders.Select(o => new LateWorkOrder(o.Id, o.Product, o.Due!.Value, o.Progress, o.Status))],
            k.Plan?.OnTimeRate,
            k.Plan?.Stability,
            [.. (k.Plan?.ProjectedLate ?? []).Select(p => new ProjectedLateOrder(p.WorkOrder, p.Product, p.Due!.Value, p.ProjectedCompletion, Math.Round(p.Lateness!.Value.TotalMinutes, 1)))],
            k.Quality));
    }
}
