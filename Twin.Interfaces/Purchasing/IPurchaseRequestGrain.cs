using System.Collections.Immutable;

namespace Twin.Purchasing;

/// <summary>The lifecycle of a purchase request.</summary>
public enum PurchaseRequestStatus
{
    /// <summary>Raised because the bin fell below its reorder point.</summary>
    Open = 0,

    /// <summary>Ordered from the supplier (ERP).</summary>
    Ordered = 1,

    /// <summary>The goods arrived: a receipt brought the bin back to its reorder point.</summary>
    Received = 2,

    /// <summary>Done (terminal).</summary>
    Closed = 3,
}

/// <summary>A stock bin's notice to its purchasing desk, sent once per id.</summary>
/// <param name="NoticeId">Stable id (the movement that caused it).</param>
/// <param name="Below">True: available fell below the reorder point; false: a receipt refilled the bin.</param>
[GenerateSerializer, Immutable, Alias("twin.StockNotice")]
public sealed record StockNotice(
    [property: Id(0)] string NoticeId,
    [property: Id(1)] bool Below,
    [property: Id(2)] string Sku,
    [property: Id(3)] decimal Available,
    [property: Id(4)] decimal ReorderPoint,
    [property: Id(5)] decimal ReorderQuantity,
    [property: Id(6)] DateTimeOffset At);

/// <summary>A step of a purchase request with who and when.</summary>
[GenerateSerializer, Immutable, Alias("twin.PurchaseRequestStep")]
public sealed record PurchaseRequestStep(
    [property: Id(0)] PurchaseRequestStatus Status,
    [property: Id(1)] DateTimeOffset At,
    [property: Id(2)] string? By,
    [property: Id(3)] string? Note);

/// <summary>A purchase request and what caused it.</summary>
/// <param name="Id">Request id <c>{bin}.{n}</c>.</param>
/// <param name="Cause">The movement that took the bin below its reorder point.</param>
[GenerateSerializer, Immutable, Alias("twin.PurchaseRequest")]
public sealed record PurchaseRequest(
    [property: Id(0)] string Factory,
    [property: Id(1)] string Id,
    [property: Id(2)] string Bin,
    [property: Id(3)] string Sku,
    [property: Id(4)] decimal Quantity,
    [property: Id(5)] PurchaseRequestStatus Status,
    [property: Id(6)] string Cause,
    [property: Id(7)] decimal AvailableAtRequest,
    [property: Id(8)] ImmutableArray<PurchaseRequestStep> History,
    [property: Id(9)] long Version);

/// <summary>The purchasing desk of one bin, keyed <c>"{factory}/{bin}"</c>: at most one open request at a time.</summary>
[Alias("twin.IPurchaseRequestGrain")]
public interface IPurchaseRequestGrain : IGrainWithStringKey
{
    /// <summary>Takes a notice from the bin (idempotent by notice id).</summary>
    [Alias("Notice")]
    Task NoticeAsync(StockNotice notice);

    /// <summary>Moves a request along its lifecycle; an illegal step throws <see cref="TwinRuleException"/>.</summary>
    [Alias("Move")]
    Task<PurchaseRequest> MoveAsync(int number, PurchaseRequestStatus target, string? by, string? note);

    /// <summary>The bin's requests, newest first.</summary>
    [Alias("List")]
    Task<ImmutableArray<PurchaseRequest>> ListAsync();
}
