namespace Twin.Integration;

/// <summary>
/// A workflow output delivered to other systems (webhooks): at least once, with a stable
/// <see cref="Id"/> so a receiver can drop repeats.
/// </summary>
/// <param name="Id">Stable id, e.g. <c>ticket:press-1.LimitHigh.1:opened</c>.</param>
/// <param name="Type">e.g. <c>ticket.opened</c>, <c>ticket.escalated</c>, <c>ticket.resolved</c>, <c>purchase-request.opened</c>, <c>work-order.completed</c>.</param>
/// <param name="Subject">The twin it is about, e.g. <c>ticket/press-1.LimitHigh.1</c>.</param>
/// <param name="Summary">One sentence for people.</param>
[GenerateSerializer, Immutable, Alias("twin.OutboundEvent")]
public sealed record OutboundEvent(
    [property: Id(0)] string Id,
    [property: Id(1)] string Type,
    [property: Id(2)] string Factory,
    [property: Id(3)] string Subject,
    [property: Id(4)] DateTimeOffset At,
    [property: Id(5)] string Summary);
