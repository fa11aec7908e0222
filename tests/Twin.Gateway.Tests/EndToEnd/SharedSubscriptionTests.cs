using System.Text.Json;
using Twin.Testing;

namespace Twin.Gateway.Tests.EndToEnd;

/// <summary>Two gateways on one Mosquitto with a shared subscription split the load and apply everything once.</summary>
public class SharedSubscriptionTests
{
    [Fact]
    public async Task Two_gateways_in_a_shared_group_split_the_messages_and_apply_each_once()
    {
        using var temp = new TempDirectory();
        await using var mosquitto = await MosquittoProcess.StartAsync(temp.Sub("mosquitto"));

        // One silo co-hosted in the first gateway; the second joins it as a client, as in a cluster.
        var first = new GatewayProcess(temp.Sub("a"), new Dictionary<string, string>
        {
            ["Twin:Broker:Enabled"] = "false",
            ["Twin:Mqtt:Port"] = mosquitto.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Twin:Mqtt:SharedGroup"] = "twins",
        });
        await using var _ = first;
        await first.StartAsync();
        var siloGatewayPort = first.OrleansGatewayPort;
        await using var second = new GatewayProcess(temp.Sub("b"), new Dictionary<string, string>
        {
            ["Twin:Gateway:Mode"] = "Client",
            ["Twin:Client:GatewayPort"] = siloGatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Twin:Broker:Enabled"] = "false",
            ["Twin:Mqtt:Port"] = mosquitto.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Twin:Mqtt:SharedGroup"] = "twins",
        });
        await second.StartAsync();
        foreach (var gateway in new[] { first, second })
        {
            await Wait.UntilAsync(
                async () => (await gateway.GetJsonAsync("/health/ready"))?.GetProperty("checks").GetProperty("mqtt").GetProperty("status").GetString() == "Healthy",
                TimeSpan.FromSeconds(20),
                "consumer connected");
        }

        const int machines = 10, perMachine = 60;
        await using var device = await TestDevice.ConnectAsync(mosquitto.Port);
        var start = DateTimeOffset.UtcNow.AddSeconds(-30);
        for (var seq = 1; seq <= perMachine; seq++)
        {
            for (var m = 0; m < machines; m++)
            {
                await device.PublishAsync($"factory/shared/machine/m{m}/telemetry", $"{{\"seq\":{seq},\"ts\":\"{start.AddMilliseconds(seq * 100):O}\",\"values\":{{\"temperature\":{seq}}}}}");
            }
        }

        for (var m = 0; m < machines; m++)
        {
            await Wait.UntilAsync(
                async () => await first.GetJsonAsync($"/api/factories/shared/machines/m{m}") is { } s
                    && s.GetProperty("ingest").GetProperty("applied").GetInt64() + s.GetProperty("ingest").GetProperty("late").GetInt64() == perMachine,
                TimeSpan.FromSeconds(30),
                $"all of m{m} applied");
        }

        var a = (await first.GetJsonAsync("/api/gateway/ingest"))!.Value.GetProperty("acceptedMessages").GetInt64();
        var b = (await second.GetJsonAsync("/api/gateway/ingest"))!.Value.GetProperty("acceptedMessages").GetInt64();
        Assert.Equal(machines * perMachine, a + b);
        Assert.True(a > 0 && b > 0, $"both gateways took a share: {a} and {b}");
    }
}
