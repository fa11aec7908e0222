using System.Collections.Immutable;

namespace Twin.Effects;

/// <summary>What kind of action an <see cref="ActionRecord"/> is.</summary>
public enum ActionKind
{
    /// <summary>A person resolved a maintenance ticket.</summary>
    TicketResolved = 0,

    /// <summary>A machine's master data (sensor limits, detector settings, ideal cycle time, calendar) was set.</summary>
    MachineSettingsChanged = 1,

    /// <summary>An engineering change from PLM was applied (recorded by the PLM side through <see cref="IActionEffectGrain.TrackAsync"/>).</summary>
    EngineeringChange = 2,

    /// <summary>The planner re-planned because of a machine event (breakdown, predicted failure).</summary>
    Replan = 3,
}

/// <summary>Where an action's effect report stands.</summary>
public enum ActionStatus
{
    /// <summary>Tracked; the "after" window has not yet passed.</summary>
    Open = 0,

    /// <summary>The report compares both windows.</summary>
    Verified = 1,
}

/// <summary>
/// One action whose effect is to be verified: a ticket resolved, a setting changed, an engineering
/// change, a re-plan.
/// </summary>
/// <param name="Id">Stable id (e.g. <c>ticket:{ticket}:resolved.{n}</c>): tracking the same id again changes nothing.</param>
/// <param name="Machine">The machine whose KPIs show the effect; null when the action names none (then the report has no machine figures).</param>
/// <param name="Characteristic">A quality characteristic of <paramref name="Machine"/> whose Cpk is compared; null for all the machine's characteristics known to the factory.</param>
/// <param name="Subject">What the action was about, for people: <c>ticket/{id}</c>, <c>machine/{id}</c>, <c>product/{id}</c>, <c>plan/{version}</c>.</param>
/// <param name="At">When the action took effect: the boundary between the "before" and the "after" window.</param>
/// <param name="Ticket">The ticket of a <see cref="ActionKind.TicketResolved"/> action: the ticket list shows its effect.</param>
[GenerateSerializer, Immutable, Alias("twin.ActionRecord")]
public sealed record ActionRecord(
    [property: Id(0)] string Id,
    [property: Id(1)] ActionKind Kind,
    [property: Id(2)] string? Machine,
    [property: Id(3)] string? Characteristic,
    [property: Id(4)] string Subject,
    [property: Id(5)] DateTimeOffset At,
    [property: Id(6)] string? By,
    [property: Id(7)] string? Text,
    [property: Id(8)] string? Ticket = null);

/// <summary>One side (before or after) of a KPI comparison.</summary>
/// <param name="Value">The figure; null when the window has not enough data (<paramref name="Note"/> says why).</param>
/// <param name="Samples">How much data the figure rests on, in <paramref name="SampleUnit"/> (parts, readings, subgroups, seconds).</param>
/// <param name="Hits">The counted events behind a rate or a mean time: scrap parts, anomalous readings, failures.</param>
[GenerateSerializer, Immutable, Alias("twin.EffectSide")]
public sealed record EffectSide(
    [property: Id(0)] double? Value,
    [property: Id(1)] long Samples,
    [property: Id(2)] string SampleUnit,
    [property: Id(3)] long? Hits = null,
    [property: Id(4)] string? Note = null);

/// <summary>A KPI before and after an action, over windows of equal length.</summary>
/// <param name="Kpi"><c>oee</c>, <c>scrapRate</c>, <c>anomalyRate</c>, <c>failures</c>, <c>mtbfHours</c> or <c>cpk</c>.</param>
/// <param name="Of">The machine, or the characteristic (<c>{machine}/{characteristic}</c>) of a Cpk.</param>
/// <param name="Change">After − before, when both exist.</param>
/// <param name="Verdict"><c>better</c>, <c>worse</c>, <c>unchanged</c>, or <c>not enough data</c> (a plain comparison, no significance test).</param>
[GenerateSerializer, Immutable, Alias("twin.EffectFigure")]
public sealed record EffectFigure(
    [property: Id(0)] string Kpi,
    [property: Id(1)] string Of,
    [property: Id(2)] EffectSide Before,
    [property: Id(3)] EffectSide? After,
    [property: Id(4)] double? Change,
    [property: Id(5)] string Verdict);

