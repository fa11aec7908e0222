using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Twin.Testing;

namespace Twin.Gateway.Tests.EndToEnd;

/// <summary>Parts counted on a machine → work order progress → BOM backflush → low stock → purchase request → receipt closes it.</summary>
public class ProductionFlowTests(EmbeddedGatewayFixture fixture) : IClassFixture<EmbeddedGatewayFixture>
{
    private readonly string _factory = "pf-" + Guid.NewGuid().ToString("N")[..8];
    private GatewayProcess Gateway => fixture.Gateway;

    private async Task<HttpStatusCode> PostAsync(string path, object body)
    {
        using var response = await Gateway.Http.PostAsJsonAsync($"/api/factories/{_factory}/{path}", body);
        return response.StatusCode;
    }

    [Fact]
    public async Task A_work_order_for_100_parts_completes_drains_its_bin_and_raises_one_purchase_request()
    {
        Assert.Equal(HttpStatusCode.OK, await PostAsync("wms/movements", new { eventId = "open", bin = "bin-steel", kind = "receipt", quantity = 250 }));
        Assert.Equal(HttpStatusCode.OK, (await Gateway.Http.PutAsJsonAsync($"/api/factories/{_factory}/bins/bin-steel", new { sku = "steel", reorderPoint = 60, reorderQuantity = 500 })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, await PostAsync("erp/work-orders", new { eventId = "wo", action = "create", workOrder = "WO-7", product = "bracket", quantity = 100, bom = new[] { new { sku = "steel", quantityPerUnit = 2, sourceBin = "bin-steel" } } }));
        Assert.Equal(HttpStatusCode.OK, await PostAsync("erp/work-orders", new { eventId = "rel", action = "release", workOrder = "WO-7" }));

        await using var device = await TestDevice.ConnectAsync(Gateway.MqttPort);
        for (var seq = 1; seq <= 21; seq++)
        {
            await device.PublishAsync($"factory/{_factory}/machine/press-9/counts", $"{{\"seq\":{seq},\"ts\":\"{TestDevice.Now(seq)}\",\"good\":5,\"scrap\":{(seq % 10 == 0 ? 1 : 0)},\"workOrder\":\"WO-7\"}}");
        }

        var order = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/work-orders/WO-7") is { } w && w.GetProperty("good").GetInt64() == 105 ? w : (JsonElement?)null,
            TimeSpan.FromSeconds(30),
            "all counts on the work order");
        Assert.Equal("completed", order.GetProperty("status").GetString());
        Assert.Equal(2, order.GetProperty("scrap").GetInt64());
        Assert.Equal(1.0, order.GetProperty("progress").GetDouble());
        Assert.Equal(["created", "released", "inProgress", "completed"], order.GetProperty("history").EnumerateArray().Select(h => h.GetProperty("to").GetString()!).ToArray());

        // Backflush stops with the order: 100 good parts × 2 = 200 issued, the last 5 parts came after completion.
        var bin = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/bins/bin-steel") is { } b && b.GetProperty("onHand").GetDecimal() == 50 ? b : (JsonElement?)null,
            TimeSpan.FromSeconds(30),
            "the bin drained by the backflush");
        Assert.True(bin.GetProperty("belowReorderPoint").GetBoolean());

        var requests = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/purchase-requests") is { } p && p.GetProperty("total").GetInt32() >= 1 ? p : (JsonElement?)null,
            TimeSpan.FromSeconds(30),
            "a purchase request");
        Assert.Equal(1, requests.GetProperty("total").GetInt32());
        Assert.Equal(500, requests.GetProperty("items")[0].GetProperty("quantity").GetDecimal());

        Assert.Equal(HttpStatusCode.OK, await PostAsync("wms/movements", new { eventId = "po-1", bin = "bin-steel", kind = "receipt", quantity = 500 }));
        await Wait.UntilAsync(
            async () => (await Gateway.GetJsonAsync($"/api/factories/{_factory}/purchase-requests?status=closed"))!.Value.GetProperty("total").GetInt32() == 1,
            TimeSpan.FromSeconds(30),
            "the receipt closed the request");
        Assert.Equal(1, (await Gateway.GetJsonAsync($"/api/factories/{_factory}/purchase-requests"))!.Value.GetProperty("total").GetInt32());
    }
}
