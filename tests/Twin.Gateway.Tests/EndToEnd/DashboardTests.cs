using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Microsoft.Playwright;
using Twin.Testing;
using Xunit.Abstractions;

namespace Twin.Gateway.Tests.EndToEnd;

/// <summary>The dashboard in a real browser (Debian's chromium driven by Playwright) against the embedded default.</summary>
public class DashboardTests(EmbeddedGatewayFixture fixture, ITestOutputHelper output) : IClassFixture<EmbeddedGatewayFixture>
{
    public static string Chromium =>
        new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists)
        ?? throw new FileNotFoundException("chromium is not installed (./test.sh installs it: apt-get install chromium).");

    [Fact]
    public async Task The_dashboard_shows_the_machines_and_a_tile_turns_to_alarm_within_two_seconds()
    {
        var gateway = fixture.Gateway;
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PutAsJsonAsync("/api/factories/demo/machines/m-alarm", new { sensors = new { temperature = new { high = 90 } } })).StatusCode);
        await using var device = await TestDevice.ConnectAsync(gateway.MqttPort);
        await device.PublishAsync("factory/demo/machine/m-alarm/telemetry", $"{{\"seq\":1,\"ts\":\"{TestDevice.Now()}\",\"values\":{{\"temperature\":60}}}}");

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        await page.GotoAsync(gateway.Http.BaseAddress!.ToString());

        await page.WaitForSelectorAsync("#tile-press-1[data-version]", new PageWaitForSelectorOptions { Timeout = 15_000 });
        await page.WaitForSelectorAsync("#tile-m-alarm[data-version]", new PageWaitForSelectorOptions { Timeout = 15_000 });
        Assert.True(await page.Locator(".tile").CountAsync() >= 9);
        Assert.Equal("live", await page.Locator("#connection").TextContentAsync());
        Assert.DoesNotContain("alarm", await page.Locator("#tile-m-alarm").GetAttributeAsync("class") ?? "", StringComparison.Ordinal);

        var clock = Stopwatch.StartNew();
        await device.PublishAsync("factory/demo/machine/m-alarm/telemetry", $"{{\"seq\":2,\"ts\":\"{TestDevice.Now(1)}\",\"values\":{{\"temperature\":150}}}}");
        await page.WaitForSelectorAsync("#tile-m-alarm.alarm", new PageWaitForSelectorOptions { Timeout = 2_000 });
        output.WriteLine($"tile in alarm {clock.ElapsedMilliseconds} ms after publishing");
        Assert.Contains("150", await page.Locator("#tile-m-alarm").TextContentAsync(), StringComparison.Ordinal);

        // The KPI strip and each line's OEE with its bottleneck (outlined on its tile). A bottleneck
        // needs 30 s of observed status time on a machine, counted in the simulator's event time,
        // and the page polls every 5 s: on a loaded machine that has taken over a minute.
        await page.WaitForSelectorAsync(".tile.bottleneck", new PageWaitForSelectorOptions { Timeout = 150_000 });
        Assert.Contains("OEE", await page.Locator("#kpis").TextContentAsync(), StringComparison.Ordinal);
        Assert.Contains("bottleneck", await page.Locator(".line .perf").First.TextContentAsync(), StringComparison.Ordinal);

        var screenshot = Path.Combine(Repository.Root, "artifacts", "dashboard.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
        output.WriteLine($"screenshot: {screenshot}");
        Assert.True(new FileInfo(screenshot).Length > 10_000);
    }

    [Fact]
    public async Task The_schedule_shows_a_gantt_chart_per_line_with_late_orders_highlighted()
    {
        var gateway = fixture.Gateway;
        const string f = "/api/factories/demo";
        var routing = new
        {
            steps = new object[]
            {
                new { operation = "10", machines = new[] { "g-saw" }, runPerPart = "00:01:00" },
                new { operation = "20", machines = new[] { "g-weld" }, setup = "00:05:00", runPerPart = "00:02:00" },
            },
        };
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PutAsJsonAsync($"{f}/routings/gantt-frame", routing)).StatusCode);
        var orders = new[] { ("G-LATE", DateTimeOffset.UtcNow.AddMinutes(-30)), ("G-OK", DateTimeOffset.UtcNow.AddDays(3)) };
        foreach (var (order, due) in orders)
        {
            var created = await gateway.Http.PostAsJsonAsync($"{f}/erp/work-orders", new { eventId = $"gantt-{order}", action = "create", workOrder = order, product = "gantt-frame", quantity = 10, due, line = "g-line" });
            Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        }

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        var violations = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase))
            {
                violations.Add(message.Text);
            }
        };
        await page.GotoAsync(gateway.Http.BaseAddress!.ToString());

        // Live on the schedule topic: the bars arrive with the plan, whenever it is made.
        await page.WaitForSelectorAsync("#gantt .gantt-line[data-line='g-line'] .bar[data-order='G-OK']", new PageWaitForSelectorOptions { Timeout = 30_000 });
        var line = page.Locator("#gantt .gantt-line[data-line='g-line']");
        Assert.Equal(2, await line.Locator(".gantt-row").CountAsync());
        Assert.Equal(["g-saw", "g-weld"], await line.Locator(".gantt-row .machine").AllTextContentsAsync());
        Assert.Equal(4, await line.Locator(".bar").CountAsync());
        Assert.Equal(2, await line.Locator(".bar.late[data-order='G-LATE']").CountAsync());
        Assert.Equal(0, await line.Locator(".bar.late[data-order='G-OK']").CountAsync());

        // Bars sit at their times: the weld of an order starts after its saw. The demo re-plans
        // (and the page re-renders) at any moment, so both boxes are read in one script turn.
        var boxes = await page.WaitForFunctionAsync(
            """
            () => {
              const box = (machine) => document.querySelector(`#gantt .gantt-line[data-line='g-line'] .gantt-row[data-machine='${machine}'] .bar[data-order='G-OK']`)?.getBoundingClientRect();
              const saw = box("g-saw"), weld = box("g-weld");
              return saw && weld && saw.width > 0 ? { sawEnd: saw.x + saw.width, weld: weld.x } : null;
            }
            """,
            null,
            new PageWaitForFunctionOptions { Timeout = 10_000 });
        var sawEnd = await boxes.EvaluateAsync<double>("b => b.sawEnd");
        var weldStart = await boxes.EvaluateAsync<double>("b => b.weld");
        Assert.True(weldStart >= sawEnd - 1, $"weld at {weldStart}, saw ends at {sawEnd}");

        // Projected completion per order, the late one flagged.
        var late = page.Locator("#promises tr.late[data-order='G-LATE']");
        Assert.Contains("min late", await late.TextContentAsync(), StringComparison.Ordinal);
        Assert.Contains("min early", await page.Locator("#promises tr[data-order='G-OK']").TextContentAsync(), StringComparison.Ordinal);
        Assert.Empty(violations);

        var screenshot = Path.Combine(Repository.Root, "artifacts", "schedule.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
        await page.Locator("#schedule").ScreenshotAsync(new LocatorScreenshotOptions { Path = screenshot });
        output.WriteLine($"screenshot: {screenshot}");
    }
}
