using Microsoft.AspNetCore.Http.HttpResults;
using Twin.Bins;
using Twin.Factories;
using Twin.Lines;
using Twin.Machines;
using Twin.Maintenance;
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

/// <summary>Plant-level indicators of a factory.</summary>
/// <param name="MttrMinutes">Mean time to repair over every machine's resolved tickets.</param>
/// <param name="MtbfHours">Mean time between consecutive ticket openings, averaged over machines with at least two.</param>
public sealed record FactoryKpis(
    string Factory,
    DateTimeOffset At,
    IReadOnlyList<LineKpi> Lines,
    int OpenTickets,
    TicketAges OpenTicketsByAge,
    double? MttrMinutes,
    double? MtbfHours,
    IReadOnlyList<StockCoverage> StockCoverage,
    IReadOnlyList<LateWorkOrder> LateWorkOrders);

internal static class KpiApi
{
    public static RouteGroupBuilder MapKpiApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapFactoryGroup("").WithTags("KPIs");
        group.MapGet("/kpis", GetAsync).WithName("GetFactoryKpis")
            .WithSummary("OEE by line, open tickets by age, MTTR/MTBF, stock coverage days and late work orders.");
        return group;
    }

    private static async Task<Results<Ok<FactoryKpis>, ValidationProblem>> GetAsync(string factory, IGrainFactory grains, TimeProvider time)
    {
        if (ApiSupport.ValidateIds(("factory", factory)) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var now = time.GetUtcNow();
        var directory = grains.GetGrain<IFactoryGrain>(factory);
        var lineIds = await directory.ListAsync(TwinKind.Line);
        var deskIds = await directory.ListAsync(TwinKind.TicketDesk);
        var binIds = await directory.ListAsync(TwinKind.StockBin);
        var orderIds = await directory.ListAsync(TwinKind.WorkOrder);

        var lines = await Task.WhenAll(lineIds.Select(id => grains.GetGrain<ILineGrain>(TwinKey.Compose(factory, id)).GetPerformanceAsync()));
        var desks = await Task.WhenAll(deskIds.Select(id => grains.GetGrain<IMaintenanceTicketGrain>(TwinKey.Compose(factory, id)).ListAsync()));
        var bins = await Task.WhenAll(binIds.Select(id => grains.GetGrain<IStockBinGrain>(TwinKey.Compose(factory, id)).GetSnapshotAsync()));
        var orders = await Task.WhenAll(orderIds.Select(id => grains.GetGrain<IWorkOrderGrain>(TwinKey.Compose(factory, id)).GetSnapshotAsync()));

        var tickets = desks.SelectMany(d => d).ToList();
        var open = tickets.Where(t => Twin.Grains.Maintenance.TicketRules.IsOpen(t.Status)).Select(t => now - t.OpenedAt).ToList();
        var ages = new TicketAges(
            open.Count(a => a < TimeSpan.FromHours(1)),
            open.Count(a => a >= TimeSpan.FromHours(1) && a < TimeSpan.FromHours(8)),
            open.Count(a => a >= TimeSpan.FromHours(8) && a < TimeSpan.FromHours(24)),
            open.Count(a => a >= TimeSpan.FromHours(24)));
        // MTTR over every resolved ticket; MTBF per machine (between its own openings), averaged.
        var all = ReliabilityApi.Compute(factory, "*", tickets);
        var mtbf = tickets.GroupBy(t => t.Machine, StringComparer.Ordinal)
            .Select(g => ReliabilityApi.Compute(factory, g.Key, [.. g]).MtbfHours)
            .OfType<double>()
            .ToList();

        return TypedResults.Ok(new FactoryKpis(
            factory,
            now,
            [.. lines.Select(Line)],
            open.Count,
            ages,
            all.MttrMinutes,
            mtbf.Count > 0 ? mtbf.Average() : null,
            [.. bins.Select(b => Coverage(b, now)).OrderBy(c => c.Days ?? double.MaxValue)],
            [.. orders
                .Where(o => o.Definition.Due is { } due && due < now && o.Status is not (WorkOrderStatus.Completed or WorkOrderStatus.Cancelled))
                .Select(o => new LateWorkOrder(o.Id, o.Definition.Product, o.Definition.Due!.Value, o.Progress, o.Status))
                .OrderBy(o => o.Due)]));
    }

    private static LineKpi Line(LinePerformance line)
    {
        var window = line.Windows.FirstOrDefault(w => w.Window == "shift") ?? line.Windows.FirstOrDefault(w => w.Window == "8h");
        return new LineKpi(line.Id, window?.Window ?? "8h", window?.Oee, window?.Availability, window?.Performance, window?.Quality, line.Bottleneck?.Machine);
    }

    /// <summary>Consumption is the issues among the bin's recent movements, per day over the span they cover (at least an hour).</summary>
    internal static StockCoverage Coverage(BinSnapshot bin, DateTimeOffset now)
    {
        var issues = bin.RecentMovements.Where(m => m.Kind == MovementKind.Issue).ToList();
        if (issues.Count == 0)
        {
            return new StockCoverage(bin.Id, bin.Sku, bin.Available, null, null);
        }

        var span = now - issues.Min(m => m.Timestamp);
        var days = Math.Max(span.TotalDays, 1.0 / 24);
        var daily = (double)issues.Sum(m => Math.Abs(m.Quantity)) / days;
        return new StockCoverage(bin.Id, bin.Sku, bin.Available, daily, daily > 0 ? (double)bin.Available / daily : null);
    }
}
