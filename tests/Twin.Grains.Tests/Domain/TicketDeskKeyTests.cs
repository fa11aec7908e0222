using Twin.Machines;
using Twin.Maintenance;

namespace Twin.Grains.Tests.Domain;

public class TicketDeskKeyTests
{
    [Fact]
    public void A_desk_key_builds_and_reads_back_its_grain_key_and_ticket_ids()
    {
        var desk = new TicketDeskKey("plant-1", "press.2", FaultKind.LimitHigh);
        Assert.Equal("plant-1/press.2.LimitHigh", desk.GrainKey);
        Assert.Equal("press.2.LimitHigh.7", desk.TicketId(7));
        Assert.Equal(desk, TicketDeskKey.Parse(desk.GrainKey));
        Assert.True(TicketDeskKey.TryParseTicket("plant-1", "press.2.LimitHigh.7", out var read, out var number));
        Assert.Equal((desk, 7), (read, number));
    }

    [Theory]
    [InlineData("press.limithigh.1")]
    [InlineData("press.LIMITHIGH.1")]
    [InlineData("press.1.1")]
    [InlineData("press.99.1")]
    [InlineData("press.LimitHigh.+1")]
    [InlineData("press.LimitHigh. 1")]
    [InlineData("press.LimitHigh.0")]
    [InlineData("press.LimitHigh.-1")]
    [InlineData("press.LimitHigh.")]
    [InlineData(".LimitHigh.1")]
    [InlineData("../x.LimitHigh.1")]
    [InlineData("pr ess.LimitHigh.1")]
    [InlineData("press/other.LimitHigh.1")]
    [InlineData("LimitHigh.1")]
    [InlineData("")]
    public void Only_the_exact_spelling_of_a_ticket_id_is_read(string ticket)
    {
        Assert.False(TicketDeskKey.TryParseTicket("plant-1", ticket, out _, out _));
    }

    [Fact]
    public void A_factory_that_is_not_a_valid_id_reads_no_ticket()
    {
        Assert.False(TicketDeskKey.TryParseTicket("Plant 1", "press.LimitHigh.1", out _, out _));
        Assert.Throws<ArgumentException>(() => TicketDeskKey.Parse("plant-1/press"));
    }
}
