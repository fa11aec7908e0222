using System.Collections.Immutable;
using Twin.Machines;
using Twin.WorkOrders;

namespace Twin.Scheduling;

/// <summary>One step of a product's routing: an operation, the machines that can run it, its setup and its run time per part.</summary>
/// <param name="Operation">The operation's id within the routing, e.g. <c>10</c>; steps run in the order given.</param>
/// <param name="Machines">The machines that can run it (any one of them); a faster or slower one is a separate step entry's concern, not modelled here.</param>
/// <param name="Setup">Setup before a run; saved when the machine ran the same product's operation just before.</param>
[GenerateSerializer, Immutable, Alias("twin.RoutingStep")]
public sealed record RoutingStep(
    [property: Id(0)] string Operation,
    [property: Id(1)] ImmutableArray<string> Machines,
    [property: Id(2)] TimeSpan Setup,
    [property: Id(3)] TimeSpan RunPerPart,
    [property: Id(4)] string? Name = null);

/// <summary>Planning master data of one product: its operations in precedence order.</summary>
[GenerateSerializer, Immutable, Alias("twin.Routing")]
public sealed record Routing(
    [property: Id(0)] string Product,
    [property: Id(1)] ImmutableArray<RoutingStep> Steps);

/// <summary>What a twin tells the factory's planner (through its outbox).</summary>
public enum PlanningSignalKind
{
    /// <summary>A work order was created, changed, released, started, progressed, completed or cancelled.</summary>
    OrderChanged = 0,

    /// <summary>A machine reported <c>down</c>.</summary>
    MachineDown = 1,

    /// <summary>A machine that was down reported another state.</summary>
    MachineUp = 2,

    /// <summary>A <c>Predicted</c> maintenance ticket opened: a maintenance window is reserved.</summary>
    MaintenancePredicted = 3,

    /// <summary>That ticket was resolved or closed: the window is released.</summary>
    MaintenanceCleared = 4,

    /// <summary>A bin fell below its reorder point.</summary>
    MaterialShort = 5,

    /// <summary>A receipt brought a bin back to its reorder point.</summary>
    MaterialAvailable = 6,

    /// <summary>A machine's shift calendar was set or changed.</summary>
    MachineCalendar = 7,
}

/// <summary>A work order as the planner needs it.</summary>
/// <param name="Version">The order's version: an older report is ignored.</param>
[GenerateSerializer, Immutable, Alias("twin.OrderDemand")]
public sealed record OrderDemand(
    [property: Id(0)] string WorkOrder,
    [property: Id(1)] long Version,
    [property: Id(2)] string Product,
    [property: Id(3)] long Quantity,
    [property: Id(4)] long Good,
    [property: Id(5)] DateTimeOffset? Due,
    [property: Id(6)] WorkOrderStatus Status,
    [property: Id(7)] ImmutableArray<BomLine> Bom,
    [property: Id(8)] int Priority,
    [property: Id(9)] string? Line);

/// <summary>An event for the planner, applied once per <paramref name="Id"/>.</summary>
/// <param name="Subject">The twin it is about (machine, work order or bin id); filled in on delivery when empty.</param>
/// <param name="Summary">One sentence: the re-plan it causes records it as its trigger.</param>
[GenerateSerializer, Immutable, Alias("twin.PlanningSignal")]
public sealed record PlanningSignal(
    [property: Id(0)] string Id,
    [property: Id(1)] PlanningSignalKind Kind,
    [property: Id(2)] string Subject,
    [property: Id(3)] DateTimeOffset At,
    [property: Id(4)] string Summary,
    [property: Id(5)] OrderDemand? Order = null,
    [property: Id(6)] string? Sku = null,
    [property: Id(7)] decimal? Available = null,
    [property: Id(8)] ShiftCalendar? Calendar = null,
    [property: Id(9)] string? Machine = null);

/// <summary>An operation of a work order placed on a machine.</summary>
/// <param name="Setup">The first part of <c>[Start, End)</c> that is setup (zero when a run of the same product saved it).</param>
[GenerateSerializer, Immutable, Alias("twin.ScheduledOperation")]
public sealed record ScheduledOperation(
    [property: Id(0)] string WorkOrder,
    [property: Id(1)] string Operation,
    [property: Id(2)] string Machine,
    [property: Id(3)] DateTimeOffset Start,
    [property: Id(4)] DateTimeOffset End,
    [property: Id(5)] TimeSpan Setup,
    [property: Id(6)] string Product,
    [property: Id(7)] string? Line);