/// <summary>An action and its effect report.</summary>
/// <param name="Window">Length of each compared window: before is [At − Window, At), after is [At, At + Window) of event time.</param>
/// <param name="VerifiedAt">When the report was made (processing time); null while open.</param>
/// <param name="Figures">While open: the "before" figures captured when the action was tracked; once verified, both sides.</param>
/// <param name="Summary">One line for a dashboard column.</param>
[GenerateSerializer, Immutable, Alias("twin.ActionEffect")]
public sealed record ActionEffect(
    [property: Id(0)] string Factory,
    [property: Id(1)] ActionRecord Action,
    [property: Id(2)] ActionStatus Status,
    [property: Id(3)] TimeSpan Window,
    [property: Id(4)] DateTimeOffset? VerifiedAt,
    [property: Id(5)] ImmutableArray<EffectFigure> Figures,
    [property: Id(6)] string Summary);

/// <summary>The short form of an action's effect a ticket carries for the dashboard's effect column.</summary>
[GenerateSerializer, Immutable, Alias("twin.ActionEffectSummary")]
public sealed record ActionEffectSummary(
    [property: Id(0)] string Action,
    [property: Id(1)] ActionStatus Status,
    [property: Id(2)] string Summary);

/// <summary>
/// What a machine knows for an action's effect (<see cref="Twin.Machines.IMachineGrain.ProbeEffectAsync"/>): its
/// OEE buckets summed over both windows, the parts it counted exactly since the action, its event time.
/// </summary>
/// <param name="Before">OEE figures of [at − window, at) from the machine's 15-minute buckets.</param>
/// <param name="After">OEE figures of [at, at + window) from the same buckets (partly covered buckets prorated).</param>
/// <param name="AfterGood">Good parts with event time in [at, at + window), counted one by one since the probe began watching.</param>
/// <param name="HeardUntil">Event time of the machine's newest message.</param>
/// <param name="Sensors">The machine's sensors, for the anomaly rate from the history.</param>
[GenerateSerializer, Immutable, Alias("twin.EffectProbe")]
public sealed record EffectProbe(
    [property: Id(0)] Twin.Machines.OeeFigures Before,
    [property: Id(1)] Twin.Machines.OeeFigures After,
    [property: Id(2)] long AfterGood,
    [property: Id(3)] long AfterScrap,
    [property: Id(4)] DateTimeOffset? HeardUntil,
    [property: Id(5)] TimeSpan? IdealCycleTime,
    [property: Id(6)] ImmutableArray<string> Sensors,
    [property: Id(7)] bool Watched);

/// <summary>
/// The effect reports of one factory's actions, keyed by the factory id. Actions are rare (people
/// and planners act, machines do not), so one grain per factory is off every hot path.
/// </summary>
[Alias("twin.IActionEffectGrain")]
public interface IActionEffectGrain : IGrainWithStringKey
{
    /// <summary>
    /// Tracks an action: captures the "before" figures now and reports the effect once the
    /// "after" window has passed in the machine's event time. Idempotent by <see cref="ActionRecord.Id"/>.
    /// </summary>
    [Alias("Track")]
    Task<ActionEffect> TrackAsync(ActionRecord action);

    /// <summary>One action's effect; null when the id is not tracked.</summary>
    [Alias("Get")]
    Task<ActionEffect?> GetAsync(string actionId);

    /// <summary>The tracked actions, newest first; only those with <paramref name="status"/> when given.</summary>
    [Alias("List")]
    Task<ImmutableArray<ActionEffect>> ListAsync(ActionStatus? status);

    /// <summary>The latest effect per ticket (ticket id → summary), for the ticket list.</summary>
    [Alias("ForTickets")]
    Task<ImmutableDictionary<string, ActionEffectSummary>> ForTicketsAsync();
}
