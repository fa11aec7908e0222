using Twin.Gateway.Api;
using Twin.Machines;
using Twin.Maintenance;

namespace Twin.Gateway.Tests.Ingestion;

public class ReliabilityTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);

    private static Ticket T(int hour, int? repairMinutes) => new(
        "f", $"m.LimitHigh.{hour}", "m", FaultKind.LimitHigh, repairMinutes is null ? TicketStatus.Open : TicketStatus.Resolved, T0.AddHours(hour), 1, [],
        repairMinutes is null ? [new TicketStep(TicketStatus.Open, T0.AddHours(hour), null, null)] : [new TicketStep(TicketStatus.Open, T0.AddHours(hour), null, null), new TicketStep(TicketStatus.Resolved, T0.AddHours(hour).AddMinutes(repairMinutes.Value), "x", null)],
        1, 0);

    [Fact]
    public void Mttr_averages_repairs_and_mtbf_averages_the_gaps_between_failures()
    {
        var r = ReliabilityApi.Compute("f", "m", [T(0, 30), T(10, 90), T(30, null)]);
        Assert.Equal(3, r.Tickets);
        Assert.Equal(2, r.Resolved);
        Assert.Equal(60, r.MttrMinutes);
        Assert.Equal(15, r.MtbfHours);
        Assert.Null(ReliabilityApi.Compute("f", "m", []).MttrMinutes);
    }
}
