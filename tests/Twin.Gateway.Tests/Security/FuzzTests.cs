using System.Net;
using System.Text;
using System.Text.Json;
using Twin.Testing;
using Xunit.Abstractions;

namespace Twin.Gateway.Tests.Security;

/// <summary>
/// 10,000 hostile payloads against a running gateway: MQTT telemetry/status/counts payloads, HTTP
/// telemetry, business events and mapping profiles. Nothing crashes, no answer is a 5xx, and
/// every MQTT message is accounted for (applied, ignored as a duplicate, or dead-lettered).
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    private const int MqttPayloads = 6_000;
    private const int HttpPayloads = 4_000;

    [Fact]
    public async Task Ten_thousand_fuzzed_payloads_are_each_answered_or_dead_lettered()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Sub("data"), new Dictionary<string, string> { ["Twin:Mqtt:MaxInFlight"] = "500", ["Twin:Auth:RequestsPerMinute"] = "100000" });
        await gateway.StartAsync();
        var random = new Random(8);

        await using (var device = await TestDevice.ConnectAsync(gateway.MqttPort))
        {
            string[] kinds = ["telemetry", "status", "counts"];
            for (var i = 0; i < MqttPayloads; i++)
            {
                await device.PublishAsync($"factory/fuzz/machine/m-{i % 20}/{kinds[i % 3]}", Fuzz(random, i));
            }
        }

        var ingest = await Wait.ForAsync(
            async () => await gateway.GetJsonAsync("/api/gateway/ingest") is { } s && Accounted(s) >= MqttPayloads ? s : (JsonElement?)null,
            TimeSpan.FromSeconds(120),
            $"all {MqttPayloads} MQTT payloads accounted for");
        output.WriteLine(ingest.ToString());
        Assert.Equal(MqttPayloads, Accounted(ingest));

        var statuses = new Dictionary<HttpStatusCode, int>();
        string[] paths = ["/api/factories/fuzz/machines/h-1/telemetry", "/api/factories/fuzz/erp/work-orders", "/api/factories/fuzz/wms/movements", "/api/factories/fuzz/mapping-profile", "/api/factories/fuzz/machines/h-2"];
        for (var i = 0; i < HttpPayloads; i++)
        {
            var path = paths[i % paths.Length];
            using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(Fuzz(random, i)));
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            using var response = path.EndsWith("mapping-profile", StringComparison.Ordinal) || path.EndsWith("h-2", StringComparison.Ordinal)
                ? await gateway.Http.PutAsync(path, content)
                : await gateway.Http.PostAsync(path, content);
            statuses[response.StatusCode] = statuses.GetValueOrDefault(response.StatusCode) + 1;
            Assert.True((int)response.StatusCode < 500, $"{path} answered {(int)response.StatusCode} to: {await content.ReadAsStringAsync()}\n{await response.Content.ReadAsStringAsync()}");
            if ((int)response.StatusCode >= 400)
            {
                var body = await response.Content.ReadAsStringAsync();
                Assert.DoesNotContain("   at ", body, StringComparison.Ordinal); // no stack traces
            }
        }

        output.WriteLine(string.Join(", ", statuses.Select(s => $"{(int)s.Key}: {s.Value}")));
        Assert.False(gateway.Process.HasExited);
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.GetAsync("/health/ready")).StatusCode);
        Assert.DoesNotContain("Unhandled exception", gateway.Output, StringComparison.Ordinal);
    }

    private static long Accounted(JsonElement ingest) =>
        ingest.GetProperty("acceptedMessages").GetInt64() + ingest.GetProperty("ignoredMessages").GetInt64()
        + ingest.GetProperty("rejectedByReason").EnumerateObject().Sum(r => r.Value.GetInt64());

    /// <summary>Valid payloads of every kind, mutated: truncated, bytes flipped, types swapped, deep nesting, huge and odd numbers, junk.</summary>
    private static string Fuzz(Random random, int i)
    {
        var ts = DateTimeOffset.UtcNow.AddSeconds(-random.Next(0, 3600)).ToString("O");
        string[] valid =
        [
            $"{{\"seq\":{i},\"ts\":\"{ts}\",\"values\":{{\"temperature\":{random.NextDouble() * 100:F3},\"vibration\":1.2}},\"units\":{{\"temperature\":\"degF\"}}}}",
            $"{{\"seq\":{i},\"ts\":\"{ts}\",\"state\":\"running\"}}",
            $"{{\"seq\":{i},\"ts\":\"{ts}\",\"good\":{random.Next(0, 5)},\"scrap\":0,\"workOrder\":\"WO-{i % 7}\"}}",
            $"{{\"eventId\":\"e-{i}\",\"workOrder\":\"WO-{i % 7}\",\"product\":\"p\",\"quantity\":{random.Next(-5, 50)}}}",
            $"{{\"eventId\":\"m-{i}\",\"bin\":\"b-1\",\"kind\":\"issue\",\"quantity\":{random.Next(-5, 50)}}}",
            "{\"aliases\":{\"temp\":\"temperature\"},\"units\":{\"temperature\":\"degC\"}}",
        ];
        var text = valid[random.Next(valid.Length)];
        switch (random.Next(10))
        {
            case 0:
                return text[..random.Next(0, text.Length)];
            case 1:
            {
                var chars = text.ToCharArray();
                for (var k = 0; k < 3; k++)
                {
                    chars[random.Next(chars.Length)] = (char)random.Next(0, 0x3000);
                }

                return new string(chars);
            }

            case 2:
                return new string('[', random.Next(10, 5000)) + new string(']', random.Next(0, 10));
            case 3:
                return text.Replace("\"seq\":", "\"seq\":1e308,\"x\":", StringComparison.Ordinal);
            case 4:
                return text.Replace(":", ":{\"a\":", StringComparison.Ordinal);
            case 5:
                return JsonSerializer.Serialize(Enumerable.Range(0, random.Next(1, 50)).ToDictionary(k => $"k{k}", k => (object)(k % 2 == 0 ? "NaN" : -1e-320)));
            case 6:
                return Convert.ToBase64String(Enumerable.Range(0, random.Next(1, 300)).Select(_ => (byte)random.Next(256)).ToArray());
            case 7:
                return text.Replace("\"ts\":\"", "\"ts\":\"9999-", StringComparison.Ordinal);
            default:
                return text;
        }
    }
}
