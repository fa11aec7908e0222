using System.Collections.Immutable;
using Microsoft.Extensions.Options;
using Twin.Machines;
using Twin.Maintenance;

namespace Twin.Grains.Maintenance;

[GenerateSerializer, Alias("twin.TicketState")]
public sealed class TicketState
{
    [Id(0)] public int Number { get; set; }
    [Id(1)] public TicketStatus Status { get; set; }
    [Id(2)] public DateTimeOffset OpenedAt { get; set; }
    [Id(3)] public long EvidenceCount { get; set; }
    [Id(4)] public List<FaultEvidence> Evidence { get; set; } = [];
    [Id(5)] public List<TicketStep> History { get; set; } = [];
    [Id(6)] public long Version { get; set; }
    [Id(7)] public int Escalations { get; set; }
    [Id(8)] public DateTimeOffset? LastEscalatedAt { get; set; }
}

/// <summary>Settings of maintenance tickets (<c>Twin:Maintenance</c>).</summary>
public sealed class MaintenanceOptions : ITwinOptions
{
    public const string Section = "Twin:Maintenance";

    static string ITwinOptions.Section => Section;

    /// <summary>A ticket nobody acknowledged for this long is escalated, and again after each further period (reminders tick at most once a minute).</summary>
    [SettingRange(typeof(TimeSpan), "00:01:00", "365.00:00:00")]
    public TimeSpan EscalateAfter { get; set; } = TimeSpan.FromMinutes(30);
}

[OptionsValidator]
public sealed partial class MaintenanceOptionsValidator : IValidateOptions<MaintenanceOptions>;

[GenerateSerializer, Alias("twin.TicketDeskState")]
public sealed class TicketDeskState : Twin.Grains.Infrastructure.IRegisteredState
{
    [Id(0)] public List<TicketState> Tickets { get; set; } = [];
    [Id(1)] public List<string> SeenReports { get; set; } = [];
    [Id(2)] public bool Registered { get; set; }
    /// <summary>External events as saved before the one outbox: moved into <see cref="Outbox"/> on load.</summary>
    [Id(3)] public List<Twin.Grains.Infrastructure.PendingEvent> EarlierOutbound { get; set; } = [];

    /// <summary>Rises with every change to the tickets: orders the desk's reports to the factory KPIs.</summary>
    [Id(4)] public long Version { get; set; }

    /// <summary>The factory KPIs have not yet taken the desk's latest change.</summary>
    [Id(5)] public bool KpiPending { get; set; }

    /// <summary>Ticket events for external systems not yet taken (the desk's persisted outbox).</summary>
    [Id(6)] public List<Twin.Grains.Infrastructure.OutboxEntry> Outbox { get; set; } = [];
}

/// <summary>The rules of a machine's maintenance tickets for one fault kind. Pure.</summary>
public static class TicketRules
{
    public const int FirstEvidenceKept = 10;
    public const int LatestEvidenceKept = 40;
    public const int ReportsRemembered = 500;
    public const int TicketsKept = 50;

    private static readonly Dictionary<TicketStatus, TicketStatus[]> Allowed = new()
    {
        [TicketStatus.Open] = [TicketStatus.Acknowledged, TicketStatus.InProgress, TicketStatus.Resolved],
        [TicketStatus.Acknowledged] = [TicketStatus.InProgress, TicketStatus.Resolved],
        [TicketStatus.InProgress] = [TicketStatus.Resolved],
        [TicketStatus.Resolved] = [TicketStatus.Closed, TicketStatus.InProgress],
        [TicketStatus.Closed] = [],
    };

    public static bool IsOpen(TicketStatus status) => status is TicketStatus.Open or TicketStatus.Acknowledged or TicketStatus.InProgress;

