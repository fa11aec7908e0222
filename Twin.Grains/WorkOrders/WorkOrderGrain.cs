using Microsoft.Extensions.Logging;
using Twin.Bins;
using Twin.Factories;
using Twin.Genealogy;
using Twin.Grains.Domain;
using Twin.Grains.Infrastructure;
using Twin.Grains.Kpis;
using Twin.Integration;
using Twin.Grains.Products;
using Twin.Kpis;
using Twin.Products;
using Twin.Scheduling;
using Twin.WorkOrders;

namespace Twin.Grains.WorkOrders;

/// <summary>The work order twin.</summary>
public sealed partial class WorkOrderGrain(
    [PersistentState("workorder", TwinStorage.Name)] IPersistentState<WorkOrderState> state,
    OutboxServices outboxServices,
    TwinClock clock,
    ILogger<WorkOrderGrain> logger) : Grain, IWorkOrderGrain, IRemindable, IOutboxOwner
{
    List<OutboxEntry> IOutboxOwner.Outbox => state.State.Outbox;

    private GroupCommit? _commit;
    private Outbox? _outbox;
    private KpiFeed? _kpis;

    // What the factory KPIs were last sent, to skip progress steps under a percent.
    private WorkOrderKpi? _reported;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _commit = new GroupCommit(state, this);
        _outbox = new Outbox(
            this,
            _commit,
            outboxServices,
            (entry, reason) => WorkOrderLifecycle.Refused(state.State, entry.Message, reason, clock.UtcNow),
            (entry, answer) => GenealogyRules.Taken(state.State, TwinKey.Split(this.GetPrimaryKeyString()).Id, entry.Message, answer, clock.UtcNow));
        _kpis = new KpiFeed(this, SendKpisAsync, ex => LogKpiFailed(ex, this.GetPrimaryKeyString()), TimeSpan.Zero);
        _kpis.Wake(() => state.State.KpiPending, _commit, outboxServices.Wake);
        if (state.State.KpiPending)
        {
            _kpis.Kick();
        }

        if (WorkOrderLifecycle.Upgrade(state.State))
        {
            await _commit.CommitAsync();
        }

        _outbox.Kick();
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _commit?.CloseAsync(cancellationToken, _outbox) ?? Task.CompletedTask;

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
        await this.RegisterOnceAsync(state.State, TwinKind.WorkOrder);

        if (WorkOrderLifecycle.Create(state.State, definition, clock.UtcNow))
        {
            TellPlanner(state.State.Version == 1 ? "created" : "changed");
            TellProduct();
            MarkKpiChange();
            await _commit!.CommitAsync();
            ReportKpis();
            _outbox!.Kick();
        }

        return Snapshot();
    }

    public async Task<WorkOrderSnapshot> TransitionAsync(WorkOrderStatus target, string? by = null, string? reason = null)
    {
        if (WorkOrderLifecycle.Move(state.State, target, clock.UtcNow, by, reason))
        {
            TellPlanner(target.ToString().ToLowerInvariant());
            TellProduct();
            MarkKpiChange();
            await _commit!.CommitAsync();
            ReportKpis();
            _outbox!.Kick();
        }

        return Snapshot();
    }

    public async Task<WorkOrderSnapshot> DispatchAsync(string line, string? by = null)
    {
        if (WorkOrderLifecycle.Dispatch(state.State, line, clock.UtcNow, by))
        {
            await _commit!.CommitAsync();
        }

        return Snapshot();
    }

    public async Task<WorkOrderSnapshot> RecordProductionAsync(ProductionReport report)
    {
        var wasCompleted = state.State.Status == WorkOrderStatus.Completed;
        var statusBefore = state.State.Status;
        var tenthsBefore = Tenths();
        if (WorkOrderLifecycle.RecordProduction(state.State, report, clock.UtcNow))
        {
            if (state.State.Status != statusBefore || Tenths() != tenthsBefore)
            {
                // The planner plans what is left: told at each tenth of the quantity, not each part.
                TellPlanner(state.State.Status != statusBefore ? state.State.Status.ToString().ToLowerInvariant() : $"{Tenths() * 10} % made");
            }

            if (state.State.Status != statusBefore)
            {
                TellProduct();
            }

            var completed = !wasCompleted && state.State.Status == WorkOrderStatus.Completed;
            if (completed)
            {
                var (factory, id) = TwinKey.Split(this.GetPrimaryKeyString());
                OutboxRules.AddEvent(state.State.Outbox, new OutboundEvent(
                    $"work-order:{id}:completed", "work-order.completed", factory, $"work-order/{id}", clock.UtcNow,
                    $"Work order {id} completed: {state.State.Good} good, {state.State.Scrap} scrap"));
            }

            MarkKpiChange();
            await _commit!.CommitAsync();
            ReportKpis();
        }

        // Backflush and the completion event go out before the machine hears back; what fails is retried.
        await _outbox!.DeliverAsync();
        return Snapshot();
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (!await _outbox!.OnReminderAsync(reminderName))
        {
            await _kpis!.OnReminderAsync(reminderName);
        }
    }

    private long Tenths() => state.State.Definition is { Quantity: > 0 } d ? Math.Min(10, state.State.Good * 10 / d.Quantity) : 0;

    /// <summary>Queues the order as it now is for the factory's planner, in the write that changed it.</summary>
    private void TellPlanner(string what)
    {
        var id = TwinKey.Split(this.GetPrimaryKeyString()).Id;
        var d = state.State.Definition!;
        var demand = new OrderDemand(id, state.State.Version, d.Product, d.Quantity, state.State.Good, d.Due, state.State.Status, d.Bom, d.Priority ?? 1, d.Line ?? state.State.DispatchedLine);
        var signal = new PlanningSignal($"order:{id}:{state.State.Version}", PlanningSignalKind.OrderChanged, id, clock.UtcNow, $"work order {what}", demand);
        OutboxRules.Add(state.State.Outbox, $"planning:{signal.Id}", new PlanningMessage(signal), clock.UtcNow);
    }

    public async Task<EngineeringChangeAnswer> ApplyEngineeringChangeAsync(EngineeringChangeOrder change)
    {
        var (answer, changed) = EngineeringChangeRules.Apply(state.State, change, clock.UtcNow);
        if (changed)
        {
            if (answer.Treatment == EngineeringChangeTreatment.Switched)
            {
                // The planner plans the remaining quantity with the new BOM's material.
                TellPlanner($"switched to revision {change.Revision} by engineering change {change.ChangeId}");
            }

            TellProduct();
            await _commit!.CommitAsync();
            _outbox!.Kick();
        }

        return answer;
    }

    public async Task<WorkOrderSnapshot> DecideEngineeringChangeAsync(bool switchBom, string? by)
    {
        var pending = state.State.PendingChange;
        if (EngineeringChangeRules.Decide(state.State, switchBom, by, clock.UtcNow))
        {
            if (switchBom)
            {
                TellPlanner($"switched to revision {pending!.ToRevision} by engineering change {pending.ChangeId} ({by ?? "unknown"} decided)");
            }

            TellProduct();
            await _commit!.CommitAsync();
            _outbox!.Kick();
        }

        return Snapshot();
    }

    /// <summary>Queues the order's status for its product twin, in the write that changed it (products with an id-like name only).</summary>
    private void TellProduct()
    {
        var d = state.State.Definition!;
        if (!TwinKey.IsValidId(d.Product, out _))
        {
            return;
        }

        var id = TwinKey.Split(this.GetPrimaryKeyString()).Id;
        OutboxRules.Add(state.State.Outbox, $"product:{id}:{state.State.Version}", new ProductOrderMessage(d.Product, new ProductOrder(id, state.State.Version, state.State.Status, d.Revision)), clock.UtcNow);
    }

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

    public Task<GenealogyRecord> GetGenealogyRecordAsync()
    {
        var (factory, id) = TwinKey.Split(this.GetPrimaryKeyString());
        if (!state.State.Created)
        {
            throw new TwinRuleException("workorder.not-found", $"Work order '{id}' of factory '{factory}' is not known.");
        }

        return Task.FromResult(GenealogyRules.ToRecord(factory, id, state.State));
    }

    private WorkOrderSnapshot Snapshot()
    {
        var (factory, id) = TwinKey.Split(this.GetPrimaryKeyString());
        return WorkOrderLifecycle.ToSnapshot(factory, id, state.State);
    }
}
