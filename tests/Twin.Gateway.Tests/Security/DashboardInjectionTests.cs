using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using Twin.Gateway.Tests.EndToEnd;
using Twin.Testing;
using Xunit.Abstractions;

namespace Twin.Gateway.Tests.Security;

/// <summary>
/// Markup stored in every field a user controls and the dashboard shows, rendered in a real
/// browser: nothing of it may run, and it must appear as text. The page's Content-Security-Policy
/// is checked on its own too (an inline script injected into the page does not run).
/// </summary>
public sealed class DashboardInjectionTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Factory = "xss";
    private readonly TempDirectory _temp = new();
    private GatewayProcess _gateway = null!;

    /// <summary>A payload per field (short enough for a 64-character SKU): sets a flag of its own if it ever runs.</summary>
    private static string Attack(string field) => $"<img src=x onerror=__pwned=['{field}']><b>{field}</b>";

    /// <summary>More ways in, for the fields that take 200 characters and more.</summary>
    private static string Long(string field) =>
        Attack(field) + $"<script>__pwned=['{field}-s']</script><svg onload=__pwned=['{field}-v']></svg>\"'><iframe srcdoc=x>";

    public async Task InitializeAsync()
    {
        _gateway = new GatewayProcess(_temp.Sub("data"));
        await _gateway.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        _temp.Dispose();
    }

    [Fact]
    public async Task Markup_in_every_user_controlled_field_is_shown_as_text_and_never_runs()
    {
        var http = _gateway.Http;
        var stored = new Dictionary<string, HttpStatusCode>();
        async Task StoreAsync(string field, Task<HttpResponseMessage> call)
        {
            using var response = await call;
            stored[field] = response.StatusCode;
        }

        var now = DateTimeOffset.UtcNow;
        await StoreAsync("machine name", http.PutAsJsonAsync($"/api/factories/{Factory}/machines/m-x", new { name = Long("machine"), sensors = new { temperature = new { high = 50 } } }));
        await StoreAsync("line name", http.PutAsJsonAsync($"/api/factories/{Factory}/lines/l-x", new { name = Long("line"), machines = new[] { "m-x" } }));
        await StoreAsync("unit", http.PostAsJsonAsync($"/api/factories/{Factory}/machines/m-x/telemetry", new { seq = 1, ts = now.AddSeconds(-2), values = new Dictionary<string, double> { ["temperature"] = 20, ["torque"] = 3 }, units = new Dictionary<string, string> { ["torque"] = Attack("unit") } }));
        await StoreAsync("sensor name", http.PostAsJsonAsync($"/api/factories/{Factory}/machines/m-x/telemetry", new { seq = 2, ts = now.AddSeconds(-1), values = new Dictionary<string, double> { [Attack("sensor")] = 1 } }));
        await StoreAsync("limit breach", http.PostAsJsonAsync($"/api/factories/{Factory}/machines/m-x/telemetry", new { seq = 3, ts = now, values = new { temperature = 80 } }));
        await StoreAsync("bin sku", http.PutAsJsonAsync($"/api/factories/{Factory}/bins/b-x", new { sku = Attack("sku"), reorderPoint = 10, reorderQuantity = 100, location = Long("location") }));
        await StoreAsync("movement", http.PostAsJsonAsync($"/api/factories/{Factory}/wms/movements", new { eventId = "mv-1", bin = "b-x", kind = "receipt", quantity = 5, reference = Long("reference") }));
        await StoreAsync("work order id", http.PostAsJsonAsync($"/api/factories/{Factory}/erp/work-orders", new { eventId = "wo-bad", action = "create", workOrder = Attack("wo"), product = "p", quantity = 1, due = now.AddDays(-1) }));
        await StoreAsync("work order product", http.PostAsJsonAsync($"/api/factories/{Factory}/erp/work-orders", new { eventId = "wo-1", action = "create", workOrder = "wo-late", product = Attack("product"), quantity = 1, due = now.AddDays(-1), line = "l-x" }));
        await StoreAsync("dead-letter payload", http.PostAsync($"/api/factories/{Factory}/machines/m-x/telemetry", new StringContent(Long("payload"), System.Text.Encoding.UTF8, "application/json")));

        // Dead letter topics come from MQTT: a topic under the factory that is no contract topic.
        await using (var device = await TestDevice.ConnectAsync(_gateway.MqttPort))
        {
            await device.PublishAsync($"factory/{Factory}/machine/m-x/{Attack("topic").Replace("/", "|", StringComparison.Ordinal).Replace("#", "", StringComparison.Ordinal).Replace("+", "", StringComparison.Ordinal)}", Long("mqtt-payload"));
        }

        foreach (var (field, status) in stored)
        {
            output.WriteLine($"{field}: {(int)status}");
        }

        // A ticket for the limit breach, acknowledged with a note.
        var ticketId = await Wait.ForAsync<string>(
            async () =>
            {
                var tickets = await http.GetFromJsonAsync<JsonElement>($"/api/factories/{Factory}/tickets?status=open-any");
                return tickets.GetProperty("items").EnumerateArray().Select(t => t.GetProperty("id").GetString()).FirstOrDefault();
            },
            TimeSpan.FromSeconds(15),
            "a ticket for the limit breach");
        await StoreAsync("ticket note", http.PostAsJsonAsync($"/api/factories/{Factory}/tickets/{ticketId}/acknowledge", new { by = Attack("by"), note = Long("note") }));
        await Wait.UntilAsync(
            async () => (await http.GetFromJsonAsync<JsonElement>($"/api/factories/{Factory}/dead-letters")).GetProperty("items").GetArrayLength() >= 2,
            TimeSpan.FromSeconds(15),
            "the dead letters stored");
        output.WriteLine($"ticket note: {(int)stored["ticket note"]}");

        foreach (var field in new[] { "machine name", "line name", "bin sku", "ticket note", "dead-letter payload", "work order product" })
        {
            Assert.True(stored[field] is HttpStatusCode.OK or HttpStatusCode.Accepted or HttpStatusCode.Created or HttpStatusCode.BadRequest, $"{field}: {stored[field]}");
        }

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = DashboardTests.Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        var page = await browser.NewPageAsync();
        var dialogs = new List<string>();
        page.Dialog += (_, dialog) =>
        {
            dialogs.Add(dialog.Message);
            _ = dialog.DismissAsync();
        };
        var consoleErrors = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                consoleErrors.Add(message.Text);
            }
        };
        await page.AddInitScriptAsync("document.addEventListener('securitypolicyviolation', e => (window.__csp = window.__csp || []).push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || '')));");

        // The token given in the address is taken and removed from it at once.
        var response = await page.GotoAsync(_gateway.Http.BaseAddress + "?token=secret-token-value#x=1");
        Assert.NotNull(response);
        var csp = await response.HeaderValueAsync("content-security-policy");
        Assert.NotNull(csp);
        Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-eval", csp, StringComparison.Ordinal);
        Assert.Equal("nosniff", await response.HeaderValueAsync("x-content-type-options"));
        Assert.Equal("no-referrer", await response.HeaderValueAsync("referrer-policy"));
        await page.WaitForSelectorAsync("#connection.live", new PageWaitForSelectorOptions { Timeout = 15_000 });
        Assert.DoesNotContain("secret-token-value", page.Url, StringComparison.Ordinal);

        // Leaving the field fires its one change event (a click elsewhere later would fire another).
        await page.FillAsync("#factory", Factory);
        await page.Locator("#factory").BlurAsync();
        await page.WaitForSelectorAsync("#tile-m-x[data-version]", new PageWaitForSelectorOptions { Timeout = 15_000 });
        await page.ClickAsync("#tile-m-x");
        await page.WaitForFunctionAsync(
            // (Clicking the tile blurs the factory field; the page does not reload the factory it shows, but the tile is awaited again all the same.)
            "() => document.querySelector('#tile-m-x[data-version]')?.textContent.includes('<b>machine</b>') && document.querySelectorAll('#tickets tr').length > 1 && document.querySelectorAll('#dead-letters tr').length > 2 && document.querySelectorAll('#purchases tr').length > 1 && document.querySelectorAll('#detail-sensors tr').length > 1 && document.querySelector('#late-orders')",
            null,
            new PageWaitForFunctionOptions { Timeout = 30_000 });

        var text = await page.InnerTextAsync("body");
        foreach (var field in new[] { "machine", "line", "sku", "note", "payload", "mqtt-payload" })
        {
            Assert.True(text.Contains($"<b>{field}</b>", StringComparison.Ordinal), $"'<b>{field}</b>' not shown as text in:\n{text}");
        }

        Assert.Contains("onerror=", text, StringComparison.Ordinal);
        var pwned = await page.EvaluateAsync<string?>("() => window.__pwned ? JSON.stringify(window.__pwned) : null");
        Assert.Null(pwned);
        Assert.Empty(dialogs);
        Assert.Equal(0, await page.EvaluateAsync<int>("() => document.querySelectorAll('main img, main svg, main script, main b b').length"));

        // Nothing was even tried: the markup was never parsed, so the policy had nothing to refuse.
        var violations = await page.EvaluateAsync<string[]?>("() => window.__csp ?? null");
        Assert.True(violations is null, "CSP violations: " + string.Join("; ", violations ?? []));

        // And the policy holds on its own: an inline script put into the page does not run.
        await page.EvaluateAsync("() => { const s = document.createElement('script'); s.textContent = 'window.__inline = 1'; document.body.append(s); }");
        await page.WaitForFunctionAsync("() => (window.__csp ?? []).length > 0", null, new PageWaitForFunctionOptions { Timeout = 5_000 });
        Assert.Null(await page.EvaluateAsync<int?>("() => window.__inline ?? null"));
        Assert.DoesNotContain(consoleErrors, e => e.Contains("Refused to apply", StringComparison.Ordinal));
    }
}
