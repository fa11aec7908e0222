using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Playwright;
using Twin.Testing;
using Xunit.Abstractions;

namespace Twin.Gateway.Tests.EndToEnd;

/// <summary>Inspection data through the running gateway: SPC and its quality tickets, MES inspections, quality KPIs, root-cause ranking, the dashboard.</summary>
public class QualityTests(EmbeddedGatewayFixture fixture, ITestOutputHelper output) : IClassFixture<EmbeddedGatewayFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(40);
    private readonly string _factory = "q-" + Guid.NewGuid().ToString("N")[..8];

    private GatewayProcess Gateway => fixture.Gateway;

    private static string Quality(long seq, DateTimeOffset ts, double diameter, string part) => string.Create(
        CultureInfo.InvariantCulture,
        $$"""{"seq":{{seq}},"ts":"{{ts:O}}","part":"{{part}}","workOrder":"WO-Q","measurements":[{"characteristic":"diameter","value":{{diameter}},"lsl":39.95,"usl":40.05,"nominal":40,"unit":"mm"}]}""");

    [Fact]
    public async Task A_drifting_characteristic_trips_a_nelson_rule_and_opens_exactly_one_quality_ticket()
    {
        // Baseline of 25 individuals alternating 39.99 / 40.01 (13 and 12 of them): centre 999.99/25 = 39.9996,
        // MR̄ 0.02, σ = 0.02/1.128 = 0.0177.
        // Then the process drifts up: 40.009, 40.009, 40.021 (0.5, 0.5 and 1.2 σ above) over and over, so
        // every point is above the centre (rule 2 after nine) and no other rule fires: no point beyond
        // 2σ, never 4 of 5 beyond 1σ, no trend or alternation, never 15 within 1σ.
        await using var device = await TestDevice.ConnectAsync(Gateway.MqttPort);
        var topic = $"factory/{_factory}/machine/cnc-2/quality";
        var start = DateTimeOffset.UtcNow.AddMinutes(-30);
        var values = new List<double>();
        values.AddRange(Enumerable.Range(0, 25).Select(i => i % 2 == 0 ? 39.99 : 40.01));
        double[] drift = [40.009, 40.009, 40.021];
        values.AddRange(Enumerable.Range(0, 12).Select(i => drift[i % 3]));
        values.Add(39.995); // the run breaks: the signal is over
        values.AddRange(Enumerable.Range(0, 9).Select(i => drift[i % 3])); // and starts again
        for (var i = 0; i < values.Count; i++)
        {
            await device.PublishAsync(topic, Quality(i + 1, start.AddSeconds(10 * i), values[i], $"S-{i + 1}"));
        }

        // A repeat of a message is applied once.
        await device.PublishAsync(topic, Quality(30, start.AddSeconds(290), values[29], "S-30"));

        var chart = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/machines/cnc-2/characteristics/diameter") is { } c && c.GetProperty("readings").GetInt64() == values.Count ? c : (JsonElement?)null,
            Deadline,
            "the chart took every reading");
        Assert.Equal("monitoring", chart.GetProperty("phase").GetString());
        var limits = chart.GetProperty("limits");
        Assert.Equal(39.9996, limits.GetProperty("center").GetDouble(), 6);
        Assert.Equal(0.02, limits.GetProperty("rangeCenter").GetDouble(), 6);
        Assert.Equal(39.9996 + (3 * 0.02 / 1.128), limits.GetProperty("upper").GetDouble(), 6);
        Assert.Equal(["nelson2"], chart.GetProperty("firingRules").EnumerateArray().Select(r => r.GetString()!).ToArray());
        var flagged = chart.GetProperty("points").EnumerateArray().Where(p => p.GetProperty("rules").GetInt32() != 0).ToList();
        Assert.All(flagged, p => Assert.Equal(1 << 1, p.GetProperty("rules").GetInt32()));
        Assert.Equal(4 + 1, flagged.Count); // points 9–12 of the first run, the 9th of the second

        // Two signals of the same rule on the same characteristic: one ticket, the second signal its evidence.
        var tickets = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/tickets") is { } t && t.GetProperty("total").GetInt32() > 0
                && t.GetProperty("items")[0].GetProperty("evidenceCount").GetInt64() == 2 ? t : (JsonElement?)null,
            Deadline,
            "a quality ticket with both signals");
        Assert.Equal(1, tickets.GetProperty("total").GetInt32());
        var ticket = tickets.GetProperty("items")[0];
        Assert.Equal("cnc-2.diameter.Nelson2.1", ticket.GetProperty("id").GetString());
        Assert.Equal("nelson2", ticket.GetProperty("kind").GetString());
        Assert.Equal("diameter", ticket.GetProperty("characteristic").GetString());
        Assert.Equal("cnc-2", ticket.GetProperty("machine").GetString());
        Assert.Contains("nine points in a row", ticket.GetProperty("evidence")[0].GetProperty("note").GetString(), StringComparison.Ordinal);

        // The ticket runs the desks' lifecycle; SPC signals are not machine failures (no MTBF).
        Assert.Equal(HttpStatusCode.OK, (await Gateway.Http.PostAsJsonAsync($"/api/factories/{_factory}/tickets/cnc-2.diameter.Nelson2.1/acknowledge", new { by = "qe" })).StatusCode);
        var reliability = (await Gateway.GetJsonAsync($"/api/factories/{_factory}/machines/cnc-2/reliability"))!.Value;
        Assert.Equal(0, reliability.GetProperty("tickets").GetInt32());
        await Wait.UntilAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/kpis") is { } k && k.GetProperty("openTickets").GetInt32() == 1,
            Deadline,
            "the quality ticket among the open tickets");

        // Re-baselining forgets the limits: phase I again from the next points.
        var rebaselined = await Gateway.Http.PostAsJsonAsync($"/api/factories/{_factory}/machines/cnc-2/characteristics/diameter/baseline", new { subgroupSize = 3, baselineSubgroups = 10, by = "qe" });
        Assert.Equal(HttpStatusCode.OK, rebaselined.StatusCode);
        var again = await rebaselined.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("learning", again.GetProperty("phase").GetString());
        Assert.Equal(3, again.GetProperty("subgroupSize").GetInt32());
        Assert.Equal(JsonValueKind.Null, again.GetProperty("limits").ValueKind);
        var bad = await Gateway.Http.PostAsJsonAsync($"/api/factories/{_factory}/machines/cnc-2/characteristics/diameter/baseline", new { subgroupSize = 11, baselineSubgroups = 10 });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);

        // A cut-off in the future would keep every coming measurement off the chart: refused. Nothing to re-baseline: 404.
        var future = await Gateway.Http.PostAsJsonAsync($"/api/factories/{_factory}/machines/cnc-2/characteristics/diameter/baseline", new { from = new DateTimeOffset(9999, 12, 31, 0, 0, 0, TimeSpan.Zero), by = "mallory" });
        Assert.Equal(HttpStatusCode.BadRequest, future.StatusCode);
        Assert.StartsWith("ts.future:", (await future.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").GetProperty("from")[0].GetString(), StringComparison.Ordinal);
        var nothing = await Gateway.Http.PostAsJsonAsync($"/api/factories/{_factory}/machines/cnc-2/characteristics/never-measured/baseline", new { by = "qe" });
        Assert.Equal(HttpStatusCode.NotFound, nothing.StatusCode);

        var list = (await Gateway.GetJsonAsync($"/api/factories/{_factory}/quality/characteristics"))!.Value;
        Assert.Equal("cnc-2/diameter", list.GetProperty("items")[0].GetProperty("id").GetString());
    }

    [Fact]
    public async Task Bad_quality_messages_become_dead_letters_with_their_reason_and_the_rest_is_taken()
    {
        await using var device = await TestDevice.ConnectAsync(Gateway.MqttPort);
        var topic = $"factory/{_factory}/machine/gauge-1/quality";
        var ts = DateTimeOffset.UtcNow.AddMinutes(-1);
        await device.PublishAsync(topic, $$"""{"seq":1,"ts":"{{ts:O}}","measurements":[{"characteristic":"bore","value":10.1,"lsl":10.2,"usl":10.0}]}""");
        await device.PublishAsync(topic, $$"""{"seq":2,"ts":"{{ts:O}}","measurements":[{"characteristic":"bo.re","value":10.1}]}""");
        await device.PublishAsync(topic, $$"""{"seq":3,"ts":"{{ts:O}}","part":"P-3"}""");
        await device.PublishAsync(topic, $$"""{"seq":4,"ts":"{{ts:O}}","part":"P-4","measurements":[{"characteristic":"bore","value":10.1,"lsl":10.0,"usl":10.2}]}""");

        var letters = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/dead-letters") is { } d && d.GetProperty("total").GetInt32() >= 3 ? d : (JsonElement?)null,
            Deadline,
            "three dead letters");
        var reasons = letters.GetProperty("items").EnumerateArray().Select(l => l.GetProperty("reason").GetString()!).ToList();
        Assert.Contains(reasons, r => r.StartsWith("measurements.spec:", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.StartsWith("measurements.characteristic:", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.StartsWith("quality.empty:", StringComparison.Ordinal));
        await Wait.UntilAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/machines/gauge-1/characteristics/bore") is { } c && c.GetProperty("readings").GetInt64() == 1,
            Deadline,
            "the good message reached its chart");
    }

    private async Task<HttpResponseMessage> PostInspectionAsync(object body) =>
        await Gateway.Http.PostAsJsonAsync($"/api/factories/{_factory}/mes/inspections", body);

    [Fact]
    public async Task Mes_inspections_apply_once_per_event_id_and_feed_first_pass_yield_and_the_pareto()
    {
        var ts = DateTimeOffset.UtcNow.AddMinutes(-10);

        // Ten parts on press-1: two burrs, one scratch, one outside its limits; a reworked part passes on re-inspection.
        var defects = new Dictionary<int, string> { [2] = "burr", [5] = "burr", [7] = "scratch" };
        for (var i = 1; i <= 10; i++)
        {
            var value = i == 9 ? 12.5 : 12.0;
            var response = await PostInspectionAsync(new
            {
                eventId = $"insp-{i}",
                machine = "press-1",
                ts = ts.AddSeconds(i),
                part = $"P-{i}",
                workOrder = "WO-7",
                measurements = new[] { new { characteristic = "height", value, lsl = 11.8, usl = 12.2 } },
                defect = defects.GetValueOrDefault(i),
            });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var reworked = await PostInspectionAsync(new { eventId = "insp-9b", machine = "press-1", ts = ts.AddSeconds(30), part = "P-9", reinspection = true, measurements = new[] { new { characteristic = "height", value = 12.0, lsl = 11.8, usl = 12.2 } } });
        Assert.Equal(HttpStatusCode.OK, reworked.StatusCode);

        // Once per event id: the replay answers the first outcome and counts nothing twice.
        var replay = await PostInspectionAsync(new { eventId = "insp-9b", machine = "press-1", ts = ts.AddSeconds(30), part = "P-9", reinspection = true, measurements = new[] { new { characteristic = "height", value = 12.0, lsl = 11.8, usl = 12.2 } } });
        Assert.True((await replay.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("replay").GetBoolean());
        var reused = await PostInspectionAsync(new { eventId = "insp-9b", machine = "press-1", ts = ts.AddSeconds(31), part = "P-9", defect = "dent" });
        Assert.Equal(HttpStatusCode.Conflict, reused.StatusCode);

        // Invalid: 400 with every field error, kept as a dead letter.
        var invalid = await PostInspectionAsync(new { eventId = "insp-bad", machine = "press 1", measurements = new[] { new { characteristic = "height", value = 12.0, lsl = 12.2, usl = 11.8 } } });
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        var problem = await invalid.Content.ReadFromJsonAsync<JsonElement>();
        var fields = problem.GetProperty("errors").EnumerateObject().Select(e => e.Name).ToList();
        Assert.Contains("machine", fields);
        Assert.Contains("ts", fields);
        Assert.Contains("measurements[0]", fields);

        // An inspection from the far future is refused like one on the quality topic: taken, it would
        // become the machine's "now" and push every real inspection out of the 24 h KPI window.
        var future = await PostInspectionAsync(new { eventId = "insp-2099", machine = "press-1", ts = new DateTimeOffset(2099, 1, 1, 0, 0, 0, TimeSpan.Zero), part = "P-99", measurements = new[] { new { characteristic = "height", value = 12.0, lsl = 11.8, usl = 12.2 } } });
        Assert.Equal(HttpStatusCode.BadRequest, future.StatusCode);
        var futureTs = (await future.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").GetProperty("ts")[0].GetString()!;
        Assert.StartsWith("ts.future:", futureTs, StringComparison.Ordinal);
        await Wait.UntilAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/dead-letters") is { } d && d.GetProperty("items").EnumerateArray().Any(l => l.GetProperty("reason").GetString()!.Contains("ts.future", StringComparison.Ordinal)),
            Deadline,
            "the far-future inspection is a dead letter");

        var quality = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/kpis") is { } k && k.GetProperty("quality") is { ValueKind: JsonValueKind.Object } q && q.GetProperty("inspected").GetInt64() == 11 ? q : (JsonElement?)null,
            Deadline,
            "eleven inspections in the quality KPIs");
        Assert.Equal("24h", quality.GetProperty("window").GetString());
        Assert.Equal(4, quality.GetProperty("scrap").GetInt64());
        Assert.Equal(0.6, quality.GetProperty("firstPassYield").GetDouble(), 9); // 6 of 10 first inspections passed
        var pareto = quality.GetProperty("pareto").EnumerateArray().Select(d => (d.GetProperty("defect").GetString(), d.GetProperty("count").GetInt64())).ToList();
        Assert.Equal([("burr", 2L), ("out-of-spec.height", 1L), ("scratch", 1L)], pareto);
        Assert.Equal(1.0, quality.GetProperty("pareto")[2].GetProperty("cumulative").GetDouble(), 9);
        var machine = quality.GetProperty("byMachine")[0];
        Assert.Equal(("press-1", 11L, 4L), (machine.GetProperty("machine").GetString(), machine.GetProperty("inspected").GetInt64(), machine.GetProperty("scrap").GetInt64()));
    }

    [Fact]
    public async Task The_root_cause_ranking_puts_the_parameter_that_makes_scrap_first()
    {
        // 60 parts on cnc-2 and 30 on cnc-1, a minute each. Each part's spindle temperature over its
        // window varies from part to part; on cnc-2 a part is scrap (burr) when it ran above 62 °C.
        // Vibration is noise on both machines, unrelated to scrap: the distractor.
        var random = new Random(21);
        var start = DateTimeOffset.UtcNow.AddHours(-3);
        var scrapped = 0;
        foreach (var (machine, parts, offset) in new[] { ("cnc-2", 60, 0), ("cnc-1", 30, 70) })
        {
            var payloads = new List<string>();
            var seq = 1;
            for (var p = 0; p < parts; p++)
            {
                var windowStart = start.AddMinutes(offset + p);
                var level = machine == "cnc-2" ? 55 + (random.NextDouble() * 14) : 54 + (random.NextDouble() * 6);
                for (var s = 0; s < 6; s++)
                {
                    payloads.Add(string.Create(CultureInfo.InvariantCulture, $$$"""{"seq":{{{seq++}}},"ts":"{{{windowStart.AddSeconds(5 + (s * 10)):O}}}","values":{"spindle_temperature":{{{Math.Round(level + (random.NextDouble() - 0.5), 3)}}},"vibration":{{{Math.Round(1.5 + random.NextDouble(), 3)}}}}}"""));
                }

                var scrap = machine == "cnc-2" && level > 62;
                scrapped += scrap ? 1 : 0;
                var response = await PostInspectionAsync(new
                {
                    eventId = $"{machine}-{p}",
                    machine,
                    start = windowStart,
                    ts = windowStart.AddMinutes(1),
                    part = $"{machine}-P{p}",
                    measurements = new[] { new { characteristic = "length", value = 100.0, lsl = 99.5, usl = 100.5 } },
                    defect = scrap ? "burr" : null,
                });
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            using var telemetry = await Gateway.Http.PostAsync($"/api/factories/{_factory}/machines/{machine}/telemetry", new StringContent("[" + string.Join(",", payloads) + "]", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, telemetry.StatusCode);
        }

        output.WriteLine($"{scrapped} of 90 parts scrapped");
        Assert.InRange(scrapped, 15, 45);
        await Wait.UntilAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/kpis") is { } k && k.GetProperty("quality").ValueKind == JsonValueKind.Object
                && k.GetProperty("quality").GetProperty("inspected").GetInt64() == 90,
            Deadline,
            "every inspection in the machines' logs");

        // The history is written in the background: wait until the last window is stored.
        var last = start.AddMinutes(70 + 29);
        await Wait.UntilAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/machines/cnc-1/history?sensor=vibration&from={Uri.EscapeDataString(last.ToString("O"))}&to={Uri.EscapeDataString(last.AddMinutes(1).ToString("O"))}") is { } h && h.GetProperty("points").GetArrayLength() == 6,
            Deadline,
            "the telemetry in the history");

        var report = (await Gateway.GetJsonAsync($"/api/factories/{_factory}/quality/root-cause?defect=burr"))!.Value;
        output.WriteLine(report.ToString());
        Assert.Equal("ranked", report.GetProperty("status").GetString());
        Assert.Equal(scrapped, report.GetProperty("badParts").GetInt32());
        Assert.Equal(90 - scrapped, report.GetProperty("goodParts").GetInt32());
        var factors = report.GetProperty("factors").EnumerateArray().ToList();
        var top = factors[0];
        Assert.Equal(("parameter", "cnc-2", "spindle_temperature"), (top.GetProperty("kind").GetString(), top.GetProperty("machine").GetString(), top.GetProperty("sensor").GetString()));
        Assert.Equal("above", top.GetProperty("direction").GetString());
        Assert.InRange(top.GetProperty("threshold").GetDouble(), 61, 63);
        Assert.True(top.GetProperty("auc").GetDouble() > 0.95);
        Assert.True(top.GetProperty("adjustedPValue").GetDouble() < 0.001);
        Assert.Equal(scrapped, top.GetProperty("bad").GetInt32());
        Assert.Contains("spindle_temperature", top.GetProperty("summary").GetString(), StringComparison.Ordinal);

        // The distractor is ranked below, and its separation is what noise gives.
        var vibration = factors.FindIndex(f => f.GetProperty("sensor").ValueKind == JsonValueKind.String && f.GetProperty("sensor").GetString() == "vibration" && f.GetProperty("machine").GetString() == "cnc-2");
        Assert.True(vibration > 1, $"vibration ranked at {vibration}");
        Assert.InRange(factors[vibration].GetProperty("auc").GetDouble(), 0.25, 0.75);
        Assert.True(factors[vibration].GetProperty("adjustedPValue").GetDouble() > 0.01);

        // A defect nobody reported: not enough data, no ranking.
        var none = (await Gateway.GetJsonAsync($"/api/factories/{_factory}/quality/root-cause?defect=crack"))!.Value;
        Assert.Equal("not-enough-data", none.GetProperty("status").GetString());
        Assert.Equal(0, none.GetProperty("factors").GetArrayLength());
        Assert.Equal(HttpStatusCode.BadRequest, (await Gateway.Http.GetAsync($"/api/factories/{_factory}/quality/root-cause")).StatusCode);
    }

    [Fact]
    public async Task The_dashboard_draws_the_control_chart_with_its_signals_and_the_pareto_of_defects()
    {
        var ts = DateTimeOffset.UtcNow.AddMinutes(-20);
        // 25 baseline points alternating around 5.0, then one far above: rule 1 on the chart.
        for (var i = 0; i < 26; i++)
        {
            var value = i < 25 ? (i % 2 == 0 ? 4.9 : 5.1) : 6.5;
            var response = await PostInspectionAsync(new
            {
                eventId = $"dash-{i}",
                machine = "lathe-1",
                ts = ts.AddSeconds(i),
                part = $"L-{i}",
                measurements = new[] { new { characteristic = "runout", value, lsl = 4.0, usl = 7.0 } },
                defect = i % 5 == 0 ? "chatter" : i % 7 == 0 ? "burr" : null,
            });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await Wait.UntilAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/kpis") is { } k && k.GetProperty("quality").ValueKind == JsonValueKind.Object
                && k.GetProperty("quality").GetProperty("inspected").GetInt64() == 26,
            Deadline,
            "the inspections in the KPIs");

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = DashboardTests.Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 1000 } });
        var violations = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase))
            {
                violations.Add(message.Text);
            }
        };
        await page.GotoAsync(Gateway.Http.BaseAddress!.ToString());
        await page.WaitForSelectorAsync("#tile-press-1[data-version]", new PageWaitForSelectorOptions { Timeout = 15_000 });
        await page.FillAsync("#factory", _factory);
        await page.DispatchEventAsync("#factory", "change");

        await page.WaitForSelectorAsync("#characteristics tr[data-characteristic='lathe-1/runout'].firing", new PageWaitForSelectorOptions { Timeout = 20_000 });
        await page.WaitForSelectorAsync("#spc-chart[data-characteristic='lathe-1/runout'][data-points='26'] canvas", new PageWaitForSelectorOptions { Timeout = 20_000 });
        Assert.Equal("1", await page.GetAttributeAsync("#spc-chart", "data-flagged"));
        Assert.Contains("Nelson 1", await page.Locator("#spc-rules").TextContentAsync(), StringComparison.Ordinal);
        Assert.Contains("Cpk", await page.Locator("#spc-limits").TextContentAsync(), StringComparison.Ordinal);

        // The Pareto: most frequent defect first, with its count and cumulative share.
        await page.WaitForSelectorAsync("#pareto .pareto-bar[data-defect='chatter']", new PageWaitForSelectorOptions { Timeout = 20_000 });
        Assert.Equal(["chatter", "burr"], await page.Locator("#pareto .pareto-code").AllTextContentsAsync());
        Assert.Contains("first-pass yield", await page.Locator("#quality-summary").TextContentAsync(), StringComparison.Ordinal);
        Assert.Empty(violations);

        var screenshot = Path.Combine(Repository.Root, "artifacts", "quality.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
        await page.Locator("#quality").ScreenshotAsync(new LocatorScreenshotOptions { Path = screenshot });
        output.WriteLine($"screenshot: {screenshot}");
    }
}
