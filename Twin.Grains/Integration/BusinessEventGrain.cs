using Twin.Bins;
using Twin.Grains.Infrastructure;
using Twin.Integration;
using Twin.WorkOrders;

namespace Twin.Grains.Integration;

[GenerateSerializer, Alias("twin.BusinessEventState")]
public sealed class BusinessEventState
{
    [Id(0)] public string? Fingerprint { get; set; }
    [Id(1)] public EventOutcome? Outcome { get; set; }
}

/// <summary>
/// Applies one business event once. The twins' own operations are idempotent too (movement ids,
/// transitions to the current status), so a crash between applying and recording here is
/// repaired by the retry: the twin answers "already done" and this grain records it.
/// </summary>
public sealed class BusinessEventGrain(
    [PersistentState("event", TwinStorage.Name)] IPersistentState<BusinessEventState> state,
    TwinClock clock) : Grain, IBusinessEventGrain
{
    private GroupCommit? _commit;

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _commit?.CloseAsync(cancellationToken) ?? Task.CompletedTask;

    public async Task<EventOutcome> ApplyOnceAsync(BusinessEvent businessEvent)
    {
        if (state.State.Outcome is { } first)
        {
            if (state.State.Fingerprint != businessEvent.Fingerprint)
            {
                throw new TwinRuleException(
                    "event.id-reused",
                    $"Event id '{businessEvent.EventId}' was used before for different content; use a new id for a new event.");
            }

            return first with { Replay = true };
        }

        var factory = this.GetPrimaryKeyString().Split('/')[0];
        EventOutcome outcome;
        try
        {
            outcome = businessEvent switch
            {
                StockMovementEvent movement => await ApplyAsync(factory, movement),
                WorkOrderEvent order => await ApplyAsync(factory, order),
                DispatchEvent dispatch => await ApplyAsync(factory, dispatch),
                InspectionEvent inspection => await ApplyAsync(factory, inspection),
                EngineeringChangeEvent change => await ApplyAsync(factory, change),
                _ => throw new TwinRuleException("event.unknown", $"Unknown event type {businessEvent.GetType().Name}."),
            };
        }
        catch (TwinRuleException rule) when (rule.Code != "event.unknown")
        {
            outcome = new EventOutcome(businessEvent.EventId, false, rule.Code, rule.Message, TwinOf(businessEvent), 0, clock.UtcNow, false);
        }

        state.State.Fingerprint = businessEvent.Fingerprint;
        state.State.Outcome = outcome;
        await (_commit ??= new GroupCommit(state, this)).CommitAsync();
        return outcome;
    }

    private async Task<EventOutcome> ApplyAsync(string factory, StockMovementEvent e)
    {
        var bin = GrainFactory.GetGrain<IStockBinGrain>(TwinKey.Compose(factory, e.Bin));
        var result = await bin.ApplyMovementAsync(e.Movement);
        var applied = result.Outcome != MovementOutcome.Refused;
        var code = applied ? null : result.Reason?.Split(':')[0];
        var detail = applied
            ? $"{e.Movement.Kind} of {e.Movement.Quantity} applied to bin {e.Bin}: on-hand {result.OnHand}, reserved {result.Reserved}."
            : result.Reason ?? "refused";
        return new EventOutcome(e.EventId, applied, code, detail, TwinOf(e), result.Version, clock.UtcNow, false);
    }

    private async Task<EventOutcome> ApplyAsync(string factory, WorkOrderEvent e)
    {
        var order = GrainFactory.GetGrain<IWorkOrderGrain>(TwinKey.Compose(factory, e.WorkOrder));
        var snapshot = e.Action switch
        {
            WorkOrderAction.Create => await order.CreateAsync(e.Definition!),
            WorkOrderAction.Release => await order.TransitionAsync(WorkOrderStatus.Released, "erp", e.Reason),
            _ => await order.TransitionAsync(WorkOrderStatus.Cancelled, "erp", e.Reason),
        };
        return new EventOutcome(e.EventId, true, null, $"Work order {e.WorkOrder} is {snapshot.Status}.", TwinOf(e), snapshot.Version, clock.UtcNow, false);
    }

    private async Task<EventOutcome> ApplyAsync(string factory, DispatchEvent e)
    {
        var order = GrainFactory.GetGrain<IWorkOrderGrain>(TwinKey.Compose(factory, e.WorkOrder));
        var snapshot = await order.DispatchAsync(e.Line, "mes");
        return new EventOutcome(e.EventId, true, null, $"Work order {e.WorkOrder} dispatched to line {e.Line}.", TwinOf(e), snapshot.Version, clock.UtcNow, false);
    }

    private async Task<EventOutcome> ApplyAsync(string factory, InspectionEvent e)
    {
        var machine = GrainFactory.GetGrain<Twin.Machines.IMachineGrain>(TwinKey.Compose(factory, e.Machine));
        var fresh = await machine.RecordInspectionAsync(e.EventId, e.Inspection);
        var what = e.Inspection.Part ?? e.Inspection.Batch ?? "a part";
        var detail = $"Inspection of {what} on machine {e.Machine} {(fresh ? "recorded" : "was recorded before")}: {e.Inspection.Measurements.Length} measurements{(e.Inspection.Defect is { } d ? $", defect {d}" : "")}.";
        return new EventOutcome(e.EventId, true, null, detail, TwinOf(e), 0, clock.UtcNow, false);
    }

    private async Task<EventOutcome> ApplyAsync(string factory, EngineeringChangeEvent e)
    {
        var product = GrainFactory.GetGrain<Twin.Products.IProductGrain>(TwinKey.Compose(factory, e.Change.Product));
        var result = await product.ApplyChangeAsync(e.Change);
        var detail = $"Product {result.Product} revision {result.Revision}: {string.Join(", ", Enum.GetValues<Twin.Products.EngineeringChangeTreatment>().Select(t => $"{result.Orders.Count(o => o.Treatment == t)} {Grains.Products.EngineeringChangeRules.Treatment(t)}"))}.";
        return new EventOutcome(e.EventId, true, null, detail, TwinOf(e), 0, clock.UtcNow, false);
    }

    private static string TwinOf(BusinessEvent e) => e switch
    {
        EngineeringChangeEvent c => $"product/{c.Change.Product}",
        InspectionEvent i => $"machine/{i.Machine}",
        StockMovementEvent m => $"bin/{m.Bin}",
        WorkOrderEvent w => $"work-order/{w.WorkOrder}",
        DispatchEvent d => $"work-order/{d.WorkOrder}",
        _ => "unknown",
    };
}
