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
}
