using System.Text.Json;
using Twin.Testing;
using Xunit.Abstractions;

namespace Twin.Gateway.Tests.EndToEnd;

/// <summary>The demo factory's drifting machine gets a predicted-failure ticket before its limit is crossed.</summary>
public sealed class PredictiveMaintenanceTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_drifting_demo_machine_gets_a_predicted_ticket_before_its_limit_alarms()
    {
        using var temp = new TempDirectory();
        // The simulator at 20 messages a second per machine makes cnc-3's temperature climb
        // about 1 °C every 3 s towards its limit (baseline + 12 °C); trends use 2-s averages.
        await using var gateway = new GatewayProcess(temp.Sub("data"), new Dictionary<string, string>
        {
            ["Twin:Simulator:Enabled"] = "true",
            ["Twin:Simulator:Interval"] = "00:00:00.050",
            ["Twin:Machine:Prediction:Interval"] = "00:00:02",
            ["Twin:Machine:Prediction:Horizon"] = "00:10:00",
        });
        await gateway.StartAsync();

        var predicted = await Wait.ForAsync(
            async () => await gateway.GetJsonAsync("/api/factories/demo/tickets?machine=cnc-3") is { } list
                && list.GetProperty("items").EnumerateArray().FirstOrDefault(t => t.GetProperty("kind").GetString() == "predicted") is { ValueKind: JsonValueKind.Object } ticket
                ? list
                : (JsonElement?)null,
            TimeSpan.FromSeconds(90),
            "a predicted ticket for cnc-3");

        var tickets = predicted.GetProperty("items").EnumerateArray().ToList();
        var prediction = tickets.Single(t => t.GetProperty("kind").GetString() == "predicted");
        var evidence = prediction.GetProperty("evidence").EnumerateArray().First();
        output.WriteLine(evidence.ToString());

        // Before the limit: no limit ticket yet, and the reading behind the prediction is below 60 °C.
        Assert.DoesNotContain(tickets, t => t.GetProperty("kind").GetString() == "limitHigh");
        Assert.True(evidence.GetProperty("value").GetDouble() < 60, "the prediction came before the limit was reached");
        Assert.Contains("high limit 60", evidence.GetProperty("note").GetString(), StringComparison.Ordinal);
    }
}