/// <summary>The plan's promise for one work order.</summary>
/// <param name="Lateness">Projected completion − due (negative: early); null without a due date.</param>
[GenerateSerializer, Immutable, Alias("twin.OrderPromise")]
public sealed record OrderPromise(
    [property: Id(0)] string WorkOrder,
    [property: Id(1)] string Product,
    [property: Id(2)] DateTimeOffset? Due,
    [property: Id(3)] DateTimeOffset ProjectedCompletion,
    [property: Id(4)] TimeSpan? Lateness,
    [property: Id(5)] bool Late,
    [property: Id(6)] string? Line);

/// <summary>A work order the plan could not place, and why.</summary>
[GenerateSerializer, Immutable, Alias("twin.UnscheduledOrder")]
public sealed record UnscheduledOrder(
    [property: Id(0)] string WorkOrder,
    [property: Id(1)] string Reason);

/// <summary>A work order whose projected completion a re-plan moved.</summary>
[GenerateSerializer, Immutable, Alias("twin.CompletionShift")]
public sealed record CompletionShift(
    [property: Id(0)] string WorkOrder,
    [property: Id(1)] DateTimeOffset? From,
    [property: Id(2)] DateTimeOffset To);

/// <summary>One re-plan: what caused it, how it was solved, and what it changed.</summary>
/// <param name="Triggers">The events that caused it (coalesced while a solve ran), oldest first.</param>
/// <param name="Moved">Operations whose machine or start changed (new ones included).</param>
/// <param name="Stability">Share of the operations of both plans that kept machine and start.</param>
/// <param name="Machines">Machines whose dispatch list changed.</param>
/// <param name="Method">How the plan was made: <c>CP-SAT</c>, a dispatch rule (<c>EDD</c>, <c>PREVIOUS</c>) when its schedule was used, or <c>none</c> when the re-plan failed.</param>
/// <param name="Status"><c>optimal</c>, <c>feasible</c>, <c>heuristic</c> (a dispatch rule's schedule), <c>infeasible</c>, or <c>failed</c> (the plan in force stays; see the notes for why).</param>
/// <param name="TriggersNotListed">Earlier triggers of this re-plan beyond the ones listed (only the newest 20 are kept); the first entry of <paramref name="Triggers"/> then says "… and N more before these".</param>
[GenerateSerializer, Immutable, Alias("twin.ReplanRecord")]
public sealed record ReplanRecord(
    [property: Id(0)] long Version,
    [property: Id(1)] DateTimeOffset At,
    [property: Id(2)] ImmutableArray<string> Triggers,
    [property: Id(3)] string Method,
    [property: Id(4)] string Status,
    [property: Id(5)] TimeSpan Elapsed,
    [property: Id(6)] int Moved,
    [property: Id(7)] ImmutableArray<CompletionShift> Completions,
    [property: Id(8)] double Stability,
    [property: Id(9)] ImmutableArray<string> Machines,
    [property: Id(10)] ImmutableArray<string> Notes,
    [property: Id(11)] int TriggersNotListed = 0);

/// <summary>The factory's schedule now.</summary>
/// <param name="OnTimeRate">Share of the planned orders with a due date projected on time.</param>
/// <param name="Stability">Mean stability over the recent re-plans.</param>
[GenerateSerializer, Immutable, Alias("twin.PlanSnapshot")]
public sealed record PlanSnapshot(
    [property: Id(0)] string Factory,
    [property: Id(1)] long Version,
    [property: Id(2)] DateTimeOffset? PlannedAt,
    [property: Id(3)] ImmutableArray<ScheduledOperation> Operations,
    [property: Id(4)] ImmutableArray<OrderPromise> Orders,
    [property: Id(5)] ImmutableArray<UnscheduledOrder> Unscheduled,
    [property: Id(6)] ReplanRecord? Last,
    [property: Id(7)] double? OnTimeRate,
    [property: Id(8)] double? Stability,
    [property: Id(9)] bool Replanning);

/// <summary>A machine's dispatch list: what it runs next, in order.</summary>
[GenerateSerializer, Immutable, Alias("twin.DispatchList")]
public sealed record DispatchList(
    [property: Id(0)] string Factory,
    [property: Id(1)] string Machine,
    [property: Id(2)] long PlanVersion,
    [property: Id(3)] ImmutableArray<ScheduledOperation> Operations);

