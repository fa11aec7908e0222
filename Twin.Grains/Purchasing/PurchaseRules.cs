using Twin.Purchasing;

namespace Twin.Grains.Purchasing;

[GenerateSerializer, Alias("twin.PurchaseRequestState")]
public sealed class PurchaseRequestState
{
    [Id(0)] public int Number { get; set; }
    [Id(1)] public string Sku { get; set; } = "";
    [Id(2)] public decimal Quantity { get; set; }
    [Id(3)] public PurchaseRequestStatus Status { get; set; }
    [Id(4)] public string Cause { get; set; } = "";
    [Id(5)] public decimal AvailableAtRequest { get; set; }
    [Id(6)] public List<PurchaseRequestStep> History { get; set; } = [];
    [Id(7)] public long Version { get; set; }
}

[GenerateSerializer, Alias("twin.PurchaseDeskState")]
public sealed class PurchaseDeskState : Twin.Grains.Infrastructure.IRegisteredState
{
    [Id(0)] public List<PurchaseRequestState> Requests { get; set; } = [];
    [Id(1)] public List<string> SeenNotices { get; set; } = [];
    [Id(2)] public bool Registered { get; set; }
    /// <summary>External events as saved before the one outbox: moved into <see cref="Outbox"/> on load.</summary>
    [Id(3)] public List<Twin.Grains.Infrastructure.PendingEvent> EarlierOutbound { get; set; } = [];

    /// <summary>Purchase events for external systems not yet taken (the desk's persisted outbox).</summary>
    [Id(4)] public List<Twin.Grains.Infrastructure.OutboxEntry> Outbox { get; set; } = [];
}

/// <summary>The rules of a bin's purchase requests. Pure.</summary>
public static class PurchaseRules
{
    public const int NoticesRemembered = 500;
    public const int RequestsKept = 50;

    private static readonly Dictionary<PurchaseRequestStatus, PurchaseRequestStatus[]> Allowed = new()
    {
        [PurchaseRequestStatus.Open] = [PurchaseRequestStatus.Ordered, PurchaseRequestStatus.Received, PurchaseRequestStatus.Closed],
        [PurchaseRequestStatus.Ordered] = [PurchaseRequestStatus.Received, PurchaseRequestStatus.Closed],
        [PurchaseRequestStatus.Received] = [PurchaseRequestStatus.Closed],
        [PurchaseRequestStatus.Closed] = [],
    };

    public static bool IsOpen(PurchaseRequestStatus status) => status is PurchaseRequestStatus.Open or PurchaseRequestStatus.Ordered;

    /// <summary>Applies a notice; false when it was seen before or changed nothing.</summary>
    public static bool Notice(PurchaseDeskState desk, StockNotice notice)
    {
        if (!Twin.Grains.Infrastructure.SeenIds.Remember(desk.SeenNotices, notice.NoticeId, NoticesRemembered))
        {
            return false;
        }

        var open = desk.Requests.LastOrDefault(r => IsOpen(r.Status));
        if (notice.Below)
        {
            if (open is not null)
            {
                return true;
            }

            desk.Requests.Add(new PurchaseRequestState
            {
                Number = desk.Requests.Count == 0 ? 1 : desk.Requests[^1].Number + 1,
                Sku = notice.Sku,
                Quantity = notice.ReorderQuantity,
                Status = PurchaseRequestStatus.Open,
                Cause = notice.NoticeId,
                AvailableAtRequest = notice.Available,
                History = [new PurchaseRequestStep(PurchaseRequestStatus.Open, notice.At, "reorder-point", $"available {notice.Available} below reorder point {notice.ReorderPoint}")],
                Version = 1,
            });
            if (desk.Requests.Count > RequestsKept)
            {
                desk.Requests.RemoveAt(0);
            }

            return true;
        }

        if (open is null)
        {
            return true;
        }

        // The receipt that refilled the bin closes the request.
        open.Status = PurchaseRequestStatus.Received;
        open.History.Add(new PurchaseRequestStep(PurchaseRequestStatus.Received, notice.At, "wms", $"receipt {notice.NoticeId}: available {notice.Available}"));
        open.Status = PurchaseRequestStatus.Closed;
        open.History.Add(new PurchaseRequestStep(PurchaseRequestStatus.Closed, notice.At, "wms", null));
        open.Version++;
        return true;
    }

    public static void Move(PurchaseDeskState desk, int number, PurchaseRequestStatus target, DateTimeOffset now, string? by, string? note)
    {
        var request = desk.Requests.FirstOrDefault(r => r.Number == number)
            ?? throw new TwinRuleException("purchase-request.not-found", $"Purchase request {number} does not exist.");
        if (request.Status == target)
        {
            return;
        }

        if (!Allowed[request.Status].Contains(target))
        {
            throw new TwinRuleException("purchase-request.illegal-transition", $"A purchase request cannot go from {request.Status} to {target}.");
        }

        request.Status = target;
        request.History.Add(new PurchaseRequestStep(target, now, by, note));
        request.Version++;
    }

    public static PurchaseRequest ToRequest(string factory, string bin, PurchaseRequestState r) =>
        new(factory, $"{bin}.{r.Number}", bin, r.Sku, r.Quantity, r.Status, r.Cause, r.AvailableAtRequest, [.. r.History], r.Version);
}
