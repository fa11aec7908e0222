using Twin.Silo.History;

namespace Twin.Silo.Tests.History;

public sealed class HistoryTimeTests
{
    [Fact]
    public void Aggregate_ranges_start_at_the_bucket_holding_from_and_take_the_minutes_that_start_before_to()
    {
        var eight = new DateTimeOffset(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);
        var minute = HistoryTime.MinuteOf(HistoryTime.ToMicros(eight));

        Assert.Equal((minute, minute + 60), HistoryTime.MinuteRange(eight, eight.AddHours(1), 1));
        Assert.Equal((minute, minute + 61), HistoryTime.MinuteRange(eight.AddSeconds(59), eight.AddHours(1).AddTicks(10), 1));
        Assert.Equal((minute - 120, minute + 1), HistoryTime.MinuteRange(eight.AddMinutes(-1), eight.AddSeconds(1), 120));
        Assert.Equal(-1, HistoryTime.FloorDiv(-1, 60));
        Assert.Equal(HistoryTime.FromMicros(HistoryTime.ToMicros(eight.AddTicks(15))), eight.AddTicks(10));
    }
}
