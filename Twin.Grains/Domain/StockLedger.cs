using System.Collections.Immutable;
using Twin.Bins;
using Twin.Genealogy;
using Twin.Grains.Infrastructure;

namespace Twin.Grains.Domain;

[GenerateSerializer, Alias("twin.BinState")]
public sealed class BinState : IRegisteredState
{
    [Id(0)] public long Version { get; set; }
    [Id(1)] public string? Sku { get; set; }
    [Id(2)] public decimal OnHand { get; set; }
    [Id(3)] public decimal Reserved { get; set; }
    [Id(4)] public decimal ReorderPoint { get; set; }
    [Id(5)] public decimal ReorderQuantity { get; set; }
    [Id(6)] public string? Location { get; set; }
    [Id(7)] public bool Defined { get; set; }

    /// <summary>Results of the latest movements by id, oldest first, for idempotent replays.</summary>
    [Id(8)] public List<MovementResult> Applied { get; set; } = [];

    [Id(9)] public List<MovementRecord> Recent { get; set; } = [];
    [Id(10)] public bool Registered { get; set; }

    /// <summary>The last notice sent to purchasing said "below the reorder point".</summary>
    [Id(11)] public bool BelowNotified { get; set; }

    /// <summary>Notices for the purchasing desk as saved before the one outbox: moved into <see cref="Outbox"/> on load.</summary>
    [Id(12)] public List<Twin.Purchasing.StockNotice> EarlierNotices { get; set; } = [];

    /// <summary>Transfers not yet taken in by their target, as saved before the one outbox: moved into <see cref="Outbox"/> on load.</summary>
    [Id(13)] public List<StockMovement> EarlierTransfers { get; set; } = [];

    /// <summary>The factory KPIs have not yet taken the bin's latest stock.</summary>
    [Id(14)] public bool KpiPending { get; set; }

    /// <summary>Notices for purchasing and transfers for their target bins, not yet taken (the bin's persisted outbox).</summary>
    [Id(15)] public List<Twin.Grains.Infrastructure.OutboxEntry> Outbox { get; set; } = [];

    /// <summary>The lots the bin holds, oldest receipt first (<see cref="LotLedger"/>); empty while it never received a lot.</summary>
    [Id(16)] public List<LotLayer> Lots { get; set; } = [];

    /// <summary>The lots the latest issues and transfers drew, oldest first, for idempotent replays (as many as <see cref="Applied"/>).</summary>
    [Id(17)] public List<LotDraw> Draws { get; set; } = [];
}

/// <summary>
/// The rules of a stock bin: movements apply once per id, stock never goes negative.
/// Pure: the grain persists and routes.
/// </summary>
public static class StockLedger
{
    /// <summary>How many movement ids a bin remembers for replays.</summary>
    public const int IdempotencyHorizon = 1000;

    /// <summary>How many applied movements a snapshot shows.</summary>
    public const int RecentShown = 20;

