using System.Text;
using Twin.Gateway.Uns;

namespace Twin.Gateway.Tests.Uns;

/// <summary>The publisher's diff, queue and throttle: only changes go out, latest wins, what is gone is cleared.</summary>
public sealed class UnsPictureTests
{
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);

    [Fact]
    public void A_source_sends_only_what_changed_and_clears_what_it_no_longer_gives()
    {
        var picture = new UnsPicture(100, TimeSpan.FromMilliseconds(1));
        picture.Replace("m1", Values(("t/a", "1"), ("t/b", "2")), now: 0);
        Assert.Equal([("t/a", "1"), ("t/b", "2")], Drain(picture, 10));

        picture.Replace("m1", Values(("t/a", "1"), ("t/b", "3")), now: 20);
        Assert.Equal([("t/b", "3")], Drain(picture, 30));

        picture.Replace("m1", Values(("t/a", "1")), now: 40);
        Assert.Equal([("t/b", "")], Drain(picture, 50));
        Assert.Null(picture.Get("t/b"));
        Assert.Equal(1, picture.Values);

        // Sent and forgotten: a reconnect does not clear it again, but republishes what is there.
        Assert.Equal(1, picture.RequeueAll(60));
        Assert.Equal([("t/a", "1")], Drain(picture, 70));
    }

    [Fact]
    public void A_value_goes_out_at_most_once_per_interval_and_the_latest_wins()
    {
        var picture = new UnsPicture(100, Second);
        picture.Replace("m1", Values(("t/a", "1")), now: 1000);
        Assert.Equal([("t/a", "1")], Drain(picture, 1000));

        picture.Replace("m1", Values(("t/a", "2")), now: 1100);
        picture.Replace("m1", Values(("t/a", "3")), now: 1200);
        Assert.False(picture.TryTake(1300, out _, out _, out var wait));
        Assert.Equal(700, wait);
        Assert.Equal([("t/a", "3")], Drain(picture, 2000));
        Assert.Equal(1, picture.Superseded);

        // Another topic is not held up by the first one's interval.
        picture.Replace("m2", Values(("t/b", "1")), now: 2100);
        Assert.Equal([("t/b", "1")], Drain(picture, 2100));
    }

    [Fact]
    public void A_clear_that_was_not_sent_goes_out_after_a_reconnect()
    {
        var picture = new UnsPicture(100, TimeSpan.FromMilliseconds(1));
        picture.Replace("fault", Values(("t/fault", "{}")), now: 0);
        Drain(picture, 1);
        picture.Replace("fault", Values(), now: 2);
        Assert.True(picture.TryTake(3, out var topic, out var payload, out _));
        Assert.Equal(("t/fault", 0), (topic, payload.Length));

        // Not confirmed (the connection dropped): still to clear on the next connection.
        Assert.Equal(1, picture.RequeueAll(10));
        Assert.Equal([("t/fault", "")], Drain(picture, 10));
        Assert.Equal(0, picture.RequeueAll(20));
    }

    [Fact]
    public void Retained_topics_the_picture_does_not_hold_are_cleared()
    {
        var picture = new UnsPicture(100, TimeSpan.FromMilliseconds(1));
        picture.Replace("m1", Values(("t/a", "1")), now: 0);
        Drain(picture, 0);

        Assert.Equal(1, picture.ClearUnknown(["t/a", "t/old-fault"], now: 10));
        Assert.Equal([("t/old-fault", "")], Drain(picture, 10));
        Assert.Equal("1", Encoding.UTF8.GetString(picture.Get("t/a")!));
    }

    [Fact]
    public void Past_its_size_the_picture_refuses_new_topics_but_keeps_updating_the_ones_it_has()
    {
        var picture = new UnsPicture(2, TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, picture.Replace("m1", Values(("t/a", "1"), ("t/b", "1"), ("t/c", "1")), now: 0));
        Assert.Equal(2, picture.Values);
        Assert.Equal(1, picture.Refused);
        Drain(picture, 0);

        Assert.Equal(0, picture.Replace("m1", Values(("t/a", "2"), ("t/b", "1")), now: 10));
        Assert.Equal([("t/a", "2")], Drain(picture, 10));
    }

    private static Dictionary<string, byte[]> Values(params (string Topic, string Payload)[] values) =>
        values.ToDictionary(v => v.Topic, v => Encoding.UTF8.GetBytes(v.Payload), StringComparer.Ordinal);

    /// <summary>Takes everything due at <paramref name="now"/>, each confirmed as sent.</summary>
    private static List<(string Topic, string Payload)> Drain(UnsPicture picture, long now)
    {
        var sent = new List<(string, string)>();
        while (picture.TryTake(now, out var topic, out var payload, out _))
        {
            picture.Sent(topic, payload);
            sent.Add((topic, Encoding.UTF8.GetString(payload)));
        }

        return [.. sent.OrderBy(s => s.Item1, StringComparer.Ordinal)];
    }
}
