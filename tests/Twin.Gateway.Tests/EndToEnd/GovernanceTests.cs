using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Twin.CsvImport;
using Twin.Testing;

namespace Twin.Gateway.Tests.EndToEnd;

public class GovernanceTests(EmbeddedGatewayFixture fixture) : IClassFixture<EmbeddedGatewayFixture>
{
    private readonly string _factory = "gov-" + Guid.NewGuid().ToString("N")[..8];
    private GatewayProcess Gateway => fixture.Gateway;

    [Fact]
    public async Task Sensor_limits_given_under_an_alias_apply_to_the_canonical_sensor()
    {
        var profile = await Gateway.Http.PutAsJsonAsync($"/api/factories/{_factory}/mapping-profile", new
        {
            sensors = new Dictionary<string, object> { ["temperature"] = new { aliases = new[] { "temp" }, unit = "degC" } },
        });
        Assert.Equal(HttpStatusCode.OK, profile.StatusCode);

        // Two spellings of one sensor in one request: refused, naming both.
        var twice = await Gateway.Http.PutAsJsonAsync($"/api/factories/{_factory}/machines/kiln", new { sensors = new Dictionary<string, object> { ["temp"] = new { high = 90 }, ["Temperature"] = new { high = 80 } } });
        Assert.Equal(HttpStatusCode.BadRequest, twice.StatusCode);
        var error = (await twice.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").EnumerateObject().Single();
        Assert.Contains("the same sensor 'temperature'", error.Value[0].GetString(), StringComparison.Ordinal);

        // The limit set under the alias trips on the reading the profile renames (212 degF = 100 degC).
        Assert.Equal(HttpStatusCode.OK, (await Gateway.Http.PutAsJsonAsync($"/api/factories/{_factory}/machines/kiln", new { sensors = new { temp = new { high = 90 } } })).StatusCode);
        await using var device = await TestDevice.ConnectAsync(Gateway.MqttPort);
        await device.PublishAsync($"factory/{_factory}/machine/kiln/telemetry", $"{{\"seq\":1,\"ts\":\"{TestDevice.Now()}\",\"values\":{{\"temp\":212}},\"units\":{{\"temp\":\"degF\"}}}}");
        var fault = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/machines/kiln") is { } m && m.GetProperty("activeFaults").GetArrayLength() == 1 ? m.GetProperty("activeFaults")[0] : (JsonElement?)null,
            TimeSpan.FromSeconds(15),
            "the limit fault on the canonical sensor");
        Assert.Equal(("temperature", "limitHigh"), (fault.GetProperty("sensor").GetString(), fault.GetProperty("kind").GetString()));
    }

