using System.Globalization;
using System.Net;
using System.Text;
using Twin.Testing;

namespace Twin.Gateway.Tests.History;

public sealed class HistoryRestartTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_stopping_gateway_writes_the_queued_history_before_it_exits_and_the_history_survives_the_restart()
    {
        using var temp = new TempDirectory();
        // The writer would wait a minute before writing: only the stop can have written these readings.
        var settings = new Dictionary<string, string> { ["Twin:History:FlushInterval"] = "00:01:00", ["Twin:Mqtt:ClientId"] = "gw-history-restart" };
        var start = DateTimeOffset.UtcNow.AddMinutes(-10);
        await using (var gateway = new GatewayProcess(temp.Sub("data"), settings))
        {
            await gateway.StartAsync();
            await using var device = await TestDevice.ConnectAsync(gateway.MqttPort);
            for (var seq = 1; seq <= 50; seq++)
            {
                await device.PublishAsync("factory/plant/machine/m-restart/telemetry", string.Create(CultureInfo.InvariantCulture,
                    $"{{\"seq\":{seq},\"ts\":\"{start.AddSeconds(seq):O}\",\"values\":{{\"temperature\":{seq}}}}}"));
            }

            await Wait.UntilAsync(
                async () => await gateway.GetJsonAsync("/api/factories/plant/machines/m-restart") is { } s && s.GetProperty("ingest").GetProperty("applied").GetInt64() == 50,
                Deadline,
                "fifty readings applied");
            await gateway.StopAsync();
            Assert.Equal(0, await gateway.Process.WaitForExitAsync(TimeSpan.FromSeconds(5)));
            Assert.DoesNotContain("Unhandled exception", gateway.Output, StringComparison.Ordinal);
        }

        await using (var gateway = new GatewayProcess(temp.Sub("data"), settings))
        {
            await gateway.StartAsync();
            var range = $"from={Uri.EscapeDataString(start.ToString("O", CultureInfo.InvariantCulture))}&to={Uri.EscapeDataString(start.AddHours(1).ToString("O", CultureInfo.InvariantCulture))}";
            var history = (await gateway.GetJsonAsync($"/api/factories/plant/machines/m-restart/history?sensor=temperature&{range}"))!.Value;
            Assert.Equal(Enumerable.Range(1, 50).Select(n => (double)n), history.GetProperty("points").EnumerateArray().Select(p => p.GetProperty("value").GetDouble()));
        }
    }

    [Fact]
    public async Task Readings_the_history_had_not_written_when_the_gateway_was_killed_are_in_it_after_the_restart_without_touching_the_twin()
    {
        using var temp = new TempDirectory();
        // The writer waits a minute before writing, so the kill comes before it; the wake reminders tick every 2 s.
        var first = new Dictionary<string, string> { ["Twin:History:FlushInterval"] = "00:01:00", ["Twin:Outbox:ReminderPeriod"] = "00:00:02", ["Twin:Mqtt:ClientId"] = "gw-history-kill" };
        var second = new Dictionary<string, string> { ["Twin:Outbox:ReminderPeriod"] = "00:00:02", ["Twin:Mqtt:ClientId"] = "gw-history-kill" };
        var start = DateTimeOffset.UtcNow.AddMinutes(-10);
        await using (var gateway = new GatewayProcess(temp.Sub("data"), first))
        {
            await gateway.StartAsync();
            var payloads = Enumerable.Range(1, 40).Select(seq => string.Create(CultureInfo.InvariantCulture, $"{{\"seq\":{seq},\"ts\":\"{start.AddSeconds(seq):O}\",\"values\":{{\"temperature\":{seq}}}}}"));
            using var response = await gateway.Http.PostAsync("/api/factories/plant/machines/m-kill/telemetry", new StringContent("[" + string.Join(",", payloads) + "]", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await gateway.Process.KillAsync();
        }

        await using (var gateway = new GatewayProcess(temp.Sub("data"), second))
        {
            await gateway.StartAsync();
            // Only the history is read: nothing asks the machine twin, which must come back on its own.
            var range = $"from={Uri.EscapeDataString(start.ToString("O", CultureInfo.InvariantCulture))}&to={Uri.EscapeDataString(start.AddHours(1).ToString("O", CultureInfo.InvariantCulture))}";
            var values = await Wait.ForAsync(
                async () => await gateway.GetJsonAsync($"/api/factories/plant/machines/m-kill/history?sensor=temperature&{range}") is { } h && h.GetProperty("points").GetArrayLength() == 40
                    ? h.GetProperty("points").EnumerateArray().Select(p => p.GetProperty("value").GetDouble()).ToList()
                    : null,
                Deadline,
                "the forty readings in the history");
            Assert.Equal(Enumerable.Range(1, 40).Select(n => (double)n), values);
        }
    }
}
