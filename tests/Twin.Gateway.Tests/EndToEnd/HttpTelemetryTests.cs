using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Twin.Testing;

namespace Twin.Gateway.Tests.EndToEnd;

public class HttpTelemetryTests(EmbeddedGatewayFixture fixture) : IClassFixture<EmbeddedGatewayFixture>
{
    private GatewayProcess Gateway => fixture.Gateway;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task A_backfill_with_its_own_source_fills_history_without_touching_the_live_values()
    {
        var machine = "m-" + Guid.NewGuid().ToString("N")[..8];
        var url = $"/api/factories/demo/machines/{machine}/telemetry";
        var live = await Gateway.Http.PostAsync(url, Json($"{{\"seq\":5000,\"ts\":\"{TestDevice.Now()}\",\"values\":{{\"temp\":25}},\"units\":{{\"temp\":\"degC\"}}}}"));
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);

        // An hour of history, numbered by the import itself, in degF under an alias.
        var start = DateTimeOffset.UtcNow.AddHours(-1);
        var rows = Enumerable.Range(1, 50).Select(i =>
            $"{{\"source\":\"csv-import\",\"seq\":{i},\"ts\":\"{start.AddSeconds(i):O}\",\"values\":{{\"Temperature_C\":{32 + (i * 1.8)}}},\"units\":{{\"Temperature_C\":\"degF\"}}}}");
        var backfill = await Gateway.Http.PostAsync(url, Json("[" + string.Join(",", rows) + "]"));
        Assert.Equal(HttpStatusCode.OK, backfill.StatusCode);
        var accepted = await backfill.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(50, accepted.GetProperty("applied").GetInt32());

        var replay = await (await Gateway.Http.PostAsync(url, Json("[" + string.Join(",", rows) + "]"))).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(50, replay.GetProperty("duplicates").GetInt32());

        var snapshot = (await Gateway.GetJsonAsync($"/api/factories/demo/machines/{machine}"))!.Value;
        var temperature = snapshot.GetProperty("sensors").EnumerateArray().Single();
        Assert.Equal("temperature", temperature.GetProperty("sensor").GetString());
        Assert.Equal(25, temperature.GetProperty("value").GetDouble());
        Assert.Equal(5000, snapshot.GetProperty("lastSeq").GetInt64());
    }

    [Fact]
    public async Task One_invalid_payload_rejects_the_request_with_every_error_and_applies_nothing()
    {
        var machine = "m-" + Guid.NewGuid().ToString("N")[..8];
        var url = $"/api/factories/demo/machines/{machine}/telemetry";
        var body = $"[{{\"seq\":1,\"ts\":\"{TestDevice.Now()}\",\"values\":{{\"t\":1}}}}, {{\"seq\":2,\"values\":{{\"t\":1}}}}, {{\"seq\":3,\"ts\":\"{TestDevice.Now()}\",\"values\":{{\"temperature\":1}},\"units\":{{\"temperature\":\"bar\"}}}}]";
        var response = await Gateway.Http.PostAsync(url, Json(body));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        var errors = problem.GetProperty("errors");
        Assert.StartsWith("ts.missing", errors.GetProperty("[1]")[0].GetString(), StringComparison.Ordinal);
        Assert.StartsWith("units.incompatible", errors.GetProperty("[2]")[0].GetString(), StringComparison.Ordinal);
        Assert.False(errors.TryGetProperty("[0]", out _));
        Assert.Equal(HttpStatusCode.NotFound, (await Gateway.Http.GetAsync($"/api/factories/demo/machines/{machine}")).StatusCode);

        Assert.Equal(HttpStatusCode.BadRequest, (await Gateway.Http.PostAsync(url, Json("{\"seq\":"))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await Gateway.Http.PostAsync(url, Json("[{\"seq\":1}"))).StatusCode);
    }

    [Fact]
    public async Task Nothing_is_written_to_the_factory_of_unroutable_input_which_stays_readable()
    {
        var machine = "m-" + Guid.NewGuid().ToString("N")[..8];
        var reading = Json($"{{\"seq\":1,\"ts\":\"{TestDevice.Now()}\",\"values\":{{\"t\":1}}}}");
        var response = await Gateway.Http.PostAsync($"/api/factories/_unrouted/machines/{machine}/telemetry", reading);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains("reserved", problem.GetProperty("errors").GetProperty("factory")[0].GetString(), StringComparison.Ordinal);

        var master = await Gateway.Http.PutAsync($"/api/factories/_unrouted/machines/{machine}", Json("{\"line\":\"l1\"}"));
        Assert.Equal(HttpStatusCode.BadRequest, master.StatusCode);
        Assert.True((await master.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").TryGetProperty("factory", out _));
        Assert.Equal(HttpStatusCode.NotFound, (await Gateway.Http.GetAsync($"/api/factories/_unrouted/machines/{machine}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Gateway.Http.GetAsync("/api/factories/_unrouted/dead-letters")).StatusCode);
    }

    [Fact]
    public async Task An_element_nested_too_deep_is_refused_at_its_index()
    {
        var machine = "m-" + Guid.NewGuid().ToString("N")[..8];
        var url = $"/api/factories/demo/machines/{machine}/telemetry";
        var deep = string.Concat(Enumerable.Repeat("[", 70)) + new string(']', 70);
        var body = $"[{{\"seq\":1,\"ts\":\"{TestDevice.Now()}\",\"values\":{{\"t\":1}}}}, {{\"seq\":2,\"ts\":\"{TestDevice.Now()}\",\"vendor\":{deep},\"values\":{{\"t\":1}}}}]";
        var response = await Gateway.Http.PostAsync(url, Json(body));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var errors = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors");
        Assert.StartsWith("payload.too-deep", errors.GetProperty("[1]")[0].GetString(), StringComparison.Ordinal);
        Assert.False(errors.TryGetProperty("[0]", out _));
        Assert.False(errors.TryGetProperty("body", out _));
    }

    [Fact]
    public async Task Sensors_beyond_the_machine_limit_are_refused_with_the_reason()
    {
        var machine = "m-" + Guid.NewGuid().ToString("N")[..8];
        var url = $"/api/factories/demo/machines/{machine}/telemetry";
        string Payload(int seq, int from) =>
            $"{{\"seq\":{seq},\"ts\":\"{TestDevice.Now(seq)}\",\"values\":{{{string.Join(",", Enumerable.Range(from, 250).Select(i => $"\"s{i}\":{i}"))}}}}}";
        var first = await (await Gateway.Http.PostAsync(url, Json($"[{Payload(1, 0)},{Payload(2, 250)}]"))).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(2, first.GetProperty("applied").GetInt32());
        var third = await (await Gateway.Http.PostAsync(url, Json(Payload(3, 500)))).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(0, third.GetProperty("applied").GetInt32());
        Assert.StartsWith("sensors.too-many", third.GetProperty("rejected")[0].GetProperty("reason").GetString(), StringComparison.Ordinal);
        var snapshot = (await Gateway.GetJsonAsync($"/api/factories/demo/machines/{machine}"))!.Value;
        Assert.Equal(500, snapshot.GetProperty("sensors").GetArrayLength());
    }

    [Fact]
    public async Task An_oversized_body_is_refused_with_413()
    {
        var big = new string(' ', 9 * 1024 * 1024);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/factories/demo/machines/m-big/telemetry") { Content = Json("[" + big + "]") };
        request.Headers.ExpectContinue = true;
        var response = await Gateway.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }
}
