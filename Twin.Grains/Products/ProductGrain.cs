using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Twin.Factories;
using Twin.Grains.Infrastructure;
using Twin.Integration;
using Twin.Products;
using Twin.Scheduling;
using Twin.WorkOrders;

namespace Twin.Grains.Products;

/// <summary>An engineering change as the product recorded it; <see cref="Result"/> is null until every order has answered.</summary>
[GenerateSerializer, Alias("twin.ProductChangeRecord")]
public sealed class ProductChangeRecord
{
    [Id(0)] public required EngineeringChange Change { get; set; }
    [Id(1)] public EngineeringChangeResult? Result { get; set; }
    [Id(2)] public DateTimeOffset Recorded { get; set; }
}

[GenerateSerializer, Alias("twin.ProductState")]
public sealed class ProductState : IRegisteredState
{
    [Id(0)] public long Version { get; set; }
    [Id(1)] public bool Registered { get; set; }
    [Id(2)] public List<ProductRevision> Revisions { get; set; } = [];

    /// <summary>The product's work orders as they last told (open and recently finished ones).</summary>
    [Id(3)] public Dictionary<string, ProductOrder> Orders { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Engineering changes, oldest first.</summary>
    [Id(4)] public List<ProductChangeRecord> Changes { get; set; } = [];

    /// <summary>engineering-change.applied events not yet taken (the product's outbox).</summary>
    [Id(5)] public List<OutboxEntry> Outbox { get; set; } = [];
}

/// <summary>
/// The product twin: revisions from PLM, the product's work orders (told by the orders through their
/// outbox, never looked up by a scan), and engineering changes applied to those orders.
/// </summary>
public sealed partial class ProductGrain(
    [PersistentState("product", TwinStorage.Name)] IPersistentState<ProductState> state,
    OutboxServices outboxServices,
    TwinClock clock,
    ILogger<ProductGrain> logger) : Grain, IProductGrain, IRemindable, IOutboxOwner
{
    List<OutboxEntry> IOutboxOwner.Outbox => state.State.Outbox;

    /// <summary>Finished orders kept for the changes' listings; beyond it the first by id are forgotten (open orders are always kept).</summary>
    public const int FinishedOrdersKept = 500;

    private GroupCommit? _commit;
    private Outbox? _outbox;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _commit = new GroupCommit(state, this);
        _outbox = new Outbox(this, _commit, outboxServices);
        _outbox.Kick();
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _commit?.CloseAsync(cancellationToken, _outbox) ?? Task.CompletedTask;

    public async Task<EngineeringChangeResult> ApplyChangeAsync(EngineeringChange change)
    {
        var (factory, product) = TwinKey.Split(this.GetPrimaryKeyString());
        var errors = EngineeringChangeLimits.Validate(change);
        if (change.Product != product)
        {
            errors["product"] = [$"the change is for {change.Product}, this twin is {product}"];
        }

        if (errors.Count > 0)
        {
            throw new TwinRuleException("engineering-change.invalid", string.Join("; ", errors.Select(e => $"{e.Key}: {string.Join(", ", e.Value)}")));
        }

        var record = state.State.Changes.Find(c => c.Change.ChangeId == change.ChangeId);
        if (record is not null)
        {
            if (!EngineeringChangeRules.Same(record.Change, change))
            {
                throw new TwinRuleException("engineering-change.id-reused", $"Engineering change '{change.ChangeId}' was recorded before with other content; use a new change id.");
            }

            if (record.Result is { } done)
            {
                return done;
            }
        }
        else
        {
            if (state.State.Revisions.Find(r => r.Revision == change.Revision) is { } existing)
            {
                throw new TwinRuleException("product.revision-exists", $"Product {product} has revision {change.Revision} already (from change {existing.ChangeId}); a change creates a new revision.");
            }

            await this.RegisterOnceAsync(state.State, TwinKind.Product);
            var now = clock.UtcNow;
            state.State.Revisions.Add(new ProductRevision(change.Revision, change.Bom, change.Routing is { } r ? r with { Product = product } : null, change.Effective, change.ChangeId, change.Reason, change.By, now));
            record = new ProductChangeRecord { Change = change, Recorded = now };
            state.State.Changes.Add(record);
            state.State.Version++;

            // The revision is durable before any order hears of it: a crash from here on is resumed by the retry.
            await _commit!.CommitAsync();
        }

        if (change.Routing is { } routing && change.Effective <= record.Recorded)
        {
            await GrainFactory.GetGrain<IPlanningGrain>(factory).DefineRoutingAsync(routing with { Product = product });
        }

        var order = new EngineeringChangeOrder(change.ChangeId, product, change.Revision, change.Bom, change.Effective, record.Recorded);
        var known = state.State.Orders.Values.OrderBy(o => o.WorkOrder, StringComparer.Ordinal).ToList();
        var answers = await Task.WhenAll(known.Select(async o =>
        {
            if (o.Status is WorkOrderStatus.Completed or WorkOrderStatus.Cancelled)
            {
                return new EngineeringChangeOrderResult(o.WorkOrder, EngineeringChangeTreatment.NotAffected, o.Status, o.Revision, o.Status == WorkOrderStatus.Completed ? "completed" : "cancelled", []);
            }

            var answer = await GrainFactory.GetGrain<IWorkOrderGrain>(TwinKey.Compose(factory, o.WorkOrder)).ApplyEngineeringChangeAsync(order);
            return new EngineeringChangeOrderResult(o.WorkOrder, answer.Treatment, answer.Status, answer.FromRevision, answer.Note, answer.Remaining);
        }));

        var result = new EngineeringChangeResult(change.ChangeId, product, change.Revision, change.Effective, clock.UtcNow, [.. answers]);
        record.Result = result;
        OutboxRules.AddEvent(state.State.Outbox, new OutboundEvent(
            $"engineering-change:{change.ChangeId}:applied", "engineering-change.applied", factory, $"product/{product}", result.At, EngineeringChangeRules.Summary(result)));

        // The change is an action whose effect is verified: one per machine of the product's routing
        // (the revision's, else the planner's), each compared before and after on its own KPIs.
        var routed = change.Routing ?? (await GrainFactory.GetGrain<IPlanningGrain>(factory).GetRoutingsAsync()).FirstOrDefault(r => r.Product == product);
        foreach (var machine in EngineeringChangeRules.Machines(routed))
        {
            var action = new Twin.Effects.ActionRecord(
                $"ec:{change.ChangeId}:{machine}", Twin.Effects.ActionKind.EngineeringChange, machine, null, $"product/{product}", record.Recorded, change.By,
                $"Engineering change {change.ChangeId}: {product} revision {change.Revision}{(string.IsNullOrEmpty(change.Reason) ? "" : $" ({change.Reason})")}");
            OutboxRules.Add(state.State.Outbox, $"effects:{action.Id}", new ActionMessage(action), result.At);
        }
        if (state.State.Changes.Count > EngineeringChangeRules.ChangesKept)
        {
            state.State.Changes.RemoveAt(0);
        }

        state.State.Version++;
        await _commit!.CommitAsync();
        _outbox!.Kick();
        var switched = answers.Count(a => a.Treatment == EngineeringChangeTreatment.Switched);
        var flagged = answers.Count(a => a.Treatment == EngineeringChangeTreatment.Flagged);
        LogApplied(factory, product, change.ChangeId, change.Revision, switched, flagged, answers.Length - switched - flagged);
        return result;
    }

    public async Task TrackOrderAsync(ProductOrder order)
    {
        if (state.State.Orders.TryGetValue(order.WorkOrder, out var known) && known.Version >= order.Version)
        {
            return;
        }

        await this.RegisterOnceAsync(state.State, TwinKind.Product);
        state.State.Orders[order.WorkOrder] = order;
        var finished = state.State.Orders.Values.Where(o => o.Status is WorkOrderStatus.Completed or WorkOrderStatus.Cancelled).ToList();
        if (finished.Count > FinishedOrdersKept)
        {
            foreach (var old in finished.OrderBy(o => o.WorkOrder, StringComparer.Ordinal).Take(finished.Count - FinishedOrdersKept))
            {
                state.State.Orders.Remove(old.WorkOrder);
            }
        }

        state.State.Version++;
        await _commit!.CommitAsync();
    }

    public Task<ProductSnapshot> GetSnapshotAsync()
    {
        var (factory, product) = TwinKey.Split(this.GetPrimaryKeyString());
        if (state.State.Revisions.Count == 0 && state.State.Orders.Count == 0)
        {
            throw new TwinRuleException("product.not-found", $"Product '{product}' of factory '{factory}' is not known.");
        }

        return Task.FromResult(new ProductSnapshot(
            factory,
            product,
            state.State.Version,
            EngineeringChangeRules.Current(state.State.Revisions, clock.UtcNow)?.Revision,
            [.. state.State.Revisions],
            [.. state.State.Orders.Values.OrderBy(o => o.WorkOrder, StringComparer.Ordinal)],
            [.. state.State.Changes.Where(c => c.Result is not null).Select(c => c.Result!).Reverse()]));
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => _outbox!.OnReminderAsync(reminderName);

    [LoggerMessage(EventId = TwinEvents.ProductGrainChangeApplied, Level = LogLevel.Information, Message = "Engineering change {Change} of product {Product} in {Factory}: revision {Revision}; {Switched} orders switched, {Flagged} flagged, {NotAffected} not affected")]
    private partial void LogApplied(string factory, string product, string change, string revision, int switched, int flagged, int notAffected);
}
