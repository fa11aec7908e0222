using System.Collections.Immutable;

namespace Twin.WorkOrders;

/// <summary>The lifecycle of a work order.</summary>
public enum WorkOrderStatus
{
    /// <summary>Known from ERP, not yet released to production.</summary>
    Created = 0,

    /// <summary>Released: may start.</summary>
    Released = 1,

    /// <summary>Production has started.</summary>
    InProgress = 2,

    /// <summary>Finished (terminal).</summary>
    Completed = 3,

    /// <summary>Cancelled (terminal).</summary>
    Cancelled = 4,
}

/// <summary>One material line of a bill of materials.</summary>
/// <param name="Sku">The material.</param>
/// <param name="QuantityPerUnit">Material consumed per good part.</param>
/// <param name="SourceBin">The bin it is backflushed from.</param>
[GenerateSerializer, Immutable, Alias("twin.BomLine")]
public sealed record BomLine(
    [property: Id(0)] string Sku,
    [property: Id(1)] decimal QuantityPerUnit,
    [property: Id(2)] string SourceBin);

/// <summary>Limits every source of work orders shares (ERP over HTTP, the grain, what-if questions).</summary>
public static class WorkOrderLimits
{
    /// <summary>
    /// The largest quantity of one work order: ten million parts. Larger orders are refused (HTTP
    /// 400); an order whose machine time exceeds the planning horizon is still accepted but not
    /// planned (the schedule lists it as unschedulable with the reason).
    /// </summary>
    public const long MaxQuantity = 10_000_000;
}

/// <summary>A work order as ERP defines it.</summary>
/// <param name="Priority">The weight of its lateness in the schedule, 1 (default) to 100; a rush order weighs more.</param>
/// <param name="Revision">The product revision its BOM is of (from ERP, or set by an engineering change); null when not known.</param>
[GenerateSerializer, Immutable, Alias("twin.WorkOrderDefinition")]
public sealed record WorkOrderDefinition(
    [property: Id(0)] string Product,
    [property: Id(1)] long Quantity,
    [property: Id(2)] DateTimeOffset? Due,
    [property: Id(3)] ImmutableArray<BomLine> Bom,
    [property: Id(4)] string? Line = null,
    [property: Id(5)] int? Priority = null,
    [property: Id(6)] string? Revision = null);

/// <summary>A lifecycle transition with who asked and when.</summary>
[GenerateSerializer, Immutable, Alias("twin.WorkOrderTransition")]
public sealed record WorkOrderTransition(
    [property: Id(0)] WorkOrderStatus From,
    [property: Id(1)] WorkOrderStatus To,
    [property: Id(2)] DateTimeOffset At,
    [property: Id(3)] string? By,
    [property: Id(4)] string? Reason);

/// <summary>Parts a machine reported for the order, sent once per id.</summary>
[GenerateSerializer, Immutable, Alias("twin.ProductionReport")]
public sealed record ProductionReport(
    [property: Id(0)] string ReportId,
    [property: Id(1)] string Machine,
    [property: Id(2)] long Good,
    [property: Id(3)] long Scrap,
    [property: Id(4)] DateTimeOffset At);

/// <summary>Material that could not be backflushed (e.g. the bin had too little).</summary>
[GenerateSerializer, Immutable, Alias("twin.BackflushShortfall")]
public sealed record BackflushShortfall(
    [property: Id(0)] string Bin,
    [property: Id(1)] string Sku,
    [property: Id(2)] decimal Quantity,
    [property: Id(3)] string Reason,
    [property: Id(4)] DateTimeOffset At);

/// <summary>The state of a work order.</summary>
[GenerateSerializer, Immutable, Alias("twin.WorkOrderSnapshot")]
public sealed record WorkOrderSnapshot(
    [property: Id(0)] string Factory,
    [property: Id(1)] string Id,
    [property: Id(2)] long Version,
    [property: Id(3)] WorkOrderStatus Status,
    [property: Id(4)] WorkOrderDefinition Definition,
    [property: Id(5)] long Good,
    [property: Id(6)] long Scrap,
    [property: Id(7)] double Progress,
    [property: Id(8)] ImmutableArray<WorkOrderTransition> History,
    [property: Id(9)] string? DispatchedLine,
    [property: Id(10)] ImmutableArray<BackflushShortfall> Shortfalls,
    [property: Id(11)] EngineeringChangePending? PendingEngineeringChange,
    [property: Id(12)] ImmutableArray<EngineeringChangeEntry> EngineeringChanges);

/// <summary>An engineering change as it reaches one work order of its product.</summary>
/// <param name="Effective">The revision applies to orders due at or after it (orders without a due date: from <paramref name="At"/>).</param>
[GenerateSerializer, Immutable, Alias("twin.EngineeringChangeOrder")]
public sealed record EngineeringChangeOrder(
    [property: Id(0)] string ChangeId,
    [property: Id(1)] string Product,
    [property: Id(2)] string Revision,
    [property: Id(3)] ImmutableArray<BomLine> Bom,
    [property: Id(4)] DateTimeOffset Effective,
    [property: Id(5)] DateTimeOffset At);

