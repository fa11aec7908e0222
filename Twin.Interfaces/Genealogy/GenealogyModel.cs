using System.Collections.Immutable;
using Twin.Bins;
using Twin.WorkOrders;

namespace Twin.Genealogy;

/// <summary>A quantity of one lot; <paramref name="Lot"/> null is stock the WMS gave no lot for (untracked).</summary>
[GenerateSerializer, Immutable, Alias("twin.LotQuantity")]
public sealed record LotQuantity(
    [property: Id(0)] string? Lot,
    [property: Id(1)] decimal Quantity);

/// <summary>The answer to a movement with the lots an issue or transfer drew (empty for anything that adds stock).</summary>
[GenerateSerializer, Immutable, Alias("twin.LotMovementResult")]
public sealed record LotMovementResult(
    [property: Id(0)] MovementResult Result,
    [property: Id(1)] ImmutableArray<LotQuantity> Lots);

/// <summary>A machine that reported parts of the order: its processing window is from its first to its last part.</summary>
/// <param name="FirstPart">The event time of the first parts it reported for the order.</param>
/// <param name="LastPart">The event time of the latest parts it reported.</param>
/// <param name="Reports">How many count reports it sent for the order.</param>
[GenerateSerializer, Immutable, Alias("twin.GenealogyMachine")]
public sealed record GenealogyMachine(
    [property: Id(0)] string Machine,
    [property: Id(1)] DateTimeOffset FirstPart,
    [property: Id(2)] DateTimeOffset LastPart,
    [property: Id(3)] long Good,
    [property: Id(4)] long Scrap,
    [property: Id(5)] long Reports);

/// <summary>A backflush issue a bin applied for the order, with the lots it drew.</summary>
[GenerateSerializer, Immutable, Alias("twin.GenealogyMovement")]
public sealed record GenealogyMovement(
    [property: Id(0)] string MovementId,
    [property: Id(1)] string Bin,
    [property: Id(2)] string Sku,
    [property: Id(3)] decimal Quantity,
    [property: Id(4)] DateTimeOffset At,
    [property: Id(5)] ImmutableArray<LotQuantity> Lots);

/// <summary>The total the order consumed of one SKU from one bin and one lot (null: untracked stock).</summary>
[GenerateSerializer, Immutable, Alias("twin.GenealogyMaterial")]
public sealed record GenealogyMaterial(
    [property: Id(0)] string Bin,
    [property: Id(1)] string Sku,
    [property: Id(2)] string? Lot,
    [property: Id(3)] decimal Quantity,
    [property: Id(4)] long Movements);

/// <summary>
/// What a work order recorded of its making, as it went: the machines (bounded), the movements
/// (the latest ones, bounded; <paramref name="MovementsTotal"/> counts them all) and the material totals.
/// </summary>
[GenerateSerializer, Immutable, Alias("twin.GenealogyRecord")]
public sealed record GenealogyRecord(
    [property: Id(0)] string Factory,
    [property: Id(1)] string WorkOrder,
    [property: Id(2)] long Version,
    [property: Id(3)] WorkOrderStatus Status,
    [property: Id(4)] string Product,
    [property: Id(5)] ImmutableArray<GenealogyMachine> Machines,
    [property: Id(6)] ImmutableArray<GenealogyMovement> Movements,
    [property: Id(7)] long MovementsTotal,
    [property: Id(8)] ImmutableArray<GenealogyMaterial> Materials,
    [property: Id(9)] long MachinesLeftOut);

/// <summary>One sensor over a machine's processing window: usable readings, mean, extremes, sample standard deviation.</summary>
[GenerateSerializer, Immutable, Alias("twin.GenealogySensor")]
public sealed record GenealogySensor(
    [property: Id(0)] string Sensor,
    [property: Id(1)] int Count,
    [property: Id(2)] double Mean,
    [property: Id(3)] double Min,
    [property: Id(4)] double Max,
    [property: Id(5)] double StdDev,
    [property: Id(6)] string? Unit);

/// <summary>A machine of the order with its window [<paramref name="From"/>, <paramref name="To"/>) and the process conditions in it.</summary>
[GenerateSerializer, Immutable, Alias("twin.GenealogyProcess")]
public sealed record GenealogyProcess(
    [property: Id(0)] string Machine,
    [property: Id(1)] DateTimeOffset From,
    [property: Id(2)] DateTimeOffset To,
    [property: Id(3)] long Good,
    [property: Id(4)] long Scrap,
    [property: Id(5)] long Reports,
    [property: Id(6)] ImmutableArray<GenealogySensor> Sensors,
    [property: Id(7)] string? Note);