    public static IReadOnlyList<string> Validate(StockMovement movement)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(movement.MovementId) || movement.MovementId.Length > 128)
        {
            errors.Add("movementId: required, at most 128 characters");
        }

        if (!Enum.IsDefined(movement.Kind))
        {
            errors.Add($"kind: '{movement.Kind}' is not a movement kind");
        }

        if (movement.Kind == MovementKind.CountAdjustment ? movement.Quantity < 0 : movement.Quantity <= 0)
        {
            errors.Add(movement.Kind == MovementKind.CountAdjustment
                ? "quantity: a counted quantity cannot be negative"
                : "quantity: must be positive");
        }

        if (movement.Kind == MovementKind.Transfer && !TwinKey.IsValidId(movement.TargetBin, out var error))
        {
            errors.Add($"targetBin: required for a transfer; {error}");
        }

        if (movement.Lot is not null && !TwinKey.IsValidId(movement.Lot, out var lotError))
        {
            errors.Add($"lot: {lotError}");
        }

        return errors;
    }

    public static IReadOnlyList<string> Validate(BinDefinition definition)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(definition.Sku))
        {
            errors.Add("sku: required");
        }

        if (definition.ReorderPoint < 0)
        {
            errors.Add("reorderPoint: cannot be negative");
        }

        if (definition.ReorderQuantity < 0)
        {
            errors.Add("reorderQuantity: cannot be negative");
        }

        return errors;
    }

    public static void Define(BinState state, BinDefinition definition)
    {
        state.Sku = definition.Sku;
        state.ReorderPoint = definition.ReorderPoint;
        state.ReorderQuantity = definition.ReorderQuantity;
        state.Location = definition.Location;
        state.Defined = true;
        state.Version++;
    }

    /// <summary>The first result recorded for this movement id, if it was applied before.</summary>
    public static MovementResult? FindApplied(BinState state, string movementId)
    {
        for (var i = state.Applied.Count - 1; i >= 0; i--)
        {
            if (state.Applied[i].MovementId == movementId)
            {
                return state.Applied[i];
            }
        }

        return null;
    }

    /// <summary>The lots a movement drew when it was applied: kept ones, else (a bin without lots, or forgotten) untracked.</summary>
    public static ImmutableArray<LotQuantity> FindDraw(BinState state, StockMovement movement)
    {
        for (var i = state.Draws.Count - 1; i >= 0; i--)
        {
            if (state.Draws[i].MovementId == movement.MovementId)
            {
                return state.Draws[i].Lots;
            }
        }

        return movement.Kind is MovementKind.Issue or MovementKind.Transfer ? [new LotQuantity(null, movement.Quantity)] : [];
    }

    /// <summary>
    /// Applies a movement (its id not applied before). Returns the result; a refusal changes nothing.
    /// </summary>
    public static MovementResult Apply(BinState state, StockMovement movement) => Apply(state, movement, out _);

    /// <summary>
    /// Applies a movement (its id not applied before) and keeps the bin's lots: <paramref name="lots"/>
    /// are the lots an issue or transfer drew (empty otherwise). A refusal changes nothing.
    /// </summary>
    public static MovementResult Apply(BinState state, StockMovement movement, out ImmutableArray<LotQuantity> lots)
    {
        lots = [];
        var errors = Validate(movement);
        if (errors.Count > 0)
        {
            return Refuse(state, movement, string.Join("; ", errors));
        }

        var onHand = state.OnHand;
        var reserved = state.Reserved;
        switch (movement.Kind)
        {
            case MovementKind.Receipt:
            case MovementKind.TransferIn:
                onHand += movement.Quantity;
                break;
            case MovementKind.Issue:
            case MovementKind.Transfer:
                onHand -= movement.Quantity;
                if (onHand < 0)
                {
                    return Refuse(state, movement, $"stock.insufficient: on-hand {state.OnHand} is less than the {movement.Quantity} to take out");
                }

                break;
            case MovementKind.CountAdjustment:
                onHand = movement.Quantity;
                break;
            case MovementKind.Reserve:
                reserved += movement.Quantity;
                break;
            case MovementKind.Unreserve:
                reserved -= movement.Quantity;
                if (reserved < 0)
                {
                    return Refuse(state, movement, $"stock.reservation: reserved {state.Reserved} is less than the {movement.Quantity} to give back");
                }

                break;
            default:
                return Refuse(state, movement, $"kind: '{movement.Kind}' is not a movement kind");
        }

        lots = LotLedger.Track(state.Lots, movement, state.OnHand, onHand);
        if (lots.Any(l => l.Lot is not null))
        {
            state.Draws.Add(new LotDraw(movement.MovementId, lots));
            if (state.Draws.Count > IdempotencyHorizon)
            {
                state.Draws.RemoveRange(0, state.Draws.Count - IdempotencyHorizon);
            }
        }

        state.OnHand = onHand;
        state.Reserved = reserved;
        state.Version++;
        var result = new MovementResult(movement.MovementId, MovementOutcome.Applied, null, onHand, reserved, state.Version);
        state.Applied.Add(result);
        if (state.Applied.Count > IdempotencyHorizon)
        {
            state.Applied.RemoveRange(0, state.Applied.Count - IdempotencyHorizon);
        }

        state.Recent.Add(new MovementRecord(movement.MovementId, movement.Kind, movement.Quantity, movement.Timestamp, onHand));
        if (state.Recent.Count > RecentShown)
        {
            state.Recent.RemoveRange(0, state.Recent.Count - RecentShown);
        }

        return result;
    }

    /// <summary>
    /// After a change: queues a notice when available stock fell below the reorder point, or when
    /// stock coming in brought it back. One notice per crossing, not per movement.
    /// </summary>
    public static void CheckReorderPoint(BinState state, string cause, bool stockCameIn, DateTimeOffset at)
    {
        if (!state.Defined || state.Sku is null)
        {
            return;
        }

        var available = state.OnHand - state.Reserved;
        if (!state.BelowNotified && available < state.ReorderPoint)
        {
            state.BelowNotified = true;
            Notify(state, new Twin.Purchasing.StockNotice($"below:{cause}", true, state.Sku, available, state.ReorderPoint, state.ReorderQuantity, at));
        }
        else if (state.BelowNotified && stockCameIn && available >= state.ReorderPoint)
        {
            state.BelowNotified = false;
            Notify(state, new Twin.Purchasing.StockNotice($"refill:{cause}", false, state.Sku, available, state.ReorderPoint, state.ReorderQuantity, at));
        }
    }

    private static void Notify(BinState state, Twin.Purchasing.StockNotice notice)
    {
        OutboxRules.Add(state.Outbox, $"notice:{notice.NoticeId}", new StockNoticeMessage(notice), notice.At);

        // The same crossing tells the planner: orders short of this material wait for it.
        var signal = new Twin.Scheduling.PlanningSignal(
            $"material:{notice.NoticeId}",
            notice.Below ? Twin.Scheduling.PlanningSignalKind.MaterialShort : Twin.Scheduling.PlanningSignalKind.MaterialAvailable,
            "",
            notice.At,
            notice.Below ? $"{notice.Sku} below its reorder point ({notice.Available} available)" : $"{notice.Sku} refilled ({notice.Available} available)",
            Sku: notice.Sku,
            Available: notice.Available);
        OutboxRules.Add(state.Outbox, $"planning:{signal.Id}", new PlanningMessage(signal), notice.At);
    }

    /// <summary>
    /// Queues a transfer's arrival for its target bin, in the write that takes the stock out. It
    /// carries the lot when everything it drew was of one lot; otherwise it arrives untracked.
    /// </summary>
    public static void QueueTransfer(BinState state, string source, StockMovement transfer, ImmutableArray<LotQuantity> drawn = default) =>
        OutboxRules.Add(
            state.Outbox,
            $"transfer:{transfer.MovementId}",
            new MovementMessage(transfer.TargetBin!, transfer with
            {
                Kind = MovementKind.TransferIn,
                TargetBin = null,
                Reference = transfer.Reference ?? $"transfer from {source}",
                Lot = drawn.IsDefaultOrEmpty ? transfer.Lot : drawn.Length == 1 ? drawn[0].Lot : null,
            }),
            transfer.Timestamp);

    /// <summary>Tells the lot's index of a receipt with a lot, in the write that applies it.</summary>
    public static void QueueLotReceipt(BinState state, string bin, StockMovement receipt)
    {
        if (receipt.Lot is { } lot && receipt.Kind is MovementKind.Receipt or MovementKind.TransferIn)
        {
            OutboxRules.Add(
                state.Outbox,
                $"lot-receipt:{receipt.MovementId}",
                new LotReceiptMessage(lot, new LotReceipt(receipt.MovementId, bin, state.Sku, receipt.Quantity, receipt.Timestamp)),
                receipt.Timestamp);
        }
    }

    /// <summary>Moves what a bin saved before the one outbox into <see cref="BinState.Outbox"/>; true when anything moved.</summary>
    public static bool Upgrade(BinState state, string id)
    {
        if (state.EarlierNotices.Count == 0 && state.EarlierTransfers.Count == 0)
        {
            return false;
        }

        var earlier = new BinState();
        state.EarlierTransfers.ForEach(t => QueueTransfer(earlier, id, t));
        state.EarlierNotices.ForEach(n => Notify(earlier, n));
        state.EarlierNotices.Clear();
        state.EarlierTransfers.Clear();
        OutboxRules.Prepend(state.Outbox, earlier.Outbox);
        return true;
    }

    public static MovementResult AsDuplicate(MovementResult first) => first with { Outcome = MovementOutcome.Duplicate };

    public static BinSnapshot ToSnapshot(string factory, string id, BinState state)
    {
        var available = state.OnHand - state.Reserved;
        return new BinSnapshot(
            factory,
            id,
            state.Version,
            state.Sku,
            state.OnHand,
            state.Reserved,
            available,
            state.ReorderPoint,
            state.ReorderQuantity,
            state.Defined && available < state.ReorderPoint,
            state.Location,
            [.. Enumerable.Reverse(state.Recent)]);
    }

    private static MovementResult Refuse(BinState state, StockMovement movement, string reason) =>
        new(movement.MovementId, MovementOutcome.Refused, reason, state.OnHand, state.Reserved, state.Version);
}
