using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Twin.Testing;
using Xunit.Abstractions;

namespace Twin.Gateway.Tests.EndToEnd;

/// <summary>The embedded default, as a real process with its built-in broker and demo simulator.</summary>
public sealed class EmbeddedGatewayFixture : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();

    public GatewayProcess Gateway { get; private set; } = null!;

    public TimeSpan ReadyAfter { get; private set; }

    public async Task InitializeAsync()
    {
        Gateway = new GatewayProcess(_temp.Sub("data"), new Dictionary<string, string>
        {
            ["Twin:Simulator:Enabled"] = "true",
            ["Twin:Simulator:Interval"] = "00:00:00.250",
        });
        ReadyAfter = await Gateway.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        _temp.Dispose();
    }
}

public class EmbeddedGatewayTests(EmbeddedGatewayFixture fixture, ITestOutputHelper output) : IClassFixture<EmbeddedGatewayFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);
    private GatewayProcess Gateway => fixture.Gateway;

    [Fact]
    public async Task Is_ready_and_live()
    {
        output.WriteLine($"ready after {fixture.ReadyAfter.TotalSeconds:F2} s");
        Assert.Equal(HttpStatusCode.OK, (await Gateway.Http.GetAsync("/health/live")).StatusCode);
        var ready = await Gateway.GetJsonAsync("/health/ready");
        Assert.Equal("Healthy", ready!.Value.GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.OK, (await Gateway.Http.GetAsync("/openapi/v1.json")).StatusCode);
    }

    [Fact]
    public async Task Factory_KPIs_show_line_OEE_with_a_bottleneck_and_stock_coverage()
    {
        var kpis = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync("/api/factories/demo/kpis") is { } k
                && k.GetProperty("lines").EnumerateArray().Count(l => l.GetProperty("line").GetString() is "assembly" or "machining" && l.GetProperty("oee").ValueKind == JsonValueKind.Number && l.GetProperty("bottleneck").ValueKind == JsonValueKind.String) == 2
                ? k : (JsonElement?)null,
            // About 30 s of demo data on an idle machine; the suite runs other gateways beside it.
            TimeSpan.FromSeconds(120),
            "both demo lines with OEE and a bottleneck");
        output.WriteLine(kpis.ToString());

        foreach (var line in kpis.GetProperty("lines").EnumerateArray().Where(l => l.GetProperty("line").GetString() is "assembly" or "machining"))
        {
            // OEE = availability × performance × quality (the simulator's part counts are random,
            // so performance may briefly exceed 1 early on).
            var oee = line.GetProperty("oee").GetDouble();
            Assert.True(oee > 0);
            Assert.InRange(line.GetProperty("availability").GetDouble(), 0, 1);
            Assert.Equal(line.GetProperty("availability").GetDouble() * line.GetProperty("performance").GetDouble() * line.GetProperty("quality").GetDouble(), oee, 9);
        }

        var coverage = kpis.GetProperty("stockCoverage").EnumerateArray().Select(c => c.GetProperty("bin").GetString()).ToList();
        Assert.Contains("bin-steel", coverage);
        Assert.Contains("bin-bolts", coverage);
        Assert.Equal(JsonValueKind.Number, kpis.GetProperty("openTickets").ValueKind);
        Assert.Equal(JsonValueKind.Array, kpis.GetProperty("lateWorkOrders").ValueKind);

        var performance = await Gateway.GetJsonAsync("/api/factories/demo/lines/machining/performance");
        Assert.Equal(4, performance!.Value.GetProperty("machines").GetArrayLength());
        Assert.Contains("active", performance.Value.GetProperty("bottleneck").GetProperty("evidence").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_demo_factory_lists_eight_machines_whose_snapshots_change()
    {
        var first = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync("/api/factories/demo/machines") is { } list && list.GetProperty("total").GetInt32() >= 8 ? list : (JsonElement?)null,
            Deadline,
            "8 demo machines listed");
        var versions = first.GetProperty("items").EnumerateArray().ToDictionary(m => m.GetProperty("id").GetString()!, m => m.GetProperty("version").GetInt64());
        Assert.True(versions.Count >= 8);

        await Wait.UntilAsync(
            async () =>
            {
                var now = await Gateway.GetJsonAsync("/api/factories/demo/machines");
                return now!.Value.GetProperty("items").EnumerateArray()
                    .Count(m => m.GetProperty("version").GetInt64() > versions[m.GetProperty("id").GetString()!]) >= 8;
            },
            Deadline,
            "every demo machine's version increased");

        var lines = await Gateway.GetJsonAsync("/api/factories/demo/lines");
        var lineIds = lines!.Value.GetProperty("items").EnumerateArray().Select(l => l.GetProperty("id").GetString()).ToList();
        Assert.Contains("assembly", lineIds);
        Assert.Contains("machining", lineIds);
        var bins = await Gateway.GetJsonAsync("/api/factories/demo/bins");
        Assert.True(bins!.Value.GetProperty("total").GetInt32() >= 6);
        var orders = await Gateway.GetJsonAsync("/api/factories/demo/work-orders?status=inProgress");
        Assert.Equal(2, orders!.Value.GetProperty("total").GetInt32());
        var press = await Gateway.GetJsonAsync("/api/factories/demo/machines/press-1");
        Assert.Equal("assembly", press!.Value.GetProperty("line").GetString());
        Assert.True(press.Value.GetProperty("sensors").GetArrayLength() >= 3);
    }

    [Fact]
    public async Task A_reading_published_with_mosquitto_pub_is_visible_within_a_second()
    {
        var machine = "m-" + Guid.NewGuid().ToString("N")[..8];
        var payload = $"{{\"seq\":1,\"ts\":\"{TestDevice.Now()}\",\"values\":{{\"temperature\":20.5}}}}";
        var clock = Stopwatch.StartNew();

        // The command a newcomer types: no client id, MQTT 3.1.1, QoS 1.
        await using (var pub = ChildProcess.Start("mosquitto_pub", ["-h", "127.0.0.1", "-p", Gateway.MqttPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "-q", "1", "-t", $"factory/demo/machine/{machine}/telemetry", "-m", payload]))
        {
            await Wait.UntilAsync(() => Task.FromResult(pub.HasExited), Deadline, "mosquitto_pub finished");
        }

        var snapshot = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/demo/machines/{machine}"),
            Deadline,
            "the new machine's snapshot");
        output.WriteLine($"visible after {clock.ElapsedMilliseconds} ms");
        var sensor = snapshot.GetProperty("sensors")[0];
        Assert.Equal("temperature", sensor.GetProperty("sensor").GetString());
        Assert.Equal(20.5, sensor.GetProperty("value").GetDouble());
        Assert.Equal(1, snapshot.GetProperty("lastSeq").GetInt64());
    }

    [Fact]
    public async Task Malformed_payloads_on_every_topic_do_not_stop_the_good_messages_after_them()
    {
        var machine = "m-" + Guid.NewGuid().ToString("N")[..8];
        var topic = $"factory/demo/machine/{machine}";
        await using var device = await TestDevice.ConnectAsync(Gateway.MqttPort);
        await device.PublishAsync($"{topic}/telemetry", "{not json");
        await device.PublishAsync($"{topic}/status", "{\"seq\":1,\"ts\":\"2026-11-26T08:00:00Z\",\"state\":\"exploded\"}");
        await device.PublishAsync($"{topic}/counts", "[1,2,3]");
        await device.PublishAsync($"{topic}/telemetry", "{\"seq\":-4,\"ts\":\"2026-11-26T08:00:00Z\",\"values\":{\"t\":1}}");
        await device.PublishAsync($"{topic}/telemetry", "{\"seq\":5,\"ts\":\"yesterday\",\"values\":{\"t\":1}}");
        await device.PublishAsync($"{topic}/telemetry", "{\"seq\":6,\"ts\":\"2026-11-26T08:00:00Z\",\"values\":{\"t\":\"hot\"}}");
        await device.PublishAsync($"{topic}/firmware", "{}");
        for (var seq = 1; seq <= 3; seq++)
        {
            await device.PublishAsync($"{topic}/telemetry", $"{{\"seq\":{seq},\"ts\":\"{TestDevice.Now(seq)}\",\"values\":{{\"temperature\":{40 + seq}}}}}");
        }

        var snapshot = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/demo/machines/{machine}") is { } s && s.GetProperty("lastSeq").GetInt64() == 3 ? s : (JsonElement?)null,
            Deadline,
            "the good messages applied");
        Assert.Equal(43, snapshot.GetProperty("sensors")[0].GetProperty("value").GetDouble());

        var letters = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync("/api/factories/demo/dead-letters?limit=1000") is { } d
                && d.GetProperty("items").EnumerateArray().Count(i => i.GetProperty("topic").GetString()!.StartsWith(topic, StringComparison.Ordinal)) == 7 ? d : (JsonElement?)null,
            Deadline,
            "seven dead letters for the machine");
        var reasons = letters.GetProperty("items").EnumerateArray()
            .Where(i => i.GetProperty("topic").GetString()!.StartsWith(topic, StringComparison.Ordinal))
            .Select(i => i.GetProperty("reasonCode").GetString())
            .ToHashSet();
        string[] expected = ["payload.malformed", "payload.not-object", "seq.invalid", "state.invalid", "topic.kind", "ts.invalid", "values.not-number"];
        Assert.Equal(expected, reasons.Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public async Task Master_data_puts_validate_every_field_and_apply()
    {
        var bad = await Gateway.Http.PutAsJsonAsync("/api/factories/demo/lines/l-bad", new { name = new string('x', 300), machines = new[] { "ok", "not ok", "ok" } });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
        var problem = await bad.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(problem.GetProperty("errors").TryGetProperty("name", out _));
        Assert.Equal(2, problem.GetProperty("errors").GetProperty("machines").GetArrayLength());

        var badBin = await Gateway.Http.PutAsJsonAsync("/api/factories/demo/bins/b-x", new { reorderPoint = -1 });
        var binProblem = await badBin.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.BadRequest, badBin.StatusCode);
        Assert.Equal(3, binProblem.GetProperty("errors").EnumerateObject().Count());

        var malformed = await Gateway.Http.PutAsync("/api/factories/demo/bins/b-x", new StringContent("{oops", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);

        var line = "l-" + Guid.NewGuid().ToString("N")[..8];
        var conflict = await Gateway.Http.PutAsJsonAsync($"/api/factories/demo/lines/{line}", new { name = "Test line", machines = new[] { "press-1" } });
        Assert.Equal(HttpStatusCode.Conflict, conflict.StatusCode);
        Assert.Equal("line.machine-in-other-line", (await conflict.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());

        var ok = await Gateway.Http.PutAsJsonAsync($"/api/factories/demo/lines/{line}", new { name = "Test line", machines = new[] { "m-test-1", "m-test-2" } });
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var snapshot = await Gateway.GetJsonAsync($"/api/factories/demo/lines/{line}");
        Assert.Equal("m-test-1", snapshot!.Value.GetProperty("machines")[0].GetProperty("id").GetString());
        Assert.Equal(line, (await Gateway.GetJsonAsync("/api/factories/demo/machines/m-test-2"))!.Value.GetProperty("line").GetString());

        var bin = "b-" + Guid.NewGuid().ToString("N")[..8];
        var put = await Gateway.Http.PutAsJsonAsync($"/api/factories/demo/bins/{bin}", new { sku = "nut-m8", reorderPoint = 10, reorderQuantity = 100, location = "Z-9" });
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var binSnapshot = await put.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("nut-m8", binSnapshot.GetProperty("sku").GetString());
        Assert.True(binSnapshot.GetProperty("belowReorderPoint").GetBoolean());
    }

    [Fact]
    public async Task Unknown_and_invalid_ids_answer_problem_details()
    {
        var missing = await Gateway.Http.GetAsync("/api/factories/demo/work-orders/WO-nope");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        var problem = await missing.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains("WO-nope", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.False(problem.TryGetProperty("stackTrace", out _));

        Assert.Equal(HttpStatusCode.NotFound, (await Gateway.Http.GetAsync("/api/factories/demo/lines/nope")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Gateway.Http.GetAsync("/api/factories/demo/bins/nope")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Gateway.Http.GetAsync("/api/factories/demo/machines/nope")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await Gateway.Http.GetAsync("/api/factories/demo/machines/a%20b")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await Gateway.Http.GetAsync("/api/factories/demo/machines?limit=0")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await Gateway.Http.GetAsync("/api/factories/demo/work-orders?status=exploded")).StatusCode);
    }
}
