using Microsoft.Extensions.Logging;
using Twin.Bins;
using Twin.Factories;
using Twin.Grains.Domain;
using Twin.Grains.Infrastructure;
using Twin.Grains.Integration;
using Twin.Grains.Kpis;
using Twin.Integration;
using Twin.Kpis;
using Twin.WorkOrders;

namespace Twin.Grains.WorkOrders;

/// <summary>The work order twin.</summary>
public sealed partial class WorkOrderGrain(
    [PersistentState("workorder", TwinStorage.Name)] IPersistentState<WorkOrderState> state,
    IOutboundDelivery delivery,
    TwinClock clock,
    ILogger<WorkOrderGrain> logger) : Grain, IWorkOrderGrain, IRemindable
{
    private KpiFeed? _kpis;

    // What the factory KPIs were last sent, to skip progress steps under a percent.
    private WorkOrderKpi? _reported;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _kpis = new KpiFeed(this, SendKpisAsync, ex => LogKpiFailed(ex, this.GetPrimaryKeyString()), TimeSpan.Zero);
        if (state.State.KpiPending)
        {
            _kpis.Kick();
        }

        return Task.CompletedTask;
    }

    /// <summary>Before a write: flags a change the factory KPIs should hear of; true when it did.</summary>
    private bool MarkKpiChange()
    {
        if (state.State.Created && KpiRules.WorthReporting(_reported, Kpi()))
        {
            state.State.KpiPending = true;
        }

        return state.State.KpiPending;
    }

    /// <summary>After the write: sends the flagged change in the background.</summary>
    private void ReportKpis()
    {
        if (state.State.KpiPending)
        {
            _kpis!.Kick();
        }
    }

    private WorkOrderKpi Kpi() => KpiRules.WorkOrder(Snapshot());

    private async Task SendKpisAsync()
    {
        var report = Kpi();
        await GrainFactory.GetGrain<IFactoryKpiGrain>(TwinKey.Split(this.GetPrimaryKeyString()).Factory).ReportWorkOrderAsync(report);
        _reported = report;
        if (state.State.Version == report.Version)
        {
            state.State.KpiPending = false;
        }
    }

    [LoggerMessage(EventId = TwinEvents.WorkOrderGrainKpiFailed, Level = LogLevel.Warning, Message = "Work order {Order} could not report to the factory KPIs yet (retried)")]
    private partial void LogKpiFailed(Exception exception, string order);

    public async Task<WorkOrderSnapshot> CreateAsync(WorkOrderDefinition definition)
    {
        // Listed before anything changes in memory: a failed call leaves nothing half-applied.
        if (!state.State.Registered)
        {
            var (factory, id) = TwinKey.Split(this.GetPrimaryKeyString());
            await GrainFactory.GetGrain<IFactoryGrain>(factory).RegisterAsync(TwinKind.WorkOrder, id);
            state.State.Registered = true;
        }

        if (WorkOrderLifecycle.Create(state.State, definition, clock.UtcNow))
        {
            MarkKpiChange();
            await this.WriteOrResetAsync(state);
            ReportKpis();
        }

        return Snapshot();
    }

    public async Task<WorkOrderSnapshot> TransitionAsync(WorkOrderStatus target, string? by = null, string? reason = null)
    {
        if (WorkOrderLifecycle.Move(state.State, target, clock.UtcNow, by, reason))
        {
            MarkKpiChange();
            await this.WriteOrResetAsync(state);
            ReportKpis();
        }

        return Snapshot();
    }

    public async Task<WorkOrderSnapshot> DispatchAsync(string line, string? by = null)
    {
        if (WorkOrderLifecycle.Dispatch(state.State, line, clock.UtcNow, by))
        {
            await this.WriteOrResetAsync(state);
        }

        return Snapshot();
    }

    public async Task<WorkOrderSnapshot> RecordProductionAsync(ProductionReport report)
    {
        var wasCompleted = state.State.Status == WorkOrderStatus.Completed;
        if (WorkOrderLifecycle.RecordProduction(state.State, report, clock.UtcNow))
        {
            var completed = !wasCompleted && state.State.Status == WorkOrderStatus.Completed;
            if (completed)
            {
                var (factory, id) = TwinKey.Split(this.GetPrimaryKeyString());
                Outbox.Add(state.State.Outbound, new OutboundEvent(
                    $"work-order:{id}:completed", "work-order.completed", factory, $"work-order/{id}", clock.UtcNow,
                    $"Work order {id} completed: {state.State.Good} good, {state.State.Scrap} scrap"));
            }

            MarkKpiChange();
            await this.WriteOrResetAsync(state);
            ReportKpis();
            if (completed)
            {
                await DeliverAsync();
            }
        }

        await BackflushAsync();
        return Snapshot();
    }

    /// <summary>
    /// Issues the queued BOM material from the source bins (idempotent by movement id). A bin that
    /// refuses (too little stock) is recorded as a shortfall on the order instead of retried;
    /// a bin that does not answer is retried with the next report.
    /// </summary>
    private async Task BackflushAsync()
    {
        var (factory, _) = TwinKey.Split(this.GetPrimaryKeyString());
        var changed = false;
        try
        {
            while (state.State.Backflush.Count > 0)
            {
                var (bin, movement) = state.State.Backflush[0];
                var result = await GrainFactory.GetGrain<IStockBinGrain>(TwinKey.Compose(factory, bin)).ApplyMovementAsync(movement);
                if (result.Outcome == MovementOutcome.Refused)
                {
                    state.State.Shortfalls.Add(new BackflushShortfall(bin, movement.MovementId.Split(':')[^1], movement.Quantity, result.Reason ?? "refused", clock.UtcNow));
                    if (state.State.Shortfalls.Count > 100)
                    {
                        state.State.Shortfalls.RemoveAt(0);
                    }
                }

                state.State.Backflush.RemoveAt(0);
                changed = true;
            }
        }
        finally
        {
            if (changed)
            {
                await this.WriteOrResetAsync(state);
            }
        }
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) =>
        reminderName == Outbox.Reminder ? DeliverAsync() : Task.CompletedTask;

    private Task DeliverAsync() => this.DeliverOutboxAsync(state.State.Outbound, delivery, clock.UtcNow, () => this.WriteOrResetAsync(state));

    public Task<WorkOrderSnapshot> GetSnapshotAsync()
    {
        if (!state.State.Created)
        {
            var (factory, id) = TwinKey.Split(this.GetPrimaryKeyString());
            throw new TwinRuleException("workorder.not-found", $"Work order '{id}' of factory '{factory}' is not known.");
        }

        return Task.FromResult(Snapshot());
    }

    public Task<bool> ExistsAsync() => Task.FromResult(state.State.Created);

    private WorkOrderSnapshot Snapshot()
    {
        var (factory, id) = TwinKey.Split(this.GetPrimaryKeyString());
        return WorkOrderLifecycle.ToSnapshot(factory, id, state.State);
    }
}
