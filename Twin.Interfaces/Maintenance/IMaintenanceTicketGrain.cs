using System.Collections.Immutable;
using Twin.Machines;

namespace Twin.Maintenance;

/// <summary>The lifecycle of a maintenance ticket.</summary>
public enum TicketStatus
{
    /// <summary>Opened by a detected fault, nobody has looked yet.</summary>
    Open = 0,

    /// <summary>Someone took note.</summary>
    Acknowledged = 1,

    /// <summary>Work on the machine has started.</summary>
    InProgress = 2,

    /// <summary>The fault is fixed.</summary>
    Resolved = 3,

    /// <summary>Checked and filed (terminal).</summary>
    Closed = 4,
}

/// <summary>One anomalous reading behind a ticket.</summary>
[GenerateSerializer, Immutable, Alias("twin.FaultEvidence")]
public sealed record FaultEvidence(
    [property: Id(0)] DateTimeOffset Time,
    [property: Id(1)] string Sensor,
    [property: Id(2)] double Value,
    [property: Id(3)] double Score,
    [property: Id(4)] string? Note = null);

/// <summary>A machine's report of a fault, sent once per id (the machine retries until it is taken).</summary>
/// <param name="ReportId">Stable id: the same report sent again changes nothing.</param>
/// <param name="Cleared">
/// True when the fault has cleared on every sensor of the machine: the evidence says why, and an
/// open ticket nobody has acknowledged yet is resolved by the detector.
/// </param>
[GenerateSerializer, Immutable, Alias("twin.FaultReport")]
public sealed record FaultReport(
    [property: Id(0)] string ReportId,
    [property: Id(1)] string Machine,
    [property: Id(2)] FaultKind Kind,
    [property: Id(3)] FaultEvidence Evidence,
    [property: Id(4)] bool Cleared = false);

/// <summary>A lifecycle step with who and when.</summary>
[GenerateSerializer, Immutable, Alias("twin.TicketStep")]
public sealed record TicketStep(
    [property: Id(0)] TicketStatus Status,
    [property: Id(1)] DateTimeOffset At,
    [property: Id(2)] string? By,
    [property: Id(3)] string? Note);

/// <summary>A maintenance ticket and the evidence that caused it.</summary>
/// <param name="Id">Ticket id <c>{machine}.{kind}.{n}</c>, or <c>{machine}.{characteristic}.{kind}.{n}</c> for a quality ticket.</param>
/// <param name="EvidenceCount">All evidence received; <paramref name="Evidence"/> keeps the first and the latest.</param>
/// <param name="Characteristic">The quality characteristic of an SPC ticket (kinds <c>Nelson1</c>–<c>Nelson8</c>); null for a machine fault.</param>
/// <param name="Effect">The verified (or still open) effect of the ticket's latest resolution, as the ticket list shows it; null from the desk itself.</param>
[GenerateSerializer, Immutable, Alias("twin.Ticket")]
public sealed record Ticket(
    [property: Id(0)] string Factory,
    [property: Id(1)] string Id,
    [property: Id(2)] string Machine,
    [property: Id(3)] FaultKind Kind,
    [property: Id(4)] TicketStatus Status,
    [property: Id(5)] DateTimeOffset OpenedAt,
    [property: Id(6)] long EvidenceCount,
    [property: Id(7)] ImmutableArray<FaultEvidence> Evidence,
    [property: Id(8)] ImmutableArray<TicketStep> History,
    [property: Id(9)] long Version,
    [property: Id(10)] int Escalations,
    [property: Id(11)] string? Characteristic = null,
    [property: Id(12)] Twin.Effects.ActionEffectSummary? Effect = null);

/// <summary>
/// The maintenance desk of one machine and fault kind, keyed <c>"{factory}/{machine}.{kind}"</c>:
/// at most one open ticket at a time; further reports add evidence to it.
/// </summary>
[Alias("twin.IMaintenanceTicketGrain")]
public interface IMaintenanceTicketGrain : IGrainWithStringKey
{
    /// <summary>Opens a ticket, or adds the evidence to the open one. Idempotent by report id.</summary>
    [Alias("Report")]
    Task<Ticket> ReportAsync(FaultReport report);

    /// <summary>Moves a ticket along its lifecycle; an illegal step throws <see cref="TwinRuleException"/>.</summary>
    [Alias("Move")]
    Task<Ticket> MoveAsync(int number, TicketStatus target, string? by, string? note);

    /// <summary>The desk's tickets, newest first.</summary>
    /// <remarks>
    /// Interleaves: a read of state only, so the factory's effects grain can count failures while
    /// this desk waits on it (a resolution is delivered to it inside <see cref="MoveAsync"/>).
    /// </remarks>
    [Alias("List")]
    [Orleans.Concurrency.AlwaysInterleave]
    Task<ImmutableArray<Ticket>> ListAsync();
}
