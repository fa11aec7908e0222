using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Twin.Testing;

namespace Twin.Gateway.Tests.EndToEnd;

/// <summary>A gateway whose effect windows are one minute long and checked every second.</summary>
public sealed class EffectGatewayFixture : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();

    public GatewayProcess Gateway { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Gateway = new GatewayProcess(_temp.Sub("data"), new Dictionary<string, string>
        {
            ["Twin:Effects:Window"] = "00:01:00",
            ["Twin:Effects:CheckInterval"] = "00:00:01",
        });
        await Gateway.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        _temp.Dispose();
    }
}

/// <summary>Verify the effect: a ticket opened by an anomaly, resolved over HTTP, and its before/after report.</summary>
public class EffectTests(EffectGatewayFixture fixture) : IClassFixture<EffectGatewayFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(40);
    private readonly string _factory = "fx-" + Guid.NewGuid().ToString("N")[..8];

    private GatewayProcess Gateway => fixture.Gateway;

    private static string Telemetry(long seq, DateTimeOffset ts, double temperature) =>
        string.Create(CultureInfo.InvariantCulture, $$"""{"seq":{{seq}},"ts":"{{ts:O}}","values":{"temperature":{{temperature}} } }""");

    private static string Counts(long seq, DateTimeOffset ts, int good, int scrap) =>
        string.Create(CultureInfo.InvariantCulture, $$"""{"seq":{{seq}},"ts":"{{ts:O}}","good":{{good}},"scrap":{{scrap}}}""");

    private static string Status(long seq, DateTimeOffset ts, string state) =>
        string.Create(CultureInfo.InvariantCulture, $$"""{"seq":{{seq}},"ts":"{{ts:O}}","state":"{{state}}"}""");

    private async Task<int> StoredReadingsAsync(DateTimeOffset from, DateTimeOffset to)
    {
        var history = await Gateway.GetJsonAsync($"/api/factories/{_factory}/machines/oven-1/history?sensor=temperature&from={Uri.EscapeDataString(from.ToString("O"))}&to={Uri.EscapeDataString(to.ToString("O"))}");
        return history is { } h && h.GetProperty("points") is { ValueKind: JsonValueKind.Array } points ? points.GetArrayLength() : 0;
    }

    [Fact]
    public async Task Resolving_a_ticket_yields_an_effect_report_with_before_and_after_figures_and_their_counts()
    {
        var put = await Gateway.Http.PutAsJsonAsync($"/api/factories/{_factory}/machines/oven-1", new
        {
            name = "Oven 1",
            sensors = new { temperature = new { high = 90, hysteresis = 2, minDuration = "00:00:02" } },
        });
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);

        // Before: running, over temperature (a little noise, so no flatline) once a second for 18 s (the limit held 2 s raises the
        // fault: the first two readings score 0.5 and 0.745, the other 16 score 1), 6 good and 2 scrap.
        await using var device = await TestDevice.ConnectAsync(Gateway.MqttPort);
        var topic = $"factory/{_factory}/machine/oven-1";
        var start = DateTimeOffset.UtcNow.AddSeconds(-25);
        var seq = 1;
        await device.PublishAsync($"{topic}/status", Status(seq++, start, "running"));
        for (var i = 0; i < 18; i++)
        {
            await device.PublishAsync($"{topic}/telemetry", Telemetry(seq++, start.AddSeconds(1 + i), 95 + (0.3 * (i % 3))));
        }

        await device.PublishAsync($"{topic}/counts", Counts(seq++, start.AddSeconds(5), 3, 1));
        await device.PublishAsync($"{topic}/counts", Counts(seq++, start.AddSeconds(15), 3, 1));

        var ticket = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/tickets") is { } t && t.GetProperty("total").GetInt32() > 0 ? t.GetProperty("items")[0] : (JsonElement?)null,
            Deadline,
            "the anomaly opened a ticket");
        var ticketId = ticket.GetProperty("id").GetString();
        Assert.Equal("oven-1.LimitHigh.1", ticketId);
        await Wait.UntilAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/machines/oven-1") is { } m && m.GetProperty("counts").GetProperty("good").GetInt64() == 6,
            Deadline,
            "the machine counted the parts");

        // Everything before is in (the readings stored, the evidence paced every 10 s of event time on the
        // ticket: at 3 s and 13 s), so no late evidence of this fault opens a second ticket after the resolution.
        await Wait.UntilAsync(async () => await StoredReadingsAsync(start, start.AddSeconds(20)) == 18, Deadline, "the before readings are in the history");
        await Wait.UntilAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/tickets") is { } t && t.GetProperty("items")[0].GetProperty("evidenceCount").GetInt64() == 2,
            Deadline,
            "both pieces of evidence on the ticket");

        var resolved = await Gateway.Http.PostAsJsonAsync($"/api/factories/{_factory}/tickets/{ticketId}/resolve", new { by = "anna", note = "fan replaced" });
        Assert.Equal(HttpStatusCode.OK, resolved.StatusCode);

        // The resolution is an open action with its before figures.
        var actionId = $"ticket:{ticketId}:resolved.1";
        var open = (await Gateway.GetJsonAsync($"/api/factories/{_factory}/actions?status=open"))!.Value;
        var action = open.GetProperty("items").EnumerateArray().Single();
        Assert.Equal(actionId, action.GetProperty("action").GetProperty("id").GetString());
        Assert.Equal("ticketResolved", action.GetProperty("action").GetProperty("kind").GetString());
        Assert.Equal("open", action.GetProperty("status").GetString());
        var at = action.GetProperty("action").GetProperty("at").GetDateTimeOffset();
        Assert.True(at - start > TimeSpan.FromSeconds(18), "the resolution comes after the before data");

        // After: back to normal (10 readings about 80 °C, never flat: the fault clears), 10 good parts, all within [t, t + 1 min).
        for (var i = 0; i < 10; i++)
        {
            await device.PublishAsync($"{topic}/telemetry", Telemetry(seq++, at.AddSeconds(2 + (3 * i)), 80 + (0.3 * (i % 3))));
        }

        await device.PublishAsync($"{topic}/counts", Counts(seq++, at.AddSeconds(10), 5, 0));
        await device.PublishAsync($"{topic}/counts", Counts(seq++, at.AddSeconds(40), 5, 0));
        await Wait.UntilAsync(async () => await StoredReadingsAsync(at, at.AddMinutes(1)) == 10, Deadline, "the after readings are in the history");
        Assert.Equal("open", (await Gateway.GetJsonAsync($"/api/factories/{_factory}/actions/{Uri.EscapeDataString(actionId)}"))!.Value.GetProperty("status").GetString());

        // The machine's event time passes t + 1 min: the report is made.
        await device.PublishAsync($"{topic}/status", Status(seq++, at.AddSeconds(61), "running"));
        var report = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/actions/{Uri.EscapeDataString(actionId)}") is { } r && r.GetProperty("status").GetString() == "verified" ? r : (JsonElement?)null,
            Deadline,
            "the verified effect report");
        JsonElement Figure(string kpi) => report.GetProperty("figures").EnumerateArray().Single(f => f.GetProperty("kpi").GetString() == kpi);

        var scrap = Figure("scrapRate");
        Assert.Equal((0.25, 8, 2), (scrap.GetProperty("before").GetProperty("value").GetDouble(), scrap.GetProperty("before").GetProperty("samples").GetInt64(), scrap.GetProperty("before").GetProperty("hits").GetInt64()));
        Assert.Equal((0.0, 10, 0), (scrap.GetProperty("after").GetProperty("value").GetDouble(), scrap.GetProperty("after").GetProperty("samples").GetInt64(), scrap.GetProperty("after").GetProperty("hits").GetInt64()));
        Assert.Equal("better", scrap.GetProperty("verdict").GetString());

        var anomalies = Figure("anomalyRate");
        Assert.Equal((18, 16), (anomalies.GetProperty("before").GetProperty("samples").GetInt64(), anomalies.GetProperty("before").GetProperty("hits").GetInt64()));
        Assert.Equal(16.0 / 18, anomalies.GetProperty("before").GetProperty("value").GetDouble(), 9);
        Assert.Equal((10, 0), (anomalies.GetProperty("after").GetProperty("samples").GetInt64(), anomalies.GetProperty("after").GetProperty("hits").GetInt64()));
        Assert.Equal("better", anomalies.GetProperty("verdict").GetString());

        var failures = Figure("failures");
        Assert.Equal((1.0, 0.0), (failures.GetProperty("before").GetProperty("value").GetDouble(), failures.GetProperty("after").GetProperty("value").GetDouble()));

        // No ideal cycle time in the master data: OEE says so instead of inventing a figure.
        var oee = Figure("oee");
        Assert.Equal(JsonValueKind.Null, oee.GetProperty("before").GetProperty("value").ValueKind);
        Assert.Equal("not enough data", oee.GetProperty("verdict").GetString());

        // The ticket list shows the effect for the dashboard's column.
        var tickets = (await Gateway.GetJsonAsync($"/api/factories/{_factory}/tickets"))!.Value;
        var effect = tickets.GetProperty("items")[0].GetProperty("effect");
        Assert.Equal(actionId, effect.GetProperty("action").GetString());
        Assert.Equal("verified", effect.GetProperty("status").GetString());
        Assert.Contains("scrap 25% → 0%", effect.GetProperty("summary").GetString(), StringComparison.Ordinal);
        Assert.Empty((await Gateway.GetJsonAsync($"/api/factories/{_factory}/actions?status=open"))!.Value.GetProperty("items").EnumerateArray());

        var missing = await Gateway.Http.GetAsync($"/api/factories/{_factory}/actions/nope");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        var badFilter = await Gateway.Http.GetAsync($"/api/factories/{_factory}/actions?status=closed");
        Assert.Equal(HttpStatusCode.BadRequest, badFilter.StatusCode);
    }
}
