using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Twin.Testing;

namespace Twin.Gateway.Tests.EndToEnd;

public class MaintenanceTests(EmbeddedGatewayFixture fixture) : IClassFixture<EmbeddedGatewayFixture>
{
    private readonly string _factory = "mt-" + Guid.NewGuid().ToString("N")[..8];
    private GatewayProcess Gateway => fixture.Gateway;

    private async Task PostReadingsAsync(string machine, DateTimeOffset start, int first, IEnumerable<double> values)
    {
        var payloads = values.Select((v, i) => string.Create(CultureInfo.InvariantCulture, $"{{\"seq\":{first + i},\"ts\":\"{start.AddSeconds(first + i):O}\",\"values\":{{\"temperature\":{v}}}}}"));
        using var response = await Gateway.Http.PostAsync($"/api/factories/{_factory}/machines/{machine}/telemetry", new StringContent("[" + string.Join(",", payloads) + "]", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Sustained_over_temperature_opens_exactly_one_ticket_with_evidence_and_its_lifecycle_runs()
    {
        var put = await Gateway.Http.PutAsJsonAsync($"/api/factories/{_factory}/machines/oven-1", new
        {
            name = "Oven 1",
            sensors = new { temperature = new { high = 90, hysteresis = 2, minDuration = "00:00:30" } },
        });
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);

        var start = DateTimeOffset.UtcNow.AddMinutes(-20);
        var random = new Random(7);
        await PostReadingsAsync("oven-1", start, 1, Enumerable.Range(0, 20).Select(_ => 80 + random.NextDouble()));
        await PostReadingsAsync("oven-1", start, 21, Enumerable.Range(0, 400).Select(_ => 95 + random.NextDouble()));

        var tickets = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/tickets") is { } t && t.GetProperty("total").GetInt32() > 0
                && t.GetProperty("items")[0].GetProperty("evidenceCount").GetInt64() >= 30 ? t : (JsonElement?)null,
            TimeSpan.FromSeconds(40),
            "a ticket with its evidence");
        Assert.Equal(1, tickets.GetProperty("total").GetInt32());
        var ticket = tickets.GetProperty("items")[0];
        Assert.Equal("oven-1.LimitHigh.1", ticket.GetProperty("id").GetString());
        Assert.Equal("limitHigh", ticket.GetProperty("kind").GetString());
        Assert.Equal("open", ticket.GetProperty("status").GetString());
        Assert.InRange(ticket.GetProperty("evidenceCount").GetInt64(), 30, 45);

        var machine = (await Gateway.GetJsonAsync($"/api/factories/{_factory}/machines/oven-1"))!.Value;
        Assert.Equal("limitHigh", machine.GetProperty("activeFaults")[0].GetProperty("kind").GetString());
        Assert.Equal(1, machine.GetProperty("sensors")[0].GetProperty("anomalyScore").GetDouble());

        var id = ticket.GetProperty("id").GetString();
        Assert.Equal(HttpStatusCode.OK, (await Gateway.Http.PostAsJsonAsync($"/api/factories/{_factory}/tickets/{id}/acknowledge", new { by = "anna" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Gateway.Http.PostAsJsonAsync($"/api/factories/{_factory}/tickets/{id}/start", new { by = "anna" })).StatusCode);
        var illegal = await Gateway.Http.PostAsJsonAsync($"/api/factories/{_factory}/tickets/{id}/close", new { by = "anna" });
        Assert.Equal(HttpStatusCode.Conflict, illegal.StatusCode);
        var resolved = await Gateway.Http.PostAsJsonAsync($"/api/factories/{_factory}/tickets/{id}/resolve", new { by = "anna", note = "replaced thermostat" });
        var body = await resolved.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("resolved", body.GetProperty("status").GetString());
        Assert.Equal("anna", body.GetProperty("history").EnumerateArray().Last().GetProperty("by").GetString());

        // Back to normal, then over again: a new ticket, since the first is resolved.
        await PostReadingsAsync("oven-1", start, 421, Enumerable.Range(0, 20).Select(_ => 80 + random.NextDouble()));
        await PostReadingsAsync("oven-1", start, 441, Enumerable.Range(0, 60).Select(_ => 96 + random.NextDouble()));
        await Wait.UntilAsync(
            async () => (await Gateway.GetJsonAsync($"/api/factories/{_factory}/tickets?status=open"))!.Value.GetProperty("total").GetInt32() == 1,
            TimeSpan.FromSeconds(40),
            "a second ticket");
        // The factory's KPIs hear of the desk's change through its KPI feed: at once as a rule (the
        // desk waits up to 2 s for it), within the deadline on a loaded machine.
        var reliability = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/machines/oven-1/reliability") is { } r && r.GetProperty("tickets").GetInt32() == 2 ? r : (JsonElement?)null,
            TimeSpan.FromSeconds(40),
            "both tickets in the machine's reliability");
        Assert.Equal(2, reliability.GetProperty("tickets").GetInt32());
        Assert.Equal(1, reliability.GetProperty("resolved").GetInt32());
        Assert.True(reliability.GetProperty("mttrMinutes").GetDouble() >= 0);
        Assert.True(reliability.GetProperty("mtbfHours").GetDouble() >= 0);

        var all = (await Gateway.GetJsonAsync($"/api/factories/{_factory}/tickets?machine=oven-1"))!.Value;
        Assert.Equal(["oven-1.LimitHigh.2", "oven-1.LimitHigh.1"], all.GetProperty("items").EnumerateArray().Select(t => t.GetProperty("id").GetString()!).ToArray());
    }
}
