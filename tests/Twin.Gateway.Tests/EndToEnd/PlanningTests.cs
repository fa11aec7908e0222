using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Twin.Testing;

namespace Twin.Gateway.Tests.EndToEnd;

/// <summary>
/// A line of three machines with three orders, planned by the factory's planner; the bottleneck
/// goes down over MQTT and comes back, and the plan follows: dispatch lists, projected lateness in
/// the KPIs, <c>dispatch.changed</c> at a webhook — all through a running gateway.
/// </summary>
public sealed class PlanningTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_bottleneck_breakdown_repairs_the_schedule_and_its_return_plans_again()
    {
        using var temp = new TempDirectory();
        using var receiver = new WebhookReceiver();
        await using var gateway = new GatewayProcess(temp.Sub("data"), new Dictionary<string, string>
        {
            ["Twin:Outbound:Webhooks:0:Url"] = receiver.Url,
            ["Twin:Outbound:Webhooks:0:Events:0"] = "dispatch.",
            ["Twin:Planning:TimeLimit"] = "00:00:02",
            ["Twin:Planning:AssumedRepair"] = "06:00:00",
        });
        await gateway.StartAsync();
        const string f = "/api/factories/plan";

        // Master data: the line, and a routing through it (press is the bottleneck: 3 minutes a part).
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PutAsJsonAsync($"{f}/lines/l1", new { name = "Line 1", machines = new[] { "saw", "press", "pack" } })).StatusCode);
        var routing = new
        {
            steps = new object[]
            {
                new { operation = "10", machines = new[] { "saw" }, setup = "00:05:00", runPerPart = "00:01:00" },
                new { operation = "20", machines = new[] { "press" }, setup = "00:10:00", runPerPart = "00:03:00" },
                new { operation = "30", machines = new[] { "pack" }, runPerPart = "00:00:30" },
            },
        };
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PutAsJsonAsync($"{f}/routings/bracket", routing)).StatusCode);

        // Three released orders from ERP, due within five hours: on time while press runs.
        var due = DateTimeOffset.UtcNow.AddHours(5);
        foreach (var (order, quantity, priority) in new[] { ("WO-1", 10, 1), ("WO-2", 15, 1), ("WO-3", 5, 5) })
        {
            var created = await gateway.Http.PostAsJsonAsync($"{f}/erp/work-orders", new { eventId = $"{order}-c", action = "create", workOrder = order, product = "bracket", quantity, due, line = "l1", priority });
            Assert.Equal(HttpStatusCode.OK, created.StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PostAsJsonAsync($"{f}/erp/work-orders", new { eventId = $"{order}-r", action = "release", workOrder = order })).StatusCode);
        }

        var first = await Wait.ForAsync(
            async () => await gateway.GetJsonAsync($"{f}/schedule") is { } s && s.GetProperty("orders").GetArrayLength() == 3 && !s.GetProperty("replanning").GetBoolean() ? s : (JsonElement?)null,
            Deadline,
            "a plan with the three orders");
        Assert.Equal(9, first.GetProperty("operations").GetArrayLength());
        Assert.All(first.GetProperty("orders").EnumerateArray(), o => Assert.False(o.GetProperty("late").GetBoolean()));
        var pressBefore = await DispatchAsync(gateway, "press");
        Assert.Equal(3, pressBefore.Count);
        var firstVersion = first.GetProperty("version").GetInt64();
        var kpis = await gateway.GetJsonAsync($"{f}/kpis");
        Assert.Equal(1.0, kpis!.Value.GetProperty("onTimeDeliveryRate").GetDouble());

        // The bottleneck goes down: its work waits for the assumed repair, and the orders turn late.
        await using var device = await TestDevice.ConnectAsync(gateway.MqttPort);
        await device.PublishAsync("factory/plan/machine/press/status", $"{{\"seq\":1,\"ts\":\"{TestDevice.Now()}\",\"state\":\"down\"}}");
        var repaired = await Wait.ForAsync(
            async () => await gateway.GetJsonAsync($"{f}/schedule") is { } s && s.GetProperty("version").GetInt64() > firstVersion && !s.GetProperty("replanning").GetBoolean() ? s : (JsonElement?)null,
            Deadline,
            "a re-plan after press went down");
        var last = repaired.GetProperty("last");
        Assert.Contains(last.GetProperty("triggers").EnumerateArray(), t => t.GetString() == "press: machine down");
        Assert.Contains("press", last.GetProperty("machines").EnumerateArray().Select(m => m.GetString()));
        Assert.True(last.GetProperty("moved").GetInt32() > 0);
        Assert.All(repaired.GetProperty("orders").EnumerateArray(), o => Assert.True(o.GetProperty("late").GetBoolean()));

        var pressAfter = await DispatchAsync(gateway, "press");
        Assert.All(pressAfter, p => Assert.True(p.Start >= DateTimeOffset.UtcNow.AddHours(5.5), $"{p.Order} on press at {p.Start:O}, before the assumed repair"));
        Assert.NotEqual(pressBefore.Select(p => p.Start), pressAfter.Select(p => p.Start));

        var late = await Wait.ForAsync(
            async () => await gateway.GetJsonAsync($"{f}/kpis") is { } k && k.GetProperty("projectedLateOrders").GetArrayLength() == 3 ? k : (JsonElement?)null,
            Deadline,
            "the projected lateness in the factory KPIs");
        Assert.Equal(0.0, late.GetProperty("onTimeDeliveryRate").GetDouble());
        Assert.All(late.GetProperty("projectedLateOrders").EnumerateArray(), o => Assert.True(o.GetProperty("latenessMinutes").GetDouble() > 30));

        var version = repaired.GetProperty("version").GetInt64();
        await Wait.UntilAsync(
            () => Task.FromResult(receiver.Received.Any(e => e.GetProperty("id").GetString() == $"dispatch:press:{version}")),
            Deadline,
            "dispatch.changed for press at the webhook");
        var changed = receiver.Received.First(e => e.GetProperty("id").GetString() == $"dispatch:press:{version}");
        Assert.Equal("dispatch.changed", changed.GetProperty("type").GetString());
        Assert.Equal("machine/press", changed.GetProperty("subject").GetString());
        Assert.Contains("press: machine down", changed.GetProperty("summary").GetString(), StringComparison.Ordinal);

        // Back up: planned again, on time again.
        await device.PublishAsync("factory/plan/machine/press/status", $"{{\"seq\":2,\"ts\":\"{TestDevice.Now(1)}\",\"state\":\"running\"}}");
        var back = await Wait.ForAsync(
            async () => await gateway.GetJsonAsync($"{f}/schedule") is { } s && s.GetProperty("version").GetInt64() > version && !s.GetProperty("replanning").GetBoolean() ? s : (JsonElement?)null,
            Deadline,
            "a re-plan after press came back");
        Assert.Contains(back.GetProperty("last").GetProperty("triggers").EnumerateArray(), t => t.GetString() == "press: machine back (running)");
        Assert.All(back.GetProperty("orders").EnumerateArray(), o => Assert.False(o.GetProperty("late").GetBoolean()));
        Assert.True((await DispatchAsync(gateway, "press"))[0].Start < DateTimeOffset.UtcNow.AddHours(2));
        await Wait.UntilAsync(
            async () => await gateway.GetJsonAsync($"{f}/kpis") is { } k && k.GetProperty("projectedLateOrders").GetArrayLength() == 0,
            Deadline,
            "no projected lateness once press is back");
        var backVersion = back.GetProperty("version").GetInt64();
        await Wait.UntilAsync(
            () => Task.FromResult(receiver.Received.Any(e => e.GetProperty("id").GetString() == $"dispatch:press:{backVersion}")),
            Deadline,
            "dispatch.changed for press after it came back");

        var history = await gateway.GetJsonAsync($"{f}/schedule/history");
        Assert.True(history!.Value.GetArrayLength() >= 3);
        Assert.All(receiver.Received, e => Assert.StartsWith("dispatch.", e.GetProperty("type").GetString(), StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_what_if_order_gets_a_promise_and_the_plan_stays_as_it_was()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Sub("data"), new Dictionary<string, string> { ["Twin:Planning:TimeLimit"] = "00:00:01" });
        await gateway.StartAsync();
        const string f = "/api/factories/wif";
        var routing = new { steps = new object[] { new { operation = "10", machines = new[] { "lathe" }, runPerPart = "00:02:00" } } };
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PutAsJsonAsync($"{f}/routings/shaft", routing)).StatusCode);
        await gateway.Http.PostAsJsonAsync($"{f}/erp/work-orders", new { eventId = "a", action = "create", workOrder = "WO-A", product = "shaft", quantity = 30 });
        var plan = await Wait.ForAsync(
            async () => await gateway.GetJsonAsync($"{f}/schedule") is { } s && s.GetProperty("orders").GetArrayLength() == 1 && !s.GetProperty("replanning").GetBoolean() ? s : (JsonElement?)null,
            Deadline,
            "a plan with WO-A");

        using var asked = await gateway.Http.PostAsJsonAsync($"{f}/work-orders/what-if", new { product = "shaft", quantity = 15, due = DateTimeOffset.UtcNow.AddMinutes(10) });
        Assert.Equal(HttpStatusCode.OK, asked.StatusCode);
        var answer = await asked.Content.ReadFromJsonAsync<JsonElement>();

        // 15 parts of 2 minutes take 30 minutes: at least that from now, so 20 or more minutes late.
        var completion = answer.GetProperty("projectedCompletion").GetDateTimeOffset();
        Assert.True(completion >= DateTimeOffset.UtcNow.AddMinutes(29));
        Assert.True(TimeSpan.Parse(answer.GetProperty("lateness").GetString()!, System.Globalization.CultureInfo.InvariantCulture) >= TimeSpan.FromMinutes(19));
        Assert.Single(answer.GetProperty("operations").EnumerateArray());

        var after = await gateway.GetJsonAsync($"{f}/schedule");
        Assert.Equal(plan.GetProperty("version").GetInt64(), after!.Value.GetProperty("version").GetInt64());
        Assert.Equal(1, after.Value.GetProperty("orders").GetArrayLength());

        using var unknown = await gateway.Http.PostAsJsonAsync($"{f}/work-orders/what-if", new { product = "gear", quantity = 1 });
        var refused = await unknown.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains("no routing for product 'gear'", refused.GetProperty("unschedulable").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, (await gateway.Http.PostAsJsonAsync($"{f}/work-orders/what-if", new { product = "shaft", quantity = 0 })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await gateway.Http.PutAsJsonAsync($"{f}/routings/shaft", new { steps = new object[] { new { operation = "10", machines = Array.Empty<string>() } } })).StatusCode);

        // A body that does not bind names the field like every other 400.
        using var banana = await gateway.Http.PutAsJsonAsync($"{f}/routings/shaft", new { steps = new object[] { new { operation = "10", machines = new[] { "lathe-1" }, runPerPart = "banana" } } });
        Assert.Equal(HttpStatusCode.BadRequest, banana.StatusCode);
        Assert.Equal("application/problem+json", banana.Content.Headers.ContentType?.MediaType);
        var bananaError = (await banana.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").GetProperty("steps[0].runPerPart")[0].GetString()!;
        Assert.StartsWith("payload.malformed:", bananaError, StringComparison.Ordinal);
        using var wrongType = await gateway.Http.PostAsJsonAsync($"{f}/work-orders/what-if", new { product = "shaft", quantity = "many" });
        Assert.Equal(HttpStatusCode.BadRequest, wrongType.StatusCode);
        Assert.True((await wrongType.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").TryGetProperty("quantity", out _));
    }

    [Fact]
    public async Task An_order_too_large_to_plan_leaves_the_rest_planned_and_what_if_checks_quantity_and_material()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Sub("data"), new Dictionary<string, string> { ["Twin:Planning:TimeLimit"] = "00:00:01" });
        await gateway.StartAsync();
        const string f = "/api/factories/big";

        // A routing naming a machine that is a twin and one that is not (a typo of it): accepted, with a warning naming the stranger.
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PutAsJsonAsync($"{f}/machines/lathe-1", new { name = "Lathe 1", sensors = new Dictionary<string, object>() })).StatusCode);
        using var typo = await gateway.Http.PutAsJsonAsync($"{f}/routings/axle", new { steps = new object[] { new { operation = "10", machines = new[] { "lathe-l" }, runPerPart = "00:01:00" } } });
        Assert.Equal(HttpStatusCode.OK, typo.StatusCode);
        var warning = Assert.Single((await typo.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("warnings").EnumerateArray()).GetString()!;
        Assert.Contains("steps[0].machines[0]: 'lathe-l' is not a machine of factory 'big'", warning, StringComparison.Ordinal);
        Assert.Contains("did you mean 'lathe-1'?", warning, StringComparison.Ordinal);
        using var known = await gateway.Http.PutAsJsonAsync($"{f}/routings/shaft", new { steps = new object[] { new { operation = "10", machines = new[] { "lathe-1" }, runPerPart = "1.00:00:00" } } });
        Assert.Empty((await known.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("warnings").EnumerateArray());
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PutAsJsonAsync($"{f}/routings/pin", new { steps = new object[] { new { operation = "10", machines = new[] { "lathe-1" }, runPerPart = "00:02:00" } } })).StatusCode);

        // ERP refuses what what-if refuses: more than ten million parts.
        using var huge = await gateway.Http.PostAsJsonAsync($"{f}/erp/work-orders", new { eventId = "h", action = "create", workOrder = "WO-H", product = "shaft", quantity = 2147483647L });
        Assert.Equal(HttpStatusCode.BadRequest, huge.StatusCode);
        Assert.True((await huge.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").TryGetProperty("quantity", out _));
        Assert.Equal(HttpStatusCode.BadRequest, (await gateway.Http.PostAsJsonAsync($"{f}/work-orders/what-if", new { product = "shaft", quantity = 10_000_001 })).StatusCode);

        // Ten million parts of a day each (27,000 years) are accepted from ERP but cannot be planned: listed
        // as unschedulable with the reason, and the small order beside it is planned; the planner is not stuck.
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PostAsJsonAsync($"{f}/erp/work-orders", new { eventId = "b", action = "create", workOrder = "WO-BIG", product = "shaft", quantity = 10_000_000 })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PostAsJsonAsync($"{f}/erp/work-orders", new { eventId = "s", action = "create", workOrder = "WO-S", product = "pin", quantity = 5 })).StatusCode);
        var plan = await Wait.ForAsync(
            async () => await gateway.GetJsonAsync($"{f}/schedule") is { } s && s.GetProperty("orders").GetArrayLength() == 1 && s.GetProperty("unscheduled").GetArrayLength() == 1 && !s.GetProperty("replanning").GetBoolean() ? s : (JsonElement?)null,
            Deadline,
            "WO-S planned and WO-BIG unschedulable");
        Assert.Equal("WO-S", plan.GetProperty("orders")[0].GetProperty("workOrder").GetString());
        var unscheduled = plan.GetProperty("unscheduled")[0];
        Assert.Equal("WO-BIG", unscheduled.GetProperty("workOrder").GetString());
        Assert.Contains("planning horizon", unscheduled.GetProperty("reason").GetString(), StringComparison.Ordinal);

        // The same quantity as a what-if question: 400 naming the field, never 500.
        using var tooLong = await gateway.Http.PostAsJsonAsync($"{f}/work-orders/what-if", new { product = "shaft", quantity = 10_000_000 });
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        var problem = await tooLong.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains("planning horizon", problem.GetProperty("errors").GetProperty("quantity")[0].GetString(), StringComparison.Ordinal);

        // Material: bin-a holds 10, the question needs 20 and nothing is on order: short, uncovered, and the order starts after the lead time.
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PutAsJsonAsync($"{f}/bins/bin-a", new { sku = "steel", reorderPoint = 0, reorderQuantity = 0 })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PostAsJsonAsync($"{f}/wms/movements", new { eventId = "r1", bin = "bin-a", kind = "receipt", quantity = 10 })).StatusCode);
        using var shortAsked = await gateway.Http.PostAsJsonAsync($"{f}/work-orders/what-if", new { product = "pin", quantity = 20, bom = new[] { new { sku = "steel", quantityPerUnit = 1, sourceBin = "bin-a" } } });
        Assert.Equal(HttpStatusCode.OK, shortAsked.StatusCode);
        var shortAnswer = await shortAsked.Content.ReadFromJsonAsync<JsonElement>();
        var shortage = Assert.Single(shortAnswer.GetProperty("shortages").EnumerateArray());
        Assert.Equal(("bin-a", 20m, 10m, false), (shortage.GetProperty("bin").GetString(), shortage.GetProperty("needed").GetDecimal(), shortage.GetProperty("available").GetDecimal(), shortage.GetProperty("covered").GetBoolean()));
        Assert.True(shortAnswer.GetProperty("operations")[0].GetProperty("start").GetDateTimeOffset() >= DateTimeOffset.UtcNow.AddHours(7.9), "a short order starts after the material lead time");

        // Enough in the bin: no shortage, it starts at once.
        using var enough = await gateway.Http.PostAsJsonAsync($"{f}/work-orders/what-if", new { product = "pin", quantity = 5, bom = new[] { new { sku = "steel", quantityPerUnit = 1, sourceBin = "bin-a" } } });
        var enoughAnswer = await enough.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Empty(enoughAnswer.GetProperty("shortages").EnumerateArray());
        Assert.True(enoughAnswer.GetProperty("operations")[0].GetProperty("start").GetDateTimeOffset() < DateTimeOffset.UtcNow.AddHours(1));

        // bin-b falls below its reorder point: its open purchase request (100) covers what the question lacks.
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PutAsJsonAsync($"{f}/bins/bin-b", new { sku = "bolt", reorderPoint = 50, reorderQuantity = 100 })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PostAsJsonAsync($"{f}/wms/movements", new { eventId = "r2", bin = "bin-b", kind = "receipt", quantity = 30 })).StatusCode);
        await Wait.UntilAsync(
            async () => await gateway.GetJsonAsync($"{f}/purchase-requests?bin=bin-b") is { } list && list.GetProperty("total").GetInt32() == 1,
            Deadline,
            "a purchase request for bin-b");
        using var onOrder = await gateway.Http.PostAsJsonAsync($"{f}/work-orders/what-if", new { product = "pin", quantity = 60, bom = new[] { new { sku = "bolt", quantityPerUnit = 1, sourceBin = "bin-b" } } });
        var covered = Assert.Single((await onOrder.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("shortages").EnumerateArray());
        Assert.Equal((30m, 100m, true), (covered.GetProperty("available").GetDecimal(), covered.GetProperty("onOrder").GetDecimal(), covered.GetProperty("covered").GetBoolean()));
    }

    private static async Task<List<(string Order, DateTimeOffset Start)>> DispatchAsync(GatewayProcess gateway, string machine)
    {
        var list = await gateway.GetJsonAsync($"/api/factories/plan/machines/{machine}/dispatch");
        return [.. list!.Value.GetProperty("operations").EnumerateArray().Select(o => (o.GetProperty("workOrder").GetString()!, o.GetProperty("start").GetDateTimeOffset()))];
    }
}
