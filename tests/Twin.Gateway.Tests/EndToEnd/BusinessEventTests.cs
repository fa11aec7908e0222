using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Twin.Testing;

namespace Twin.Gateway.Tests.EndToEnd;

public class BusinessEventTests(EmbeddedGatewayFixture fixture) : IClassFixture<EmbeddedGatewayFixture>
{
    private readonly string _factory = "be-" + Guid.NewGuid().ToString("N")[..8];
    private GatewayProcess Gateway => fixture.Gateway;

    private async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(string path, object body)
    {
        using var response = await Gateway.Http.PostAsJsonAsync($"/api/factories/{_factory}/{path}", body);
        return (response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
    }

    [Fact]
    public async Task Erp_work_order_events_apply_once_and_replays_return_the_first_result()
    {
        var create = new { eventId = "erp-1", action = "create", workOrder = "WO-1", product = "panel", quantity = 100, bom = new[] { new { sku = "steel", quantityPerUnit = 2, sourceBin = "bin-steel" } } };
        var first = await PostAsync("erp/work-orders", create);
        Assert.Equal(HttpStatusCode.OK, first.Status);
        Assert.False(first.Body.GetProperty("replay").GetBoolean());

        var again = await PostAsync("erp/work-orders", create);
        Assert.Equal(HttpStatusCode.OK, again.Status);
        Assert.True(again.Body.GetProperty("replay").GetBoolean());
        Assert.Equal(first.Body.GetProperty("version").GetInt64(), again.Body.GetProperty("version").GetInt64());
        Assert.Equal(first.Body.GetProperty("at").GetString(), again.Body.GetProperty("at").GetString());

        var reused = await PostAsync("erp/work-orders", create with { });
        Assert.Equal(HttpStatusCode.OK, reused.Status);
        var different = await PostAsync("erp/work-orders", new { eventId = "erp-1", action = "cancel", workOrder = "WO-1" });
        Assert.Equal(HttpStatusCode.Conflict, different.Status);
        Assert.Equal("event.id-reused", different.Body.GetProperty("code").GetString());

        Assert.Equal(HttpStatusCode.OK, (await PostAsync("erp/work-orders", new { eventId = "erp-2", action = "release", workOrder = "WO-1" })).Status);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync("mes/dispatch", new { eventId = "mes-1", workOrder = "WO-1", line = "assembly" })).Status);
        var order = (await Gateway.GetJsonAsync($"/api/factories/{_factory}/work-orders/WO-1"))!.Value;
        Assert.Equal("released", order.GetProperty("status").GetString());
        Assert.Equal("assembly", order.GetProperty("dispatchedLine").GetString());
        Assert.Equal("steel", order.GetProperty("definition").GetProperty("bom")[0].GetProperty("sku").GetString());

        var cancel = await PostAsync("erp/work-orders", new { eventId = "erp-3", action = "cancel", workOrder = "WO-1", reason = "customer" });
        Assert.Equal(HttpStatusCode.OK, cancel.Status);
        var late = await PostAsync("erp/work-orders", new { eventId = "erp-4", action = "release", workOrder = "WO-1" });
        Assert.Equal(HttpStatusCode.Conflict, late.Status);
        Assert.Equal("workorder.illegal-transition", late.Body.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Wms_movements_apply_once_and_a_refusal_is_remembered()
    {
        Assert.Equal(HttpStatusCode.OK, (await PostAsync("wms/movements", new { eventId = "mv-1", bin = "b1", kind = "receipt", quantity = 10 })).Status);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync("wms/movements", new { eventId = "mv-1", bin = "b1", kind = "receipt", quantity = 10 })).Status);
        var refused = await PostAsync("wms/movements", new { eventId = "mv-2", bin = "b1", kind = "issue", quantity = 11 });
        Assert.Equal(HttpStatusCode.Conflict, refused.Status);
        Assert.Equal("stock.insufficient", refused.Body.GetProperty("code").GetString());

        Assert.Equal(HttpStatusCode.OK, (await PostAsync("wms/movements", new { eventId = "mv-3", bin = "b1", kind = "transfer", quantity = 4, targetBin = "b2" })).Status);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync("wms/movements", new { eventId = "mv-4", bin = "b1", kind = "countAdjustment", quantity = 5 })).Status);
        var replay = await PostAsync("wms/movements", new { eventId = "mv-2", bin = "b1", kind = "issue", quantity = 11 });
        Assert.Equal(HttpStatusCode.Conflict, replay.Status);

        var b1 = (await Gateway.GetJsonAsync($"/api/factories/{_factory}/bins/b1"))!.Value;
        var b2 = (await Gateway.GetJsonAsync($"/api/factories/{_factory}/bins/b2"))!.Value;
        Assert.Equal(5, b1.GetProperty("onHand").GetDecimal());
        Assert.Equal(4, b2.GetProperty("onHand").GetDecimal());
    }

    [Fact]
    public async Task Invalid_events_list_every_field_error_and_are_dead_lettered()
    {
        var invalid = await PostAsync("erp/work-orders", new { action = "create", workOrder = "WO 9", quantity = -1, bom = new[] { new { sku = "", quantityPerUnit = 0, sourceBin = "" } } });
        Assert.Equal(HttpStatusCode.BadRequest, invalid.Status);
        var fields = invalid.Body.GetProperty("errors").EnumerateObject().Select(p => p.Name).ToHashSet();
        Assert.Superset(new HashSet<string> { "eventId", "workOrder", "product", "quantity", "bom[0].sku", "bom[0].quantityPerUnit", "bom[0].sourceBin" }, fields);

        var movement = await PostAsync("wms/movements", new { eventId = "x", bin = "b1", kind = "teleport" });
        Assert.Equal(HttpStatusCode.BadRequest, movement.Status);
        Assert.Superset(new HashSet<string> { "kind", "quantity" }, movement.Body.GetProperty("errors").EnumerateObject().Select(p => p.Name).ToHashSet());

        using var malformed = await Gateway.Http.PostAsync($"/api/factories/{_factory}/mes/dispatch", new StringContent("{\"eventId\": 5", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);

        var letters = (await Gateway.GetJsonAsync($"/api/factories/{_factory}/dead-letters"))!.Value;
        Assert.Equal(3, letters.GetProperty("total").GetInt64());
        Assert.Equal(2, letters.GetProperty("countsByReason").GetProperty("event.invalid").GetInt64());
        Assert.Equal(1, letters.GetProperty("countsByReason").GetProperty("payload.malformed").GetInt64());
    }
}
