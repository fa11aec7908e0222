using Twin.Grains.Maintenance;
using Twin.Machines;
using Twin.Maintenance;

namespace Twin.Grains.Tests.Maintenance;

public class TicketRulesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);

    private static FaultReport Report(string id, int second) =>
        new(id, "m1", FaultKind.LimitHigh, new FaultEvidence(T0.AddSeconds(second), "temperature", 95, 1));

    [Fact]
    public void Repeated_reports_add_evidence_to_the_one_open_ticket_and_a_replay_changes_nothing()
    {
        var desk = new TicketDeskState();
        for (var i = 0; i < 200; i++)
        {
            Assert.True(TicketRules.Report(desk, Report($"r{i}", i), T0));
        }

        Assert.False(TicketRules.Report(desk, Report("r5", 5), T0));
        var ticket = Assert.Single(desk.Tickets);
        Assert.Equal(200, ticket.EvidenceCount);
        Assert.Equal(TicketRules.FirstEvidenceKept + TicketRules.LatestEvidenceKept, ticket.Evidence.Count);
        Assert.Equal(T0, ticket.Evidence[0].Time);
        Assert.Equal(T0.AddSeconds(199), ticket.Evidence[^1].Time);
    }

    [Fact]
    public void The_lifecycle_is_enforced_and_a_resolved_ticket_lets_a_new_one_open()
    {
        var desk = new TicketDeskState();
        TicketRules.Report(desk, Report("a", 0), T0);
        TicketRules.Move(desk, 1, TicketStatus.Acknowledged, T0, "anna", null);
        var ex = Assert.Throws<TwinRuleException>(() => TicketRules.Move(desk, 1, TicketStatus.Closed, T0, "anna", null));
        Assert.Equal("ticket.illegal-transition", ex.Code);
        TicketRules.Move(desk, 1, TicketStatus.InProgress, T0, "anna", null);
        TicketRules.Move(desk, 1, TicketStatus.Resolved, T0, "anna", "fixed");
        TicketRules.Report(desk, Report("b", 10), T0);
        Assert.Equal(2, desk.Tickets.Count);
        Assert.Equal(TicketStatus.Open, desk.Tickets[1].Status);

        // Reopening the resolved one while another is open would make two open tickets.
        Assert.Throws<TwinRuleException>(() => TicketRules.Move(desk, 1, TicketStatus.InProgress, T0, null, null));
        TicketRules.Move(desk, 1, TicketStatus.Closed, T0, "lead", null);
        Assert.True(Assert.Throws<TwinRuleException>(() => TicketRules.Move(desk, 9, TicketStatus.Closed, T0, null, null)).IsNotFound);
        Assert.Equal(["detector", "anna", "anna", "anna", "lead"], desk.Tickets[0].History.Select(h => h.By));
    }

    [Fact]
    public void Unacknowledged_tickets_escalate_once_per_period_and_acknowledged_ones_do_not()
    {
        var desk = new TicketDeskState();
        TicketRules.Report(desk, Report("a", 0), T0);
        var after = TimeSpan.FromMinutes(30);
        Assert.Equal(0, TicketRules.Escalate(desk, T0.AddMinutes(29), after));
        Assert.Equal(1, TicketRules.Escalate(desk, T0.AddMinutes(30), after));
        Assert.Equal(0, TicketRules.Escalate(desk, T0.AddMinutes(45), after));
        Assert.Equal(1, TicketRules.Escalate(desk, T0.AddMinutes(61), after));
        Assert.Equal(2, desk.Tickets[0].Escalations);
        TicketRules.Move(desk, 1, TicketStatus.Acknowledged, T0.AddMinutes(62), "anna", null);
        Assert.Equal(0, TicketRules.Escalate(desk, T0.AddHours(5), after));
        Assert.Equal("escalation", desk.Tickets[0].History[1].By);
    }
}
