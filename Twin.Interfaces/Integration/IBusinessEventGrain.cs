using Twin.Bins;
using Twin.WorkOrders;

namespace Twin.Integration;

/// <summary>A command from a business system (ERP, WMS, MES), applied once per event id.</summary>
/// <param name="EventId">The sender's idempotency id.</param>
/// <param name="Fingerprint">A hash of the request's content: the same id with other content is refused.</param>
[GenerateSerializer, Immutable, Alias("twin.BusinessEvent")]
public abstract record BusinessEvent(
    [property: Id(0)] string EventId,
    [property: Id(1)] string Fingerprint);

/// <summary>What ERP asks of a work order.</summary>
public enum WorkOrderAction
{
    /// <summary>Create it, or update its definition while it is still created.</summary>
    Create = 0,

    /// <summary>Release it to production.</summary>
    Release = 1,

    /// <summary>Cancel it.</summary>
    Cancel = 2,
}

/// <summary>An ERP work order event.</summary>
[GenerateSerializer, Immutable, Alias("twin.WorkOrderEvent")]
public sealed record WorkOrderEvent(
    string EventId,
    string Fingerprint,
    [property: Id(0)] WorkOrderAction Action,
    [property: Id(1)] string WorkOrder,
    [property: Id(2)] WorkOrderDefinition? Definition,
    [property: Id(3)] string? Reason) : BusinessEvent(EventId, Fingerprint);

/// <summary>A WMS stock movement; the event id is the movement id.</summary>
[GenerateSerializer, Immutable, Alias("twin.StockMovementEvent")]
public sealed record StockMovementEvent(
    string EventId,
    string Fingerprint,
    [property: Id(0)] string Bin,
    [property: Id(1)] StockMovement Movement) : BusinessEvent(EventId, Fingerprint);

/// <summary>An MES dispatch of a work order to a line.</summary>
[GenerateSerializer, Immutable, Alias("twin.DispatchEvent")]
public sealed record DispatchEvent(
    string EventId,
    string Fingerprint,
    [property: Id(0)] string WorkOrder,
    [property: Id(1)] string Line) : BusinessEvent(EventId, Fingerprint);

/// <summary>An MES inspection result for a machine: the same as a message on its <c>quality</c> topic, identified by the event id.</summary>
[GenerateSerializer, Immutable, Alias("twin.InspectionEvent")]
public sealed record InspectionEvent(
    string EventId,
    string Fingerprint,
    [property: Id(0)] string Machine,
    [property: Id(1)] Twin.Quality.QualityMessage Inspection) : BusinessEvent(EventId, Fingerprint);

/// <summary>A PLM engineering change: a new revision of a product, applied to its work orders; the event id is the change id.</summary>
[GenerateSerializer, Immutable, Alias("twin.EngineeringChangeEvent")]
public sealed record EngineeringChangeEvent(
    string EventId,
    string Fingerprint,
    [property: Id(0)] Twin.Products.EngineeringChange Change) : BusinessEvent(EventId, Fingerprint);

/// <summary>The first result of an event, returned again on every replay.</summary>
/// <param name="Applied">True when the twin accepted it; false when a twin rule refused it.</param>
/// <param name="Code">The rule's code when refused, e.g. <c>stock.insufficient</c>.</param>
/// <param name="Detail">A sentence saying what happened.</param>
/// <param name="Twin">The twin it acted on, <c>{kind}/{id}</c>.</param>
/// <param name="Version">The twin's version after it.</param>
/// <param name="Replay">True when this answer is a replay of the first result.</param>
[GenerateSerializer, Immutable, Alias("twin.EventOutcome")]
public sealed record EventOutcome(
    [property: Id(0)] string EventId,
    [property: Id(1)] bool Applied,
    [property: Id(2)] string? Code,
    [property: Id(3)] string Detail,
    [property: Id(4)] string Twin,
    [property: Id(5)] long Version,
    [property: Id(6)] DateTimeOffset At,
    [property: Id(7)] bool Replay);

/// <summary>
/// The once-only ledger of one business event, keyed <c>"{factory}/{channel}/{eventId}"</c>
/// (channel: <c>erp</c>, <c>wms</c>, <c>mes</c>, <c>plm</c>). It applies the event to its twin the first
/// time and keeps the outcome, so a retried request gets the same answer and changes nothing.
/// </summary>
[Alias("twin.IBusinessEventGrain")]
public interface IBusinessEventGrain : IGrainWithStringKey
{
    /// <summary>Applies the event once; a replay returns the first outcome with <see cref="EventOutcome.Replay"/> set.</summary>
    /// <exception cref="TwinRuleException">Code <c>event.id-reused</c>: the id was used before for different content.</exception>
    [Alias("ApplyOnce")]
    Task<EventOutcome> ApplyOnceAsync(BusinessEvent businessEvent);
}