/// <summary>An order that might come in now, for a what-if question.</summary>
/// <param name="Quantity">1 to <see cref="WorkOrderLimits.MaxQuantity"/>.</param>
/// <param name="Bom">The material it needs; none: the BOM of an open order of the same product, if the planner knows one.</param>
[GenerateSerializer, Immutable, Alias("twin.WhatIfOrder")]
public sealed record WhatIfOrder(
    [property: Id(0)] string Product,
    [property: Id(1)] long Quantity,
    [property: Id(2)] DateTimeOffset? Due,
    [property: Id(3)] int Priority,
    [property: Id(4)] ImmutableArray<BomLine> Bom = default);

/// <summary>Material a what-if order needs and the bins cannot give it now.</summary>
/// <param name="Needed">What the order needs from the bin.</param>
/// <param name="Available">What is in the bin for it: available (on-hand − reserved) less what the open orders still need from it (never below 0).</param>
/// <param name="OnOrder">Open or ordered purchase requests of the bin.</param>
/// <param name="Covered">True when the purchase requests cover what is short.</param>
/// <param name="ExpectedAt">The earliest the order is planned to start because of it: purchase requests carry no delivery date, so this is the material lead time (<c>Twin:Planning:MaterialLeadTime</c>) from now.</param>
[GenerateSerializer, Immutable, Alias("twin.MaterialShortage")]
public sealed record MaterialShortage(
    [property: Id(0)] string Bin,
    [property: Id(1)] string Sku,
    [property: Id(2)] decimal Needed,
    [property: Id(3)] decimal Available,
    [property: Id(4)] decimal OnOrder,
    [property: Id(5)] bool Covered,
    [property: Id(6)] DateTimeOffset ExpectedAt);

/// <summary>The answer: when the order would finish if it came in now, and whose promises it would move; the plan is not changed.</summary>
/// <param name="Shortages">Material the bins cannot give the order now; the order then starts no earlier than the latest <see cref="MaterialShortage.ExpectedAt"/>.</param>
/// <param name="Notes">How the answer was made (e.g. whose BOM was taken).</param>
[GenerateSerializer, Immutable, Alias("twin.WhatIfAnswer")]
public sealed record WhatIfAnswer(
    [property: Id(0)] DateTimeOffset? ProjectedCompletion,
    [property: Id(1)] TimeSpan? Lateness,
    [property: Id(2)] string? Unschedulable,
    [property: Id(3)] ImmutableArray<ScheduledOperation> Operations,
    [property: Id(4)] ImmutableArray<CompletionShift> Moved,
    [property: Id(5)] ImmutableArray<MaterialShortage> Shortages,
    [property: Id(6)] ImmutableArray<string> Notes);

/// <summary>
/// The planner of one factory, keyed by the factory id: routings, the finite-capacity schedule of
/// its open work orders and the dispatch lists, re-planned when its twins signal a change.
/// </summary>
[Alias("twin.IPlanningGrain")]
public interface IPlanningGrain : IGrainWithStringKey
{
    /// <summary>Sets a product's routing (master data) and re-plans.</summary>
    [Alias("DefineRouting")]
    Task<Routing> DefineRoutingAsync(Routing routing);

    [Alias("GetRoutings")]
    Task<ImmutableArray<Routing>> GetRoutingsAsync();

    /// <summary>Takes a twin's signal (idempotent by id) and re-plans in the background when it matters.</summary>
    [Alias("Signal")]
    Task SignalAsync(PlanningSignal signal);

    /// <summary>The schedule in force.</summary>
    [Alias("GetPlan")]
    Task<PlanSnapshot> GetPlanAsync();

    /// <summary>One machine's dispatch list from the schedule in force.</summary>
    [Alias("GetDispatch")]
    Task<DispatchList> GetDispatchAsync(string machine);

    /// <summary>The recent re-plans, newest first.</summary>
    [Alias("GetHistory")]
    Task<ImmutableArray<ReplanRecord>> GetHistoryAsync();

    /// <summary>
    /// When would <paramref name="order"/> finish if it came in now? Solves a copy; the plan is not
    /// changed. Input it cannot plan throws <see cref="TwinRuleException"/> with the code
    /// <c>what-if.{field}</c> (e.g. <c>what-if.quantity</c> when its machine time exceeds the planning horizon).
    /// </summary>
    [Alias("WhatIf")]
    Task<WhatIfAnswer> WhatIfAsync(WhatIfOrder order);

    /// <summary>Re-plans now (e.g. after master data changed elsewhere); <paramref name="reason"/> is recorded as the trigger.</summary>
    [Alias("Replan")]
    Task ReplanAsync(string reason);
}