    [Fact]
    public async Task A_profile_set_over_the_api_renames_converts_and_flags_mqtt_readings()
    {
        var configured = (await Gateway.GetJsonAsync($"/api/factories/{_factory}/mapping-profile"))!.Value;
        Assert.Equal("config", configured.GetProperty("origin").GetString());

        var bad = await Gateway.Http.PutAsJsonAsync($"/api/factories/{_factory}/mapping-profile", new { sensors = new { oil = new { unit = "furlongs", min = 5, max = 1 } } });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal(2, (await bad.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").GetProperty("profile").GetArrayLength());

        var put = await Gateway.Http.PutAsJsonAsync($"/api/factories/{_factory}/mapping-profile", new
        {
            acceptUnknownSensors = false,
            sensors = new Dictionary<string, object>
            {
                ["oil_pressure"] = new { aliases = new[] { "OilP", "oil-press" }, unit = "bar", min = 0, max = 10 },
                ["temperature"] = new { aliases = new[] { "temp" }, unit = "degC" },
            },
        });
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal("api", (await put.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("origin").GetString());

        await using var device = await TestDevice.ConnectAsync(Gateway.MqttPort);
        var topic = $"factory/{_factory}/machine/m1/telemetry";
        await device.PublishAsync(topic, $"{{\"seq\":1,\"ts\":\"{TestDevice.Now()}\",\"values\":{{\"OilP\":43.5,\"temp\":212}},\"units\":{{\"OilP\":\"psi\",\"temp\":\"degF\"}}}}");
        await device.PublishAsync(topic, $"{{\"seq\":2,\"ts\":\"{TestDevice.Now(1)}\",\"values\":{{\"mystery\":1}}}}");
        await device.PublishAsync(topic, $"{{\"seq\":3,\"ts\":\"{TestDevice.Now(2)}\",\"values\":{{\"oil-press\":2}},\"units\":{{\"oil-press\":\"degC\"}}}}");
        await device.PublishAsync(topic, $"{{\"seq\":4,\"ts\":\"{TestDevice.Now(3)}\",\"values\":{{\"oil_pressure\":50}}}}");

        var snapshot = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/machines/m1") is { } s && s.GetProperty("lastSeq").GetInt64() == 4 ? s : (JsonElement?)null,
            TimeSpan.FromSeconds(15),
            "seq 4 applied");
        var sensors = snapshot.GetProperty("sensors").EnumerateArray().ToDictionary(s => s.GetProperty("sensor").GetString()!);
        Assert.Equal(["oil_pressure", "temperature"], sensors.Keys.Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(100, sensors["temperature"].GetProperty("value").GetDouble(), 6);
        Assert.Equal(50, sensors["oil_pressure"].GetProperty("value").GetDouble());
        Assert.Equal("bad", sensors["oil_pressure"].GetProperty("quality").GetString());
        Assert.Equal(43.5 * 0.0689475729316836, sensors["oil_pressure"].GetProperty("statistics").GetProperty("max").GetDouble(), 6);

        var letters = await Wait.ForAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/dead-letters") is { } d && d.GetProperty("total").GetInt64() == 2 ? d : (JsonElement?)null,
            TimeSpan.FromSeconds(15),
            "two dead letters");
        var counts = letters.GetProperty("countsByReason");
        Assert.Equal(1, counts.GetProperty("sensor.unknown").GetInt64());
        Assert.Equal(1, counts.GetProperty("units.incompatible").GetInt64());

        Assert.Equal(HttpStatusCode.NoContent, (await Gateway.Http.DeleteAsync($"/api/factories/{_factory}/mapping-profile")).StatusCode);
        Assert.Equal("config", (await Gateway.GetJsonAsync($"/api/factories/{_factory}/mapping-profile"))!.Value.GetProperty("origin").GetString());
    }

    [Fact]
    public async Task The_csv_import_tool_backfills_history_and_a_rerun_changes_nothing()
    {
        var file = Path.Combine(Path.GetTempPath(), $"export-{Guid.NewGuid():N}.csv");
        var start = DateTimeOffset.UtcNow.AddMinutes(-30);
        var csv = new StringBuilder("timestamp,temperature [degF],\"vibration (in/s)\",counter\n");
        for (var i = 0; i < 120; i++)
        {
            csv.Append(start.AddSeconds(i).ToString("O", System.Globalization.CultureInfo.InvariantCulture)).Append(',')
                .Append(32 + i).Append(',').Append(i % 2 == 0 ? "0.1" : "").Append(',').Append(i).Append('\n');
        }

        await File.WriteAllTextAsync(file, csv.ToString());
        try
        {
            var options = new ImportOptions(Gateway.Http.BaseAddress!.ToString(), _factory, "lathe-1", file, "csv-test", 50, ',');
            var first = await Importer.RunAsync(Gateway.Http, options, TextWriter.Null);
            Assert.Equal(new ImportResult(120, 120, 0, false), first);
            var again = await Importer.RunAsync(Gateway.Http, options, TextWriter.Null);
            Assert.Equal(new ImportResult(120, 0, 120, false), again);

            var snapshot = (await Gateway.GetJsonAsync($"/api/factories/{_factory}/machines/lathe-1"))!.Value;
            var sensors = snapshot.GetProperty("sensors").EnumerateArray().ToDictionary(s => s.GetProperty("sensor").GetString()!);
            Assert.Equal((32 + 119 - 32) * 5.0 / 9.0, sensors["temperature"].GetProperty("value").GetDouble(), 6);
            Assert.Equal("degC", sensors["temperature"].GetProperty("unit").GetString());
            Assert.Equal(2.54, sensors["vibration"].GetProperty("value").GetDouble(), 6);
            Assert.Equal(119, sensors["counter"].GetProperty("value").GetDouble());
            Assert.Equal(0, snapshot.GetProperty("lastSeq").GetInt64());
        }
        finally
        {
            File.Delete(file);
        }
    }
}
