using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.Playwright;
using Twin.Gateway.Tests.EndToEnd;
using Twin.Testing;

namespace Twin.Gateway.Tests.History;

/// <summary>The machine page charts longer ranges from the history, in a real browser (Debian's chromium).</summary>
public sealed class HistoryDashboardTests(HistoryGatewayFixture fixture) : IClassFixture<HistoryGatewayFixture>
{
    [Fact]
    public async Task Choosing_24_hours_charts_the_machines_history_in_15_minute_buckets()
    {
        var gateway = fixture.Gateway;
        var factory = "dash-" + Guid.NewGuid().ToString("N")[..8];
        var now = DateTimeOffset.UtcNow;
        var times = Enumerable.Range(1, 20 * 60).Select(m => now.AddMinutes(-m)).OrderBy(t => t).ToList();
        var payloads = times.Select((t, i) => string.Create(CultureInfo.InvariantCulture,
            $"{{\"seq\":{i + 1},\"ts\":\"{t:O}\",\"values\":{{\"temperature\":{60 + (i % 10)},\"vibration\":{i % 3}}}}}"));
        using (var response = await gateway.Http.PostAsync($"/api/factories/{factory}/machines/oven-1/telemetry", new StringContent("[" + string.Join(",", payloads) + "]", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var buckets = times.Select(t => t.ToUnixTimeSeconds() / 900).Distinct().Count();
        await Wait.UntilAsync(
            async () => await gateway.GetJsonAsync($"/api/factories/{factory}/machines/oven-1/history?sensor=vibration&from={Uri.EscapeDataString(times[0].ToString("O", CultureInfo.InvariantCulture))}&to={Uri.EscapeDataString(now.ToString("O", CultureInfo.InvariantCulture))}&step=15m") is { } h
                && h.GetProperty("buckets").EnumerateArray().Sum(b => b.GetProperty("count").GetInt64()) == times.Count,
            TimeSpan.FromSeconds(20),
            "the backfill in the history");

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = DashboardTests.Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        await page.GotoAsync(gateway.Http.BaseAddress!.ToString());
        await page.WaitForSelectorAsync("#connection.live", new PageWaitForSelectorOptions { Timeout = 15_000 });
        await page.FillAsync("#factory", factory);
        await page.DispatchEventAsync("#factory", "change");
        await page.WaitForSelectorAsync($"body[data-loaded='{factory}']", new PageWaitForSelectorOptions { State = WaitForSelectorState.Attached, Timeout = 20_000 });
        // Pressed as long as a person does: the press takes focus from the factory field, whose
        // second "change" must not rebuild the overview under the pointer before the release.
        await page.ClickAsync("#tile-oven-1[data-version]", new PageClickOptions { Timeout = 15_000, Delay = 300 });
        await page.WaitForSelectorAsync("#chart[data-range='live']", new PageWaitForSelectorOptions { Timeout = 10_000 });

        await page.SelectOptionAsync("#range", "24h");
        await page.WaitForSelectorAsync("#chart[data-range='24h'][data-points]", new PageWaitForSelectorOptions { Timeout = 10_000 });
        Assert.Equal(buckets.ToString(CultureInfo.InvariantCulture), await page.GetAttributeAsync("#chart", "data-points"));

        // Temperature (60–69) and vibration (0–2) each on their own scale: each is drawn with its own axis, beside time's.
        Assert.Equal(3, await page.Locator("#chart .u-axis").CountAsync());

        var screenshot = Path.Combine(Repository.Root, "artifacts", "dashboard-history.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });

        await page.SelectOptionAsync("#range", "live");
        await page.WaitForSelectorAsync("#chart[data-range='live']:not([data-points])", new PageWaitForSelectorOptions { Timeout = 10_000 });
    }
}
