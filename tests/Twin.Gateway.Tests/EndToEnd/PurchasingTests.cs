using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Twin.Testing;

namespace Twin.Gateway.Tests.EndToEnd;

public class PurchasingTests(EmbeddedGatewayFixture fixture) : IClassFixture<EmbeddedGatewayFixture>
{
    private readonly string _factory = "pr-" + Guid.NewGuid().ToString("N")[..8];
    private GatewayProcess Gateway => fixture.Gateway;

    private async Task MoveAsync(string id, string kind, decimal quantity)
    {
        using var response = await Gateway.Http.PostAsJsonAsync($"/api/factories/{_factory}/wms/movements", new { eventId = id, bin = "bin-1", kind, quantity });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_bin_falling_below_its_reorder_point_raises_one_request_which_the_refilling_receipt_closes()
    {
        // Opening stock first: a bin defined while empty is below its reorder point at once.
        await MoveAsync("r0", "receipt", 120);
        Assert.Equal(HttpStatusCode.OK, (await Gateway.Http.PutAsJsonAsync($"/api/factories/{_factory}/bins/bin-1", new { sku = "bolt-m8", reorderPoint = 50, reorderQuantity = 200 })).StatusCode);
        for (var i = 1; i <= 10; i++)
        {
            await MoveAsync($"i{i}", "issue", 10);
        }

        var open = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/purchase-requests") is { } p && p.GetProperty("total").GetInt32() > 0 ? p : (JsonElement?)null,
            TimeSpan.FromSeconds(20),
            "a purchase request");
        var request = open.GetProperty("items")[0];
        Assert.Equal(1, open.GetProperty("total").GetInt32());
        Assert.Equal("bin-1.1", request.GetProperty("id").GetString());
        Assert.Equal(200, request.GetProperty("quantity").GetDecimal());
        Assert.Equal("below:i8", request.GetProperty("cause").GetString());
        Assert.Equal(40, request.GetProperty("availableAtRequest").GetDecimal());

        Assert.Equal(HttpStatusCode.OK, (await Gateway.Http.PostAsJsonAsync($"/api/factories/{_factory}/purchase-requests/bin-1.1/order", new { by = "erp" })).StatusCode);
        await MoveAsync("r1", "receipt", 200);
        var closed = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/purchase-requests?status=closed") is { } p && p.GetProperty("total").GetInt32() == 1 ? p : (JsonElement?)null,
            TimeSpan.FromSeconds(20),
            "the request closed by the receipt");
        var steps = closed.GetProperty("items")[0].GetProperty("history").EnumerateArray().Select(h => h.GetProperty("status").GetString()!).ToArray();
        Assert.Equal(["open", "ordered", "received", "closed"], steps);
        Assert.Equal(1, (await Gateway.GetJsonAsync($"/api/factories/{_factory}/purchase-requests"))!.Value.GetProperty("total").GetInt32());
    }
}