    /// <summary>Applies a report: a new ticket, or evidence on the open one. False when the report was seen before.</summary>
    public static bool Report(TicketDeskState desk, FaultReport report, DateTimeOffset now)
    {
        if (!Twin.Grains.Infrastructure.SeenIds.Remember(desk.SeenReports, report.ReportId, ReportsRemembered))
        {
            return false;
        }

        var open = desk.Tickets.LastOrDefault(t => IsOpen(t.Status));
        if (report.Cleared)
        {
            // The fault is over. A ticket nobody has taken yet resolves itself; one a person
            // acknowledged stays theirs to resolve, with the clearing on record.
            if (open is null)
            {
                return true;
            }

            AddEvidence(open, report.Evidence);
            var note = $"fault cleared at {report.Evidence.Time:O} (event time): {report.Evidence.Note}";
            if (open.Status == TicketStatus.Open)
            {
                open.Status = TicketStatus.Resolved;
                open.History.Add(new TicketStep(TicketStatus.Resolved, now, "detector", note));
            }
            else
            {
                open.History.Add(new TicketStep(open.Status, now, "detector", note));
            }

            open.Version++;
            return true;
        }

        if (open is null)
        {
            open = new TicketState
            {
                Number = desk.Tickets.Count == 0 ? 1 : desk.Tickets[^1].Number + 1,
                Status = TicketStatus.Open,
                OpenedAt = now,
                History = [new TicketStep(TicketStatus.Open, now, "detector", $"{report.Kind} on {report.Evidence.Sensor} at {report.Evidence.Time:O} (event time)")],
            };
            desk.Tickets.Add(open);
            if (desk.Tickets.Count > TicketsKept)
            {
                desk.Tickets.RemoveAt(0);
            }
        }

        AddEvidence(open, report.Evidence);
        open.Version++;
        return true;
    }

    private static void AddEvidence(TicketState ticket, FaultEvidence evidence)
    {
        ticket.EvidenceCount++;
        ticket.Evidence.Add(evidence);
        if (ticket.Evidence.Count > FirstEvidenceKept + LatestEvidenceKept)
        {
            ticket.Evidence.RemoveAt(FirstEvidenceKept);
        }
    }

    public static void Move(TicketDeskState desk, int number, TicketStatus target, DateTimeOffset now, string? by, string? note)
    {
        var ticket = desk.Tickets.FirstOrDefault(t => t.Number == number)
            ?? throw new TwinRuleException("ticket.not-found", $"Ticket {number} does not exist.");
        if (ticket.Status == target)
        {
            return;
        }

        if (!Allowed[ticket.Status].Contains(target))
        {
            var options = Allowed[ticket.Status];
            throw new TwinRuleException(
                "ticket.illegal-transition",
                $"A ticket cannot go from {ticket.Status} to {target}; allowed: {(options.Length == 0 ? "none, it is closed" : string.Join(", ", options))}.");
        }

        if (target == TicketStatus.InProgress && ticket.Status == TicketStatus.Resolved
            && desk.Tickets.Any(t => t.Number != number && IsOpen(t.Status)))
        {
            throw new TwinRuleException("ticket.illegal-transition", "Another ticket for this machine and fault is open; reopen that one instead.");
        }

        ticket.Status = target;
        ticket.History.Add(new TicketStep(target, now, by, note));
        ticket.Version++;
    }

    /// <summary>Escalates tickets still unacknowledged after <paramref name="after"/>; returns how many.</summary>
    public static int Escalate(TicketDeskState desk, DateTimeOffset now, TimeSpan after)
    {
        var escalated = 0;
        foreach (var ticket in desk.Tickets.Where(t => t.Status == TicketStatus.Open))
        {
            if (now - (ticket.LastEscalatedAt ?? ticket.OpenedAt) >= after)
            {
                ticket.Escalations++;
                ticket.LastEscalatedAt = now;
                ticket.History.Add(new TicketStep(TicketStatus.Open, now, "escalation", $"unacknowledged for {(now - ticket.OpenedAt).TotalMinutes:F0} min (escalation {ticket.Escalations})"));
                ticket.Version++;
                escalated++;
            }
        }

        return escalated;
    }

    public static Ticket ToTicket(string factory, string machine, FaultKind kind, TicketState t) =>
        ToTicket(new TicketDeskKey(factory, machine, kind), t);

    public static Ticket ToTicket(TicketDeskKey desk, TicketState t) =>
        new(desk.Factory, desk.TicketId(t.Number), desk.Machine, desk.Kind, t.Status, t.OpenedAt, t.EvidenceCount, [.. t.Evidence], [.. t.History], t.Version, t.Escalations, desk.Characteristic);
}
