using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using Twin.Testing;
using Xunit.Abstractions;

namespace Twin.Gateway.Tests.EndToEnd;

/// <summary>Traceability through the running gateway: lots received over WMS, parts and telemetry over MQTT, the order's genealogy and the lot's reverse view.</summary>
public class GenealogyTests(EmbeddedGatewayFixture fixture, ITestOutputHelper output) : IClassFixture<EmbeddedGatewayFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(40);
    private readonly string _factory = "gen-" + Guid.NewGuid().ToString("N")[..8];

    private GatewayProcess Gateway => fixture.Gateway;

    private async Task<HttpResponseMessage> PostAsync(string path, object body) =>
        await Gateway.Http.PostAsJsonAsync($"/api/factories/{_factory}/{path}", body);

    private static string Telemetry(long seq, DateTimeOffset ts, string sensor, double value) =>
        string.Create(CultureInfo.InvariantCulture, $$$"""{"seq":{{{seq}}},"ts":"{{{ts:O}}}","values":{"{{{sensor}}}":{{{value}}}}}""");

    private static string Counts(long seq, DateTimeOffset ts, int good) =>
        string.Create(CultureInfo.InvariantCulture, $$"""{"seq":{{seq}},"ts":"{{ts:O}}","good":{{good}},"scrap":0,"workOrder":"WO-G"}""");

    [Fact]
    public async Task The_genealogy_of_a_work_order_lists_its_bins_lots_machines_and_process_summaries()
    {
        // Two lots into one bin: 6 bars of L-100, then 50 of L-200.
        using (var bin = await Gateway.Http.PutAsJsonAsync($"/api/factories/{_factory}/bins/bin-bar", new { sku = "bar-42", reorderPoint = 0, reorderQuantity = 0 }))
        {
            Assert.Equal(HttpStatusCode.OK, bin.StatusCode);
        }

        var received = DateTimeOffset.UtcNow.AddMinutes(-20);
        using (var first = await PostAsync("wms/movements", new { eventId = "rc-100", bin = "bin-bar", kind = "receipt", quantity = 6, lot = "L-100", ts = received }))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        using (var second = await PostAsync("wms/movements", new { eventId = "rc-200", bin = "bin-bar", kind = "receipt", quantity = 50, lot = "L-200", ts = received.AddMinutes(1) }))
        {
            Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        }

        // A lot that is not an id is refused, naming the field.
        using (var bad = await PostAsync("wms/movements", new { eventId = "rc-bad", bin = "bin-bar", kind = "receipt", quantity = 1, lot = "L 1/2" }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            var problem = await bad.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(problem.GetProperty("errors").TryGetProperty("lot", out _), problem.ToString());
        }

        using (var created = await PostAsync("erp/work-orders", new { eventId = "wo", action = "create", workOrder = "WO-G", product = "shaft", quantity = 100, bom = new[] { new { sku = "bar-42", quantityPerUnit = 1, sourceBin = "bin-bar" } } }))
        {
            Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        }

        using (var released = await PostAsync("erp/work-orders", new { eventId = "rel", action = "release", workOrder = "WO-G" }))
        {
            Assert.Equal(HttpStatusCode.OK, released.StatusCode);
        }

        // lathe-a: spindle temperature 70, 72, … 80 (mean 75) while it makes 3 + 2 parts; a reading of 200
        // three minutes before its window must not count. lathe-b: vibration 1.0, 1.2, 1.4, 1.6 (mean 1.3), 4 parts.
        var start = DateTimeOffset.UtcNow.AddMinutes(-10);
        await using var a = await TestDevice.ConnectAsync(Gateway.MqttPort);
        await a.PublishAsync($"factory/{_factory}/machine/lathe-a/telemetry", Telemetry(1, start.AddMinutes(-3), "spindle_temperature", 200));
        for (var i = 0; i < 6; i++)
        {
            await a.PublishAsync($"factory/{_factory}/machine/lathe-a/telemetry", Telemetry(2 + i, start.AddSeconds(10 * i), "spindle_temperature", 70 + (2 * i)));
        }

        // An inspected part of the order on lathe-a, inside its window: listed among the order's parts.
        using (var inspection = await PostAsync("mes/inspections", new { eventId = "insp-g", machine = "lathe-a", ts = start.AddSeconds(50), part = "S-G1", workOrder = "WO-G", measurements = new[] { new { characteristic = "length", value = 100.0, lsl = 99.5, usl = 100.5 } } }))
        {
            Assert.Equal(HttpStatusCode.OK, inspection.StatusCode);
        }

        await a.PublishAsync($"factory/{_factory}/machine/lathe-a/counts", Counts(10, start.AddSeconds(55), 3));
        await a.PublishAsync($"factory/{_factory}/machine/lathe-a/counts", Counts(11, start.AddSeconds(60), 2));

        var b0 = start.AddMinutes(2);
        await using var b = await TestDevice.ConnectAsync(Gateway.MqttPort);
        for (var i = 0; i < 4; i++)
        {
            await b.PublishAsync($"factory/{_factory}/machine/lathe-b/telemetry", Telemetry(1 + i, b0.AddSeconds(10 * i), "vibration", 1.0 + (0.2 * i)));
        }

        await b.PublishAsync($"factory/{_factory}/machine/lathe-b/counts", Counts(10, b0.AddSeconds(40), 4));

        var path = $"/api/factories/{_factory}/work-orders/WO-G/genealogy";
        await Wait.UntilAsync(
            async () => await Gateway.GetJsonAsync(path) is { } g && g.GetProperty("movementsTotal").GetInt64() == 3 && g.GetProperty("parts").GetArrayLength() == 1,
            Deadline,
            "three backflush movements and the inspected part on the order");

        // The history is written in the background: wait until the last readings of both machines are stored.
        await Wait.UntilAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/machines/lathe-a/history?sensor=spindle_temperature&from={Uri.EscapeDataString(start.AddMinutes(-5).ToString("O"))}&to={Uri.EscapeDataString(start.AddMinutes(1).ToString("O"))}") is { } h && h.GetProperty("points").GetArrayLength() == 7
                && await Gateway.GetJsonAsync($"/api/factories/{_factory}/machines/lathe-b/history?sensor=vibration&from={Uri.EscapeDataString(b0.ToString("O"))}&to={Uri.EscapeDataString(b0.AddMinutes(1).ToString("O"))}") is { } hb && hb.GetProperty("points").GetArrayLength() == 4,
            Deadline,
            "the telemetry in the history");

        var genealogy = (await Gateway.GetJsonAsync(path))!.Value;
        output.WriteLine(genealogy.ToString());
        Assert.Equal("WO-G", genealogy.GetProperty("workOrder").GetString());
        Assert.Equal(["bin-bar"], genealogy.GetProperty("bins").EnumerateArray().Select(x => x.GetString()!).ToArray());
        Assert.Equal(["L-100", "L-200"], genealogy.GetProperty("lots").EnumerateArray().Select(x => x.GetString()!).Order(StringComparer.Ordinal).ToArray());

        // 9 good parts take 9 bars: all 6 of the older lot first, then 3 of the newer.
        var materials = genealogy.GetProperty("materials").EnumerateArray().ToDictionary(m => m.GetProperty("lot").GetString()!, m => m);
        Assert.Equal(6m, materials["L-100"].GetProperty("quantity").GetDecimal());
        Assert.Equal(3m, materials["L-200"].GetProperty("quantity").GetDecimal());
        Assert.All(materials.Values, m => Assert.Equal("bar-42", m.GetProperty("sku").GetString()));

        var movements = genealogy.GetProperty("movements").EnumerateArray().ToList();
        // Movement ids are bf:{report}:{sku}, the report naming its machine.
        var ids = movements.Select(m => m.GetProperty("movementId").GetString()!).ToList();
        Assert.Equal(3, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(2, ids.Count(id => id.StartsWith("bf:lathe-a:", StringComparison.Ordinal)));
        Assert.Equal(1, ids.Count(id => id.StartsWith("bf:lathe-b:", StringComparison.Ordinal)));
        Assert.All(ids, id => Assert.EndsWith(":bar-42", id, StringComparison.Ordinal));
        Assert.All(movements, m => Assert.Equal(m.GetProperty("quantity").GetDecimal(), m.GetProperty("lots").EnumerateArray().Sum(l => l.GetProperty("quantity").GetDecimal())));
        Assert.All(movements, m => Assert.Equal("bin-bar", m.GetProperty("bin").GetString()));

        Assert.Equal(["S-G1"], genealogy.GetProperty("parts").EnumerateArray().Select(x => x.GetString()!).ToArray());

        var machines = genealogy.GetProperty("machines").EnumerateArray().ToDictionary(m => m.GetProperty("machine").GetString()!, m => m);
        Assert.Equal(["lathe-a", "lathe-b"], machines.Keys.Order(StringComparer.Ordinal).ToArray());
        var latheA = machines["lathe-a"];
        Assert.Equal(5, latheA.GetProperty("good").GetInt64());
        // The window: Twin:Machine:PartWindow (1 min) before its first parts to its last.
        Assert.InRange(latheA.GetProperty("from").GetDateTimeOffset(), start.AddSeconds(-5).AddMilliseconds(-1), start.AddSeconds(-5).AddMilliseconds(1));
        Assert.InRange(latheA.GetProperty("to").GetDateTimeOffset(), start.AddSeconds(60), start.AddSeconds(61));
        var temperature = latheA.GetProperty("sensors").EnumerateArray().Single(s => s.GetProperty("sensor").GetString() == "spindle_temperature");
        Assert.Equal(6, temperature.GetProperty("count").GetInt32());
        Assert.Equal(75, temperature.GetProperty("mean").GetDouble(), 9);
        Assert.Equal(70, temperature.GetProperty("min").GetDouble(), 9);
        Assert.Equal(80, temperature.GetProperty("max").GetDouble(), 9);
        Assert.Equal(Math.Sqrt(70.0 / 5), temperature.GetProperty("stdDev").GetDouble(), 9);

        var vibration = machines["lathe-b"].GetProperty("sensors").EnumerateArray().Single(s => s.GetProperty("sensor").GetString() == "vibration");
        Assert.Equal(4, vibration.GetProperty("count").GetInt32());
        Assert.Equal(1.3, vibration.GetProperty("mean").GetDouble(), 9);

        // The reverse: the lot lists the order, and the bin it was received into.
        var lot = (await Gateway.GetJsonAsync($"/api/factories/{_factory}/lots/L-200"))!.Value;
        output.WriteLine(lot.ToString());
        var use = Assert.Single(lot.GetProperty("workOrders").EnumerateArray().ToList());
        Assert.Equal(("WO-G", "bin-bar", "bar-42"), (use.GetProperty("workOrder").GetString(), use.GetProperty("bin").GetString(), use.GetProperty("sku").GetString()));
        Assert.Equal("rc-200", Assert.Single(lot.GetProperty("receipts").EnumerateArray().ToList()).GetProperty("movementId").GetString());

        using var unknownOrder = await Gateway.Http.GetAsync($"/api/factories/{_factory}/work-orders/WO-none/genealogy");
        Assert.Equal(HttpStatusCode.NotFound, unknownOrder.StatusCode);
        using var unknownLot = await Gateway.Http.GetAsync($"/api/factories/{_factory}/lots/L-none");
        Assert.Equal(HttpStatusCode.NotFound, unknownLot.StatusCode);
        using var badLot = await Gateway.Http.GetAsync($"/api/factories/{_factory}/lots/..x");
        Assert.Equal(HttpStatusCode.BadRequest, badLot.StatusCode);
    }

    [Fact]
    public async Task The_dashboard_shows_the_genealogy_of_a_work_order_as_text()
    {
        // Lots are ids (no markup can get in); a SKU and a product are free text, so they carry the markup here.
        const string sku = "<img src=x onerror=alert(1)>";
        using (var bin = await Gateway.Http.PutAsJsonAsync($"/api/factories/{_factory}/bins/bin-d", new { sku, reorderPoint = 0, reorderQuantity = 0 }))
        {
            Assert.Equal(HttpStatusCode.OK, bin.StatusCode);
        }

        using (var receipt = await PostAsync("wms/movements", new { eventId = "rc-d", bin = "bin-d", kind = "receipt", quantity = 100, lot = "L-D1" }))
        {
            Assert.Equal(HttpStatusCode.OK, receipt.StatusCode);
        }

        using (var created = await PostAsync("erp/work-orders", new { eventId = "wo-d", action = "create", workOrder = "WO-D", product = "<b>shaft</b>", quantity = 50, bom = new[] { new { sku, quantityPerUnit = 2, sourceBin = "bin-d" } } }))
        {
            Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        }

        using (var released = await PostAsync("erp/work-orders", new { eventId = "rel-d", action = "release", workOrder = "WO-D" }))
        {
            Assert.Equal(HttpStatusCode.OK, released.StatusCode);
        }

        var start = DateTimeOffset.UtcNow.AddMinutes(-5);
        await using var device = await TestDevice.ConnectAsync(Gateway.MqttPort);
        for (var i = 0; i < 3; i++)
        {
            await device.PublishAsync($"factory/{_factory}/machine/mill-d/telemetry", Telemetry(1 + i, start.AddSeconds(10 * i), "spindle_temperature", 60 + i));
        }

        await device.PublishAsync($"factory/{_factory}/machine/mill-d/counts", Counts(10, start.AddSeconds(30), 3).Replace("WO-G", "WO-D", StringComparison.Ordinal));
        await Wait.UntilAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/work-orders/WO-D/genealogy") is { } g && g.GetProperty("movementsTotal").GetInt64() == 1
                && g.GetProperty("machines")[0].GetProperty("sensors").GetArrayLength() == 1,
            Deadline,
            "the order's genealogy with its machine's readings");

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = DashboardTests.Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 1000 } });
        var violations = new List<string>();
        var dialogs = 0;
        page.Console += (_, message) =>
        {
            if (message.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase))
            {
                violations.Add(message.Text);
            }
        };
        page.Dialog += (_, dialog) => dialogs++;
        await page.GotoAsync(Gateway.Http.BaseAddress!.ToString());
        await page.WaitForSelectorAsync("#tile-press-1[data-version]", new PageWaitForSelectorOptions { Timeout = 15_000 });
        await page.FillAsync("#factory", _factory);
        await page.DispatchEventAsync("#factory", "change");

        await page.WaitForSelectorAsync("#genealogy-orders tr[data-order='WO-D']", new PageWaitForSelectorOptions { Timeout = 20_000 });
        // Clicked once every panel has loaded: none grows above the row and moves it mid-click.
        await page.WaitForSelectorAsync($"body[data-loaded='{_factory}']", new PageWaitForSelectorOptions { State = WaitForSelectorState.Attached, Timeout = 20_000 });
        await page.ClickAsync("#genealogy-orders tr[data-order='WO-D']");
        var material = page.Locator("#genealogy-view[data-order='WO-D'] #genealogy-materials tr[data-lot='L-D1']");
        await material.WaitForAsync(new LocatorWaitForOptions { Timeout = 20_000 });
        Assert.Equal(["bin-d", sku, "L-D1", "6", "1"], await material.Locator("td").AllTextContentsAsync());
        Assert.Contains("<b>shaft</b>", await page.Locator("#genealogy-title").TextContentAsync(), StringComparison.Ordinal);
        Assert.Equal(0, await page.Locator("#genealogy img, #genealogy b").CountAsync());

        var sensor = page.Locator("#genealogy-machines tr.sensor[data-machine='mill-d'][data-sensor='spindle_temperature']");
        await sensor.WaitForAsync(new LocatorWaitForOptions { Timeout = 20_000 });
        Assert.Equal("61.00", await sensor.Locator("td.mean").TextContentAsync());
        Assert.Equal(1, await page.Locator("#genealogy-machines tr.machine[data-machine='mill-d']").CountAsync());
        Assert.Empty(violations);
        Assert.Equal(0, dialogs);

        var screenshot = Path.Combine(Repository.Root, "artifacts", "genealogy.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
        await page.Locator("#genealogy").ScreenshotAsync(new LocatorScreenshotOptions { Path = screenshot });
        output.WriteLine($"screenshot: {screenshot}");
    }
}
