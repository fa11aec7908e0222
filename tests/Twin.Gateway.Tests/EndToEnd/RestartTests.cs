using System.Text.Json;
using Twin.Testing;

namespace Twin.Gateway.Tests.EndToEnd;

public class RestartTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Twin_state_survives_a_stop_and_start()
    {
        using var temp = new TempDirectory();
        var settings = new Dictionary<string, string> { ["Twin:Mqtt:ClientId"] = "gw-restart" };
        var machine = "m-restart";
        var sent = new Dictionary<int, string>();
        await using (var gateway = new GatewayProcess(temp.Sub("data"), settings))
        {
            await gateway.StartAsync();
            await using var device = await TestDevice.ConnectAsync(gateway.MqttPort);
            for (var seq = 1; seq <= 5; seq++)
            {
                sent[seq] = $"{{\"seq\":{seq},\"ts\":\"{TestDevice.Now(seq * 10)}\",\"values\":{{\"temperature\":{60 + seq},\"pressure\":{seq}}},\"units\":{{\"pressure\":\"bar\"}}}}";
                await device.PublishAsync($"factory/plant/machine/{machine}/telemetry", sent[seq]);
            }

            await device.PublishAsync($"factory/plant/machine/{machine}/counts", $"{{\"seq\":6,\"ts\":\"{TestDevice.Now(60)}\",\"good\":7,\"scrap\":1}}");
            await Wait.ForAsync(
                async () => await gateway.GetJsonAsync($"/api/factories/plant/machines/{machine}") is { } s && s.GetProperty("lastSeq").GetInt64() == 6 ? s : (JsonElement?)null,
                Deadline,
                "six messages applied");
            await gateway.StopAsync();
        }

        await using (var gateway = new GatewayProcess(temp.Sub("data"), settings))
        {
            await gateway.StartAsync();
            var snapshot = (await gateway.GetJsonAsync($"/api/factories/plant/machines/{machine}"))!.Value;
            Assert.Equal(6, snapshot.GetProperty("lastSeq").GetInt64());
            Assert.Equal(7, snapshot.GetProperty("counts").GetProperty("good").GetInt64());
            var sensors = snapshot.GetProperty("sensors").EnumerateArray().ToDictionary(s => s.GetProperty("sensor").GetString()!);
            Assert.Equal(65, sensors["temperature"].GetProperty("value").GetDouble());
            Assert.Equal("bar", sensors["pressure"].GetProperty("unit").GetString());
            Assert.Equal(5, sensors["temperature"].GetProperty("statistics").GetProperty("count").GetInt64());
            var list = await gateway.GetJsonAsync("/api/factories/plant/machines");
            Assert.Equal(machine, list!.Value.GetProperty("items")[0].GetProperty("id").GetString());

            // The same message redelivered after the restart is recognised as a duplicate.
            await using var device = await TestDevice.ConnectAsync(gateway.MqttPort);
            await device.PublishAsync($"factory/plant/machine/{machine}/telemetry", sent[5]);
            await Wait.UntilAsync(
                async () => (await gateway.GetJsonAsync($"/api/factories/plant/machines/{machine}"))!.Value.GetProperty("ingest").GetProperty("duplicates").GetInt64() == 1,
                Deadline,
                "the replayed seq counted as a duplicate");
            var after = (await gateway.GetJsonAsync($"/api/factories/plant/machines/{machine}"))!.Value;
            Assert.Equal(65, after.GetProperty("sensors").EnumerateArray().First(s => s.GetProperty("sensor").GetString() == "temperature").GetProperty("value").GetDouble());
        }
    }
}
