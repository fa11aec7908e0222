using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Twin.Testing;

namespace Twin.Gateway.Tests.EndToEnd;

/// <summary>Sustained abnormal temperature → exactly one ticket, delivered once to a webhook, across a process kill.</summary>
public class OutboundTests
{
    [Fact]
    public async Task One_ticket_and_one_distinct_webhook_event_over_hundreds_of_anomalous_readings_and_a_restart()
    {
        using var temp = new TempDirectory();
        using var receiver = new WebhookReceiver();
        var settings = new Dictionary<string, string> { ["Twin:Outbound:Webhooks:0:Url"] = receiver.Url };
        var start = DateTimeOffset.UtcNow.AddMinutes(-30);

        async Task PostAsync(GatewayProcess gateway, int first, int count, double value)
        {
            var payloads = Enumerable.Range(first, count).Select(i => string.Create(CultureInfo.InvariantCulture, $"{{\"seq\":{i},\"ts\":\"{start.AddSeconds(i):O}\",\"values\":{{\"temperature\":{value + (i % 7 * 0.1)}}}}}"));
            using var response = await gateway.Http.PostAsync("/api/factories/ob/machines/kiln/telemetry", new StringContent("[" + string.Join(",", payloads) + "]", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await using (var gateway = new GatewayProcess(temp.Sub("data"), settings))
        {
            await gateway.StartAsync();
            await gateway.Http.PutAsJsonAsync("/api/factories/ob/machines/kiln", new { sensors = new { temperature = new { high = 90, minDuration = "00:00:10" } } });
            await PostAsync(gateway, 1, 30, 70);
            await PostAsync(gateway, 31, 200, 120);
            await Wait.UntilAsync(() => Task.FromResult(receiver.Received.Any(e => e.GetProperty("type").GetString() == "ticket.opened")), TimeSpan.FromSeconds(20), "the webhook got ticket.opened");
            await gateway.Process.KillAsync();
        }

        await using (var gateway = new GatewayProcess(temp.Sub("data"), settings))
        {
            await gateway.StartAsync();
            await PostAsync(gateway, 231, 200, 121);
            // Resolve only once the ticket holds the machine's latest evidence: evidence still on its
            // way after a resolution (the fault is still active) rightly opens a new ticket.
            var tickets = await Wait.ForAsync(
                async () =>
                {
                    var t = await gateway.GetJsonAsync("/api/factories/ob/tickets");
                    var machine = await gateway.GetJsonAsync("/api/factories/ob/machines/kiln");
                    if (t is not { } list || machine is not { } kiln || list.GetProperty("items").GetArrayLength() == 0 || kiln.GetProperty("activeFaults").GetArrayLength() == 0)
                    {
                        return null;
                    }

                    var ticket = list.GetProperty("items")[0];
                    var latest = ticket.GetProperty("evidence").EnumerateArray().Max(e => e.GetProperty("time").GetDateTimeOffset());
                    return ticket.GetProperty("evidenceCount").GetInt64() >= 35 && latest == kiln.GetProperty("activeFaults")[0].GetProperty("since").GetDateTimeOffset() ? list : (JsonElement?)null;
                },
                TimeSpan.FromSeconds(30),
                "the machine's latest evidence, from after the restart, on the same ticket");
            Assert.Equal(1, tickets.GetProperty("total").GetInt32());
            var id = tickets.GetProperty("items")[0].GetProperty("id").GetString();

            Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PostAsJsonAsync($"/api/factories/ob/tickets/{id}/resolve", new { by = "tech" })).StatusCode);
            await Wait.UntilAsync(() => Task.FromResult(receiver.Received.Any(e => e.GetProperty("type").GetString() == "ticket.resolved")), TimeSpan.FromSeconds(20), "ticket.resolved delivered");
        }

        var opened = receiver.Received.Where(e => e.GetProperty("type").GetString() == "ticket.opened").Select(e => e.GetProperty("id").GetString()).Distinct().ToList();
        Assert.Equal(["ticket:kiln.LimitHigh.1:opened"], opened);
        Assert.All(receiver.Received, e => Assert.Equal("ob", e.GetProperty("factory").GetString()));
    }

    [Fact]
    public async Task Workflow_events_are_published_to_the_mqtt_events_topic()
    {
        using var temp = new TempDirectory();
        var mqttPort = Ports.Free();
        await using var gateway = new GatewayProcess(temp.Sub("data"), new Dictionary<string, string>
        {
            ["Twin:Broker:Port"] = mqttPort.ToString(CultureInfo.InvariantCulture),
            ["Twin:Mqtt:Port"] = mqttPort.ToString(CultureInfo.InvariantCulture),
            ["Twin:Outbound:Mqtt:Host"] = "127.0.0.1",
            ["Twin:Outbound:Mqtt:Port"] = mqttPort.ToString(CultureInfo.InvariantCulture),
        });
        await gateway.StartAsync();
        await using var subscriber = await TestSubscriber.ConnectAsync(mqttPort, "factory/+/events/#");

        await gateway.Http.PostAsJsonAsync("/api/factories/ev/wms/movements", new { eventId = "in", bin = "b", kind = "receipt", quantity = 20 });
        await gateway.Http.PutAsJsonAsync("/api/factories/ev/bins/b", new { sku = "nut", reorderPoint = 10, reorderQuantity = 100 });
        await gateway.Http.PostAsJsonAsync("/api/factories/ev/wms/movements", new { eventId = "out", bin = "b", kind = "issue", quantity = 15 });

        await Wait.UntilAsync(() => Task.FromResult(!subscriber.Received.IsEmpty), TimeSpan.FromSeconds(20), "an event on MQTT");
        var (topic, payload) = subscriber.Received.First();
        Assert.Equal("factory/ev/events/purchase-request.opened", topic);
        using var json = JsonDocument.Parse(payload);
        Assert.Equal("purchase-request:b.1:opened", json.RootElement.GetProperty("id").GetString());
    }
}
