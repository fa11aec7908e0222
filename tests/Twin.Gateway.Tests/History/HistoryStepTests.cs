using Twin.Gateway.Api;

namespace Twin.Gateway.Tests.History;

public sealed class HistoryStepTests
{
    [Theory]
    [InlineData("1m", 1)]
    [InlineData("5m", 5)]
    [InlineData("15min", 15)]
    [InlineData("1h", 60)]
    [InlineData("1H", 60)]
    [InlineData("1d", 1440)]
    [InlineData("31d", 44640)]
    [InlineData("120s", 2)]
    [InlineData(" 5m ", 5)]
    [InlineData("00:05:00", 5)]
    [InlineData("01:00:00", 60)]
    [InlineData("1.00:00:00", 1440)]
    public void Accepts_whole_minutes(string text, int minutes)
    {
        Assert.True(HistoryStep.TryParse(text, out var step, out var error), error);
        Assert.Equal(TimeSpan.FromMinutes(minutes), step);
        Assert.Equal("", error);
    }

    [Theory]
    [InlineData("")]
    [InlineData("m")]
    [InlineData("0m")]
    [InlineData("-5m")]
    [InlineData("1.5m")]
    [InlineData("30s")]
    [InlineData("90s")]
    [InlineData("00:00:30")]
    [InlineData("00:01:30")]
    [InlineData("-00:05:00")]
    [InlineData("32d")]
    [InlineData("1w")]
    [InlineData("5 m")]
    [InlineData("9999999999m")]
    [InlineData("five minutes")]
    public void Refuses_anything_else_and_says_what_it_takes(string text)
    {
        Assert.False(HistoryStep.TryParse(text, out _, out var error));
        Assert.Contains("whole number of minutes", error, StringComparison.Ordinal);
    }
}
