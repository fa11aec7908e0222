using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Twin.Testing;

namespace Twin.Gateway.Tests.EndToEnd;

/// <summary>A PLM engineering change through the running gateway: affected orders, the decision, the outbound event, idempotency.</summary>
public class PlmTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(40);
    private const string Factory = "plm";

    [Fact]
    public async Task An_engineering_change_switches_an_unreleased_order_to_the_new_bom_and_flags_the_running_one()
    {
        using var temp = new TempDirectory();
        using var receiver = new WebhookReceiver();
        await using var gateway = new GatewayProcess(temp.Sub("data"), new Dictionary<string, string> { ["Twin:Outbound:Webhooks:0:Url"] = receiver.Url });
        await gateway.StartAsync();

        async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(string path, object body)
        {
            using var response = await gateway.Http.PostAsJsonAsync($"/api/factories/{Factory}/{path}", body);
            return (response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
        }

        var due = DateTimeOffset.UtcNow.AddDays(3);
        var bomA = new[] { new { sku = "steel", quantityPerUnit = 2m, sourceBin = "bin-steel" } };
        foreach (var order in new[] { "WO-1", "WO-2" })
        {
            Assert.Equal(HttpStatusCode.OK, (await PostAsync("erp/work-orders", new { eventId = $"c-{order}", action = "create", workOrder = order, product = "panel", quantity = 10, due, bom = bomA })).Status);
        }

        Assert.Equal(HttpStatusCode.OK, (await PostAsync("erp/work-orders", new { eventId = "r-WO-2", action = "release", workOrder = "WO-2" })).Status);
        await using (var device = await TestDevice.ConnectAsync(gateway.MqttPort))
        {
            await device.PublishAsync($"factory/{Factory}/machine/press-1/counts", $"{{\"seq\":1,\"ts\":\"{TestDevice.Now()}\",\"good\":3,\"scrap\":0,\"workOrder\":\"WO-2\"}}");
        }

        await Wait.ForAsync(
            async () => await gateway.GetJsonAsync($"/api/factories/{Factory}/products/panel") is { } p
                && p.GetProperty("orders").EnumerateArray().Any(o => o.GetProperty("workOrder").GetString() == "WO-1")
                && p.GetProperty("orders").EnumerateArray().Any(o => o.GetProperty("workOrder").GetString() == "WO-2" && o.GetProperty("status").GetString() == "inProgress") ? p : (JsonElement?)null,
            Deadline,
            "the product twin knows both orders, WO-2 running");

        var change = new
        {
            changeId = "ECO-17",
            product = "panel",
            revision = "B",
            effective = DateTimeOffset.UtcNow.AddDays(-1),
            bom = new[] { new { sku = "alu", quantityPerUnit = 1.5m, sourceBin = "bin-alu" } },
            reason = "lighter panel",
            routing = new { steps = new[] { new { operation = "10", machines = new[] { "press-1" }, runPerPart = "00:01:00" } } },
        };
        var (status, body) = await PostAsync("plm/changes", change);
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        Assert.False(body.GetProperty("outcome").GetProperty("replay").GetBoolean());
        var orders = body.GetProperty("change").GetProperty("orders").EnumerateArray().ToDictionary(o => o.GetProperty("workOrder").GetString()!, o => o.GetProperty("treatment").GetString());
        Assert.Equal(new Dictionary<string, string?> { ["WO-1"] = "switched", ["WO-2"] = "flagged" }, orders);

        var switched = (await gateway.GetJsonAsync($"/api/factories/{Factory}/work-orders/WO-1"))!.Value;
        Assert.Equal("B", switched.GetProperty("definition").GetProperty("revision").GetString());
        Assert.Equal("bin-alu", Assert.Single(switched.GetProperty("definition").GetProperty("bom").EnumerateArray()).GetProperty("sourceBin").GetString());
        var running = (await gateway.GetJsonAsync($"/api/factories/{Factory}/work-orders/WO-2"))!.Value;
        Assert.Equal("bin-steel", Assert.Single(running.GetProperty("definition").GetProperty("bom").EnumerateArray()).GetProperty("sourceBin").GetString());
        var pending = running.GetProperty("pendingEngineeringChange");
        Assert.Equal(("ECO-17", "B"), (pending.GetProperty("changeId").GetString(), pending.GetProperty("toRevision").GetString()));

        var product = (await gateway.GetJsonAsync($"/api/factories/{Factory}/products/panel"))!.Value;
        Assert.Equal("B", product.GetProperty("current").GetString());

        // The outbound event lists both orders and what happened to them.
        await Wait.UntilAsync(() => Task.FromResult(receiver.Received.Any(e => e.GetProperty("type").GetString() == "engineering-change.applied")), Deadline, "engineering-change.applied at the webhook");
        var applied = receiver.Received.First(e => e.GetProperty("type").GetString() == "engineering-change.applied");
        Assert.Equal("engineering-change:ECO-17:applied", applied.GetProperty("id").GetString());
        // Unique across factories too: another factory's ECO-17 is another event.
        Assert.Contains($"{Factory}/engineering-change:ECO-17:applied", receiver.Keys);
        Assert.Contains("WO-1 switched, WO-2 flagged", applied.GetProperty("summary").GetString(), StringComparison.Ordinal);

        // The same change again: the same answer, nothing applied twice; other content under its id: 409.
        // The change is an action whose effect is verified on the machines of its routing.
        var action = await Wait.ForAsync(
            async () => await gateway.GetJsonAsync($"/api/factories/{Factory}/actions/ec:ECO-17:press-1") is { } a ? a : (JsonElement?)null,
            Deadline,
            "the engineering change tracked as an action on press-1");
        Assert.Equal(("engineeringChange", "press-1", "product/panel"), (action.GetProperty("action").GetProperty("kind").GetString(), action.GetProperty("action").GetProperty("machine").GetString(), action.GetProperty("action").GetProperty("subject").GetString()));

        var (replayStatus, replay) = await PostAsync("plm/changes", change);
        Assert.Equal(HttpStatusCode.OK, replayStatus);
        Assert.True(replay.GetProperty("outcome").GetProperty("replay").GetBoolean());
        Assert.Equal(body.GetProperty("change").ToString(), replay.GetProperty("change").ToString());
        // A PLM system that re-serialises the same change (another offset, another scale) replays it too.
        var (respelledStatus, respelled) = await PostAsync("plm/changes", change with
        {
            effective = change.effective.ToOffset(TimeSpan.FromHours(-5)),
            bom = new[] { new { sku = "alu", quantityPerUnit = 1.500m, sourceBin = "bin-alu" } },
        });
        Assert.Equal(HttpStatusCode.OK, respelledStatus);
        Assert.True(respelled.GetProperty("outcome").GetProperty("replay").GetBoolean());
        var (conflict, refused) = await PostAsync("plm/changes", change with { reason = "something else" });
        Assert.Equal(HttpStatusCode.Conflict, conflict);
        Assert.Equal("event.id-reused", refused.GetProperty("code").GetString());

        // A bad body: 400 naming the fields, and a dead letter.
        var (bad, problem) = await PostAsync("plm/changes", new { changeId = "ECO-18", product = "panel", revision = "C", effective = DateTimeOffset.UtcNow, bom = new[] { new { sku = "alu", quantityPerUnit = -1m, sourceBin = "bin-alu" } } });
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        Assert.True(problem.GetProperty("errors").TryGetProperty("bom[0].quantityPerUnit", out _), problem.ToString());
        await Wait.UntilAsync(
            async () => (await gateway.GetJsonAsync($"/api/factories/{Factory}/dead-letters"))!.Value.GetProperty("items").EnumerateArray().Any(d => d.GetProperty("reason").GetString()!.Contains("bom[0].quantityPerUnit", StringComparison.Ordinal)),
            Deadline,
            "the bad change as a dead letter");

        // The running order's decision: switch; the parts made keep their material.
        var (decidedStatus, decided) = await PostAsync("work-orders/WO-2/engineering-change", new { decision = "switch", by = "anna" });
        Assert.Equal(HttpStatusCode.OK, decidedStatus);
        Assert.Equal("B", decided.GetProperty("definition").GetProperty("revision").GetString());
        Assert.Equal(JsonValueKind.Null, decided.GetProperty("pendingEngineeringChange").ValueKind);
        Assert.Equal(3, decided.GetProperty("engineeringChanges").EnumerateArray().Last().GetProperty("goodAtSwitch").GetInt64());
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync("work-orders/WO-2/engineering-change", new { decision = "maybe", by = "anna" })).Status);
        Assert.Equal(HttpStatusCode.Conflict, (await PostAsync("work-orders/WO-1/engineering-change", new { decision = "keep", by = "anna" })).Status);
    }
}
