using Microsoft.Extensions.Logging;
using Twin.Bins;
using Twin.Factories;
using Twin.Grains.Infrastructure;
using Twin.Kpis;
using Twin.Lines;
using Twin.Maintenance;
using Twin.WorkOrders;

namespace Twin.Grains.Kpis;

/// <summary>
/// The KPIs of one factory, kept from the summaries its twins report (ticket desks, work orders,
/// bins, lines). Reentrant with group commit: a burst of reports shares writes, and each report
/// is answered once durable. Reads are answered from memory and never ask the twins; only a
/// factory whose KPI state is new (e.g. an installation from before this grain) is rebuilt once
/// from its twins.
/// </summary>
[Reentrant]
public sealed partial class FactoryKpiGrain(
    [PersistentState("kpis", TwinStorage.Name)] IPersistentState<FactoryKpiState> state,
    TwinClock clock,
    ILogger<FactoryKpiGrain> logger) : Grain, IFactoryKpiGrain
{
    private GroupCommit? _commit;
    private Task _rebuild = Task.CompletedTask;

    private string Factory => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _commit = new GroupCommit(state, this);

        // In the background, so reports (which the rebuild's own calls may be waiting behind) go on.
        _rebuild = state.State.Rebuilt ? WakeLinesAsync() : RebuildAsync();
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _commit?.CloseAsync(cancellationToken) ?? Task.CompletedTask;

    public Task ReportTicketsAsync(TicketDeskKpi report) => Commit(KpiRules.Apply(state.State, report));

    public Task ReportWorkOrderAsync(WorkOrderKpi report) => Commit(KpiRules.Apply(state.State, report));

    public Task ReportBinAsync(BinKpi report) => Commit(KpiRules.Apply(state.State, report));

    public Task ReportLineAsync(LineKpiReport report) => Commit(KpiRules.Apply(state.State, report));

    public Task ReportPlanAsync(PlanKpi report) => Commit(KpiRules.Apply(state.State, report));

    public Task ReportQualityAsync(QualityKpiReport report) => Commit(KpiRules.Apply(state.State, report));

    private Task Commit(bool changed) => changed ? _commit!.CommitAsync() : _commit!.WhenDurableAsync();

    public async Task<FactoryKpiSnapshot> GetAsync()
    {
        await EnsureRebuiltAsync();
        return KpiRules.Read(state.State, Factory, clock.UtcNow);
    }

    public async Task<MachineReliability> GetReliabilityAsync(string machine)
    {
        await EnsureRebuiltAsync();
        return KpiRules.Reliability(state.State, machine);
    }

    private async Task EnsureRebuiltAsync()
    {
        await _rebuild;
        if (!state.State.Rebuilt)
        {
            // The last attempt failed: try again for this read.
            if (_rebuild.IsCompleted)
            {
                _rebuild = RebuildAsync();
            }

            await _rebuild;
        }
    }

    /// <summary>
    /// Once per factory: the summaries of the twins that existed before this grain did (the same
    /// fan-out the API used to do on every read). What a twin reports meanwhile wins by version;
    /// desks from before this grain have version 0, below any report they send.
    /// </summary>
    private async Task RebuildAsync()
    {
        try
        {
            var now = clock.UtcNow;
            var directory = GrainFactory.GetGrain<IFactoryGrain>(Factory);
            var lineIds = await directory.ListAsync(TwinKind.Line);
            var deskIds = await directory.ListAsync(TwinKind.TicketDesk);
            var binIds = await directory.ListAsync(TwinKind.StockBin);
            var orderIds = await directory.ListAsync(TwinKind.WorkOrder);

            var lines = await Task.WhenAll(lineIds.Select(id => Read(() => Twin<ILineGrain>(id).GetPerformanceAsync())));
            var desks = await Task.WhenAll(deskIds.Select(async id => (Id: id, Tickets: await Twin<IMaintenanceTicketGrain>(id).ListAsync())));
            var bins = await Task.WhenAll(binIds.Select(id => Read(() => Twin<IStockBinGrain>(id).GetSnapshotAsync())));
            var orders = await Task.WhenAll(orderIds.Select(id => Read(() => Twin<IWorkOrderGrain>(id).GetSnapshotAsync())));

            foreach (var line in lines.OfType<LinePerformance>())
            {
                KpiRules.Apply(state.State, KpiRules.Line(line, now.UtcTicks, now));
            }

            foreach (var (id, tickets) in desks)
            {
                var desk = TicketDeskKey.OfId(this.GetPrimaryKeyString(), id);
                KpiRules.Apply(state.State, KpiRules.Desk(id, desk.Machine, 0, tickets, global::Twin.Quality.SpcRules.IsSpc(desk.Kind)));
            }

            foreach (var bin in bins.OfType<BinSnapshot>())
            {
                KpiRules.Apply(state.State, KpiRules.Bin(bin));
            }

            foreach (var order in orders.OfType<WorkOrderSnapshot>())
            {
                KpiRules.Apply(state.State, KpiRules.WorkOrder(order));
            }

            state.State.Rebuilt = true;
            await _commit!.CommitAsync();
            LogRebuilt(Factory, lines.Length, desks.Length, bins.Length, orders.Length);
        }
        catch (Exception ex)
        {
            LogRebuildFailed(ex, Factory);
        }
    }

    /// <summary>Lines report on their own timer once active; after a restart, the first use of the KPIs activates them.</summary>
    private async Task WakeLinesAsync()
    {
        try
        {
            await Task.WhenAll(state.State.Lines.Keys.ToList().Select(id => Twin<ILineGrain>(id).ExistsAsync()));
        }
        catch (Exception ex)
        {
            LogWakeFailed(ex, Factory);
        }
    }

    /// <summary>A twin listed but never given state (e.g. a bin whose first movement was refused) has nothing to add.</summary>
    private static async Task<T?> Read<T>(Func<Task<T>> read)
        where T : class
    {
        try
        {
            return await read();
        }
        catch (TwinRuleException)
        {
            return null;
        }
    }

    private T Twin<T>(string id)
        where T : IGrainWithStringKey => GrainFactory.GetGrain<T>(TwinKey.Compose(Factory, id));

    [LoggerMessage(EventId = TwinEvents.FactoryKpiGrainRebuilt, Level = LogLevel.Information, Message = "KPIs of {Factory} rebuilt from {Lines} lines, {Desks} ticket desks, {Bins} bins and {Orders} work orders")]
    private partial void LogRebuilt(string factory, int lines, int desks, int bins, int orders);

    [LoggerMessage(EventId = TwinEvents.FactoryKpiGrainRebuildFailed, Level = LogLevel.Warning, Message = "KPIs of {Factory} could not be rebuilt yet (tried again on the next read)")]
    private partial void LogRebuildFailed(Exception exception, string factory);

    [LoggerMessage(EventId = TwinEvents.FactoryKpiGrainWakeFailed, Level = LogLevel.Warning, Message = "KPIs of {Factory}: lines could not be woken")]
    private partial void LogWakeFailed(Exception exception, string factory);
}
