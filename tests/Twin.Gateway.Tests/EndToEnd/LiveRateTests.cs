using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR.Client;
using Twin.Testing;
using Xunit.Abstractions;

namespace Twin.Gateway.Tests.EndToEnd;

/// <summary>
/// <c>Twin:Live:MaxUpdatesPerSecond</c> is the one throttle of the live feed: it raises the rate
/// above the old fixed ten a second as well as lowering it, and a value out of range stops the start.
/// </summary>
public sealed class LiveRateTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(40)]
    [InlineData(2)]
    public async Task The_live_rate_setting_sets_how_often_a_hot_twin_reaches_a_client(int perSecond)
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Sub("data"), new Dictionary<string, string>
        {
            ["Twin:Live:MaxUpdatesPerSecond"] = perSecond.ToString(CultureInfo.InvariantCulture),
        });
        await gateway.StartAsync(TimeSpan.FromSeconds(60));
        await using var device = await TestDevice.ConnectAsync(gateway.MqttPort);
        var seq = 1;
        await PublishAsync(device, seq);
        await Wait.UntilAsync(async () => await gateway.GetJsonAsync("/api/factories/rate/machines/hot") is not null, TimeSpan.FromSeconds(10), "hot exists");

        var clock = Stopwatch.StartNew();
        var arrivals = new ConcurrentQueue<(long Version, TimeSpan At)>();
        await using var connection = new HubConnectionBuilder().WithUrl(new Uri(gateway.Http.BaseAddress!, "/hubs/twins")).Build();
        connection.On<JsonElement>("twinChanged", c => arrivals.Enqueue((c.GetProperty("version").GetInt64(), clock.Elapsed)));
        await connection.StartAsync();
        await connection.InvokeAsync<JsonElement>("Subscribe", "machine:rate/hot");

        // Readings far faster than either rate, for three seconds.
        var publishing = Stopwatch.StartNew();
        while (publishing.Elapsed < TimeSpan.FromSeconds(3))
        {
            await PublishAsync(device, ++seq);
        }

        var last = seq;
        await Wait.UntilAsync(() => Task.FromResult(arrivals.Any(a => a.Version == last)), TimeSpan.FromSeconds(20), $"version {last} pushed");
        var changes = arrivals.ToList();
        var span = changes[^1].At - changes[0].At;
        var interval = TimeSpan.FromSeconds(1.0 / perSecond);
        output.WriteLine($"{perSecond}/s: {changes.Count} changes in {span.TotalMilliseconds:F0} ms for {seq} readings");

        Assert.Equal(changes.Select(c => c.Version).Order(), changes.Select(c => c.Version));
        Assert.True(seq > 2 * changes.Count, $"readings were not coalesced: {changes.Count} changes for {seq} readings");
        Assert.True(changes.Count - 1 <= (span / interval) + 2, $"{changes.Count} changes in {span.TotalMilliseconds:F0} ms: more than {perSecond} a second");
        if (perSecond > 10)
        {
            // More than the ten a second that used to be fixed in the twin, whatever the setting.
            Assert.True(changes.Count - 1 > (span / TimeSpan.FromMilliseconds(100)) + 2, $"{changes.Count} changes in {span.TotalMilliseconds:F0} ms: not above ten a second");
        }
        else
        {
            Assert.True(changes.Count >= 3, $"only {changes.Count} changes in {span.TotalMilliseconds:F0} ms");
        }
    }

    [Theory]
    [InlineData("0")]
    [InlineData("500")]
    public async Task A_live_rate_out_of_range_stops_the_start_naming_the_setting(string value)
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Sub("data"), new Dictionary<string, string>
        {
            ["Twin:Live:MaxUpdatesPerSecond"] = value,
        });
        var failed = await Assert.ThrowsAsync<InvalidOperationException>(() => gateway.StartAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("Twin:Live:MaxUpdatesPerSecond must be from 0.1 to 100", failed.Message, StringComparison.Ordinal);
    }

    private static Task PublishAsync(TestDevice device, int seq) =>
        device.PublishAsync("factory/rate/machine/hot/telemetry", string.Create(CultureInfo.InvariantCulture, $"{{\"seq\":{seq},\"ts\":\"{TestDevice.Now(seq)}\",\"values\":{{\"temperature\":{seq}}}}}"));
}
