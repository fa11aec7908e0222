using Twin.Grains.Infrastructure;
using Twin.Integration;

namespace Twin.Grains.Tests.Domain;

public class OutboxRulesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);
    private static readonly OutboxOptions Options = new() { FirstRetry = TimeSpan.FromSeconds(2), MaxRetryInterval = TimeSpan.FromSeconds(30) };

    private static ExternalMessage Event(string id) => new(new OutboundEvent(id, "t", "f", "s", T0, "x"));

    private static MovementMessage Movement(string bin, string id) => new(bin, new Twin.Bins.StockMovement(id, Twin.Bins.MovementKind.Issue, 1, T0));

    [Fact]
    public void An_id_that_waits_already_is_not_queued_twice()
    {
        var entries = new List<OutboxEntry>();
        Assert.True(OutboxRules.Add(entries, "a", Event("a"), T0));
        Assert.False(OutboxRules.Add(entries, "a", Event("a"), T0));
        Assert.Single(entries);
    }

    [Fact]
    public void A_lane_waiting_for_a_retry_holds_its_later_messages_but_not_other_lanes()
    {
        var entries = new List<OutboxEntry>();
        OutboxRules.Add(entries, "1", Movement("b1", "1"), T0);
        OutboxRules.Add(entries, "2", Movement("b2", "2"), T0);
        OutboxRules.Add(entries, "3", Movement("b1", "3"), T0);
        OutboxRules.Add(entries, "4", Event("4"), T0);
        OutboxRules.Failed(entries[0], "down", T0, Options);

        Assert.Equal(["2", "4"], OutboxRules.Due(entries, T0).Select(e => e.Id));
        Assert.Equal(["1", "2", "3", "4"], OutboxRules.Due(entries, T0.AddSeconds(2)).Select(e => e.Id));
    }

    [Fact]
    public void Retries_wait_twice_as_long_each_time_up_to_the_longest_interval()
    {
        var entry = new OutboxEntry { Id = "a", Message = Event("a") };
        var waits = new List<TimeSpan>();
        for (var i = 0; i < 6; i++)
        {
            OutboxRules.Failed(entry, "down", T0, Options);
            waits.Add(entry.NextAttempt - T0);
        }

        Assert.Equal([2, 4, 8, 16, 30, 30], waits.Select(w => w.TotalSeconds));
        Assert.Equal(6, entry.Attempts);
        Assert.Equal("down", entry.LastError);
    }

    [Fact]
    public void Past_the_bound_the_oldest_overflow_and_events_saved_earlier_move_in_ahead()
    {
        var entries = new List<OutboxEntry>();
        for (var i = 0; i < 12; i++)
        {
            OutboxRules.Add(entries, $"e{i}", Event($"e{i}"), T0);
        }

        Assert.Equal(["e0", "e1"], OutboxRules.Overflow(entries, 10).Select(e => e.Id));
        Assert.Empty(OutboxRules.Overflow(entries, 12));

        var earlier = new List<PendingEvent> { new() { Event = Event("old").Event }, new() { Event = Event("e0").Event } };
        Assert.True(OutboxRules.Upgrade(earlier, entries));
        Assert.Empty(earlier);
        Assert.Equal(["old", "e0", "e1"], entries.Take(3).Select(e => e.Id));
        Assert.Equal(13, entries.Count);
    }
}
