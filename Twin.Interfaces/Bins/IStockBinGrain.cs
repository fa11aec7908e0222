using System.Collections.Immutable;

namespace Twin.Bins;

/// <summary>Master data of a stock bin.</summary>
/// <param name="Sku">The stock-keeping unit held in the bin.</param>
/// <param name="ReorderPoint">Below this available quantity (on-hand − reserved) a purchase request is due.</param>
/// <param name="ReorderQuantity">The quantity to order when reordering.</param>
/// <param name="Location">Free text, e.g. a rack position.</param>
[GenerateSerializer, Immutable, Alias("twin.BinDefinition")]
public sealed record BinDefinition(
    [property: Id(0)] string Sku,
    [property: Id(1)] decimal ReorderPoint,
    [property: Id(2)] decimal ReorderQuantity,
    [property: Id(3)] string? Location = null);

/// <summary>Kinds of stock movement.</summary>
public enum MovementKind
{
    /// <summary>Goods received into the bin (+quantity).</summary>
    Receipt = 0,

    /// <summary>Goods issued from the bin (−quantity).</summary>
    Issue = 1,

    /// <summary>Goods moved from this bin to <see cref="StockMovement.TargetBin"/>.</summary>
    Transfer = 2,

    /// <summary>The receiving side of a transfer (+quantity); sent by the source bin.</summary>
    TransferIn = 3,

    /// <summary>A physical count: on-hand becomes the quantity.</summary>
    CountAdjustment = 4,

    /// <summary>Quantity set aside for a work order (reserved +quantity).</summary>
    Reserve = 5,

    /// <summary>A reservation given back (reserved −quantity).</summary>
    Unreserve = 6,
}

/// <summary>A stock movement, applied once per <paramref name="MovementId"/>.</summary>
/// <param name="Lot">
/// The material lot (batch) it concerns, where the WMS knows it: a receipt brings that lot into the
/// bin; an issue or transfer takes from that lot first. Without it an issue draws the bin's lots
/// first in, first out (by receipt). An id: letters, digits, <c>-</c>, <c>_</c>, <c>.</c>.
/// </param>
[GenerateSerializer, Immutable, Alias("twin.StockMovement")]
public sealed record StockMovement(
    [property: Id(0)] string MovementId,
    [property: Id(1)] MovementKind Kind,
    [property: Id(2)] decimal Quantity,
    [property: Id(3)] DateTimeOffset Timestamp,
    [property: Id(4)] string? TargetBin = null,
    [property: Id(5)] string? Reference = null,
    [property: Id(6)] string? Lot = null);

/// <summary>What became of a movement.</summary>
public enum MovementOutcome
{
    /// <summary>Applied now.</summary>
    Applied = 0,

    /// <summary>Applied before under the same id; nothing changed now.</summary>
    Duplicate = 1,

    /// <summary>Refused; <see cref="MovementResult.Reason"/> says why. Nothing changed.</summary>
    Refused = 2,
}

/// <summary>The answer to a movement, with the bin's quantities after it.</summary>
[GenerateSerializer, Immutable, Alias("twin.MovementResult")]
public sealed record MovementResult(
    [property: Id(0)] string MovementId,
    [property: Id(1)] MovementOutcome Outcome,
    [property: Id(2)] string? Reason,
    [property: Id(3)] decimal OnHand,
    [property: Id(4)] decimal Reserved,
    [property: Id(5)] long Version);

/// <summary>A movement as the bin recorded it.</summary>
[GenerateSerializer, Immutable, Alias("twin.MovementRecord")]
public sealed record MovementRecord(
    [property: Id(0)] string MovementId,
    [property: Id(1)] MovementKind Kind,
    [property: Id(2)] decimal Quantity,
    [property: Id(3)] DateTimeOffset Timestamp,
    [property: Id(4)] decimal OnHandAfter);

/// <summary>The state of a stock bin.</summary>
/// <param name="Available">On-hand minus reserved.</param>
/// <param name="BelowReorderPoint">True when available is below the reorder point.</param>
/// <param name="RecentMovements">The latest applied movements, newest first.</param>
[GenerateSerializer, Immutable, Alias("twin.BinSnapshot")]
public sealed record BinSnapshot(
    [property: Id(0)] string Factory,
    [property: Id(1)] string Id,
    [property: Id(2)] long Version,
    [property: Id(3)] string? Sku,
    [property: Id(4)] decimal OnHand,
    [property: Id(5)] decimal Reserved,
    [property: Id(6)] decimal Available,
    [property: Id(7)] decimal ReorderPoint,
    [property: Id(8)] decimal ReorderQuantity,
    [property: Id(9)] bool BelowReorderPoint,
    [property: Id(10)] string? Location,
    [property: Id(11)] ImmutableArray<MovementRecord> RecentMovements);

/// <summary>The twin of a stock bin, keyed <c>"{factory}/{bin}"</c>.</summary>
[Alias("twin.IStockBinGrain")]
public interface IStockBinGrain : IGrainWithStringKey
{
    /// <summary>Sets the bin's master data; quantities are kept.</summary>
    [Alias("Define")]
    Task<BinSnapshot> DefineAsync(BinDefinition definition);

    /// <summary>
    /// Applies a movement once per movement id; a replay answers the first result without
    /// applying again. A movement that would make on-hand or reserved negative is refused.
    /// </summary>
    [Alias("ApplyMovement")]
    Task<MovementResult> ApplyMovementAsync(StockMovement movement);

    /// <summary>
    /// <see cref="ApplyMovementAsync"/>, answering also which lots an issue or transfer drew (a
    /// replay answers the same lots): what a work order records as its genealogy.
    /// </summary>
    [Alias("ApplyTracedMovement")]
    Task<Twin.Genealogy.LotMovementResult> ApplyTracedMovementAsync(StockMovement movement);

    /// <summary>The bin's lots with their remaining quantities, oldest receipt first.</summary>
    [Alias("GetLots")]
    Task<ImmutableArray<Twin.Genealogy.LotQuantity>> GetLotsAsync();

    /// <summary>The bin's state.</summary>
    [Alias("GetSnapshot")]
    Task<BinSnapshot> GetSnapshotAsync();

    /// <summary>Whether the bin has been defined or moved.</summary>
    [Alias("Exists")]
    Task<bool> ExistsAsync();
}