/// <summary>An engineering change waiting for a decision on a released or running order: it keeps its BOM until someone decides.</summary>
[GenerateSerializer, Immutable, Alias("twin.EngineeringChangePending")]
public sealed record EngineeringChangePending(
    [property: Id(0)] string ChangeId,
    [property: Id(1)] string? FromRevision,
    [property: Id(2)] string ToRevision,
    [property: Id(3)] ImmutableArray<BomLine> Bom,
    [property: Id(4)] DateTimeOffset Flagged);

/// <summary>What an engineering change did to the order, kept on it.</summary>
/// <param name="Outcome"><c>switched</c> (automatically, not yet released), <c>flagged</c>, <c>switch</c> or <c>keep</c> (a decision).</param>
/// <param name="GoodAtSwitch">Good parts made when the BOM changed: their material was backflushed under the earlier revision and stays so.</param>
/// <param name="EarlierBom">The BOM before the switch; empty when the order kept its BOM.</param>
[GenerateSerializer, Immutable, Alias("twin.EngineeringChangeEntry")]
public sealed record EngineeringChangeEntry(
    [property: Id(0)] string ChangeId,
    [property: Id(1)] string? FromRevision,
    [property: Id(2)] string ToRevision,
    [property: Id(3)] string Outcome,
    [property: Id(4)] DateTimeOffset At,
    [property: Id(5)] string? By,
    [property: Id(6)] long GoodAtSwitch,
    [property: Id(7)] ImmutableArray<BomLine> EarlierBom);

/// <summary>The answer of a work order to an engineering change.</summary>
[GenerateSerializer, Immutable, Alias("twin.EngineeringChangeAnswer")]
public sealed record EngineeringChangeAnswer(
    [property: Id(0)] Twin.Products.EngineeringChangeTreatment Treatment,
    [property: Id(1)] WorkOrderStatus Status,
    [property: Id(2)] string? FromRevision,
    [property: Id(3)] string Note,
    [property: Id(4)] ImmutableArray<Twin.Products.EngineeringChangeNeed> Remaining);

/// <summary>The twin of a work order, keyed <c>"{factory}/{workOrder}"</c>.</summary>
[Alias("twin.IWorkOrderGrain")]
public interface IWorkOrderGrain : IGrainWithStringKey
{
    /// <summary>
    /// Creates the work order, or updates its definition while it is still
    /// <see cref="WorkOrderStatus.Created"/>. Creating again with the same definition is a no-op.
    /// </summary>
    [Alias("Create")]
    Task<WorkOrderSnapshot> CreateAsync(WorkOrderDefinition definition);

    /// <summary>Moves the order to <paramref name="target"/>; an illegal transition throws <see cref="TwinRuleException"/>.</summary>
    [Alias("Transition")]
    Task<WorkOrderSnapshot> TransitionAsync(WorkOrderStatus target, string? by = null, string? reason = null);

    /// <summary>
    /// Records that MES dispatched the order to <paramref name="line"/> (idempotent). Refused once
    /// the order is completed or cancelled.
    /// </summary>
    [Alias("Dispatch")]
    Task<WorkOrderSnapshot> DispatchAsync(string line, string? by = null);

    /// <summary>
    /// Counts parts made for the order (idempotent by report id): starts a released order,
    /// backflushes its BOM from the source bins for the good parts, and completes the order when
    /// the good quantity reaches its target.
    /// </summary>
    [Alias("RecordProduction")]
    Task<WorkOrderSnapshot> RecordProductionAsync(ProductionReport report);

    /// <summary>The order's state; throws <see cref="TwinRuleException"/> (not found) when never created.</summary>
    [Alias("GetSnapshot")]
    Task<WorkOrderSnapshot> GetSnapshotAsync();

    /// <summary>
    /// What the order recorded of its making: the machines that reported its parts with their
    /// processing windows, and the material the bins answered for its backflush (with lots).
    /// Throws <see cref="TwinRuleException"/> (not found) when never created.
    /// </summary>
    [Alias("GetGenealogyRecord")]
    Task<Twin.Genealogy.GenealogyRecord> GetGenealogyRecordAsync();

    /// <summary>
    /// Applies an engineering change of its product (idempotent by change id): an order not yet
    /// released switches to the new BOM; a released or running one keeps its BOM and is flagged for a
    /// decision; a finished one, one of another product or one due before the effectivity is not affected.
    /// </summary>
    [Alias("ApplyEngineeringChange")]
    Task<EngineeringChangeAnswer> ApplyEngineeringChangeAsync(EngineeringChangeOrder change);

    /// <summary>
    /// Decides the pending engineering change: <paramref name="switchBom"/> true takes the new BOM for
    /// the quantity not yet made (material already backflushed stays as it was), false keeps the BOM.
    /// Repeating the decision taken is a no-op; without a pending change it throws <see cref="TwinRuleException"/>.
    /// </summary>
    [Alias("DecideEngineeringChange")]
    Task<WorkOrderSnapshot> DecideEngineeringChangeAsync(bool switchBom, string? by);

    /// <summary>Whether the order has been created.</summary>
    [Alias("Exists")]
    Task<bool> ExistsAsync();
}