/// <summary>
/// The genealogy of a work order: its material (bins, SKUs, lots, movements), machines with
/// windows, process summaries read from the history, and the parts or batches its machines'
/// inspection logs hold for it (<paramref name="Parts"/>, read when asked).
/// </summary>
[GenerateSerializer, Immutable, Alias("twin.GenealogyReport")]
public sealed record WorkOrderGenealogy(
    [property: Id(0)] string Factory,
    [property: Id(1)] string WorkOrder,
    [property: Id(2)] string Product,
    [property: Id(3)] WorkOrderStatus Status,
    [property: Id(4)] long Version,
    [property: Id(5)] ImmutableArray<string> Bins,
    [property: Id(6)] ImmutableArray<string> Lots,
    [property: Id(7)] ImmutableArray<GenealogyMaterial> Materials,
    [property: Id(8)] ImmutableArray<GenealogyMovement> Movements,
    [property: Id(9)] long MovementsTotal,
    [property: Id(10)] ImmutableArray<GenealogyProcess> Machines,
    [property: Id(11)] long MachinesLeftOut,
    [property: Id(12)] ImmutableArray<string> Parts,
    [property: Id(13)] ImmutableArray<string> Notes);

/// <summary>A work order that consumed the lot: first from which bin and SKU, and when.</summary>
[GenerateSerializer, Immutable, Alias("twin.LotUse")]
public sealed record LotUse(
    [property: Id(0)] string WorkOrder,
    [property: Id(1)] string Bin,
    [property: Id(2)] string Sku,
    [property: Id(3)] DateTimeOffset FirstUsed);

/// <summary>A receipt of the lot into a bin.</summary>
[GenerateSerializer, Immutable, Alias("twin.LotReceipt")]
public sealed record LotReceipt(
    [property: Id(0)] string MovementId,
    [property: Id(1)] string Bin,
    [property: Id(2)] string? Sku,
    [property: Id(3)] decimal Quantity,
    [property: Id(4)] DateTimeOffset At);

/// <summary>Where a lot went: the bins it was received into and the work orders that used it (the first ones, bounded; the totals count all).</summary>
[GenerateSerializer, Immutable, Alias("twin.LotGenealogy")]
public sealed record LotGenealogy(
    [property: Id(0)] string Factory,
    [property: Id(1)] string Lot,
    [property: Id(2)] long Version,
    [property: Id(3)] ImmutableArray<LotUse> WorkOrders,
    [property: Id(4)] long WorkOrdersTotal,
    [property: Id(5)] ImmutableArray<LotReceipt> Receipts,
    [property: Id(6)] long ReceiptsTotal);

/// <summary>The reverse index of one lot, keyed <c>"{factory}/{lot}"</c>: kept by events from bins and work orders (their outboxes), never by a scan.</summary>
[Alias("twin.Lot.ILotGrain")]
public interface ILotGrain : IGrainWithStringKey
{
    /// <summary>Records that a work order used the lot (once per order: a repeat changes nothing).</summary>
    [Alias("RecordUse")]
    Task RecordUseAsync(LotUse use);

    /// <summary>Records a receipt of the lot into a bin (once per movement id).</summary>
    [Alias("RecordReceipt")]
    Task RecordReceiptAsync(LotReceipt receipt);

    /// <summary>The lot's uses; throws <see cref="TwinRuleException"/> (not found) for a lot never received nor used.</summary>
    [Alias("Get")]
    Task<LotGenealogy> GetAsync();
}

/// <summary>Builds a work order's genealogy on whichever silo it runs (stateless): the order's record plus process summaries from the history.</summary>
[Alias("twin.Genealogy.IGenealogyGrain")]
public interface IGenealogyGrain : IGrainWithIntegerKey
{
    /// <summary>The genealogy of <paramref name="workOrder"/>; throws <see cref="TwinRuleException"/> (not found) for an unknown order.</summary>
    [Alias("GetWorkOrder")]
    Task<WorkOrderGenealogy> GetWorkOrderAsync(string factory, string workOrder);
}
