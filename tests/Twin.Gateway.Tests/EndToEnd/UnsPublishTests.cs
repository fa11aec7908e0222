using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Packets;
using Twin.Testing;

namespace Twin.Gateway.Tests.EndToEnd;

/// <summary>Publish-back (Twin:Uns:Publish) through the real gateway and a real Mosquitto.</summary>
public class UnsPublishTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(40);

    [Fact]
    public async Task A_late_subscriber_sees_the_normalised_picture_and_it_converges_after_faults_and_a_broker_restart()
    {
        using var temp = new TempDirectory();
        await using var mosquitto = await MosquittoProcess.StartAsync(temp.Sub("mosquitto"));
        var factory = "pb-" + Guid.NewGuid().ToString("N")[..8];
        var root = $"twin/{factory}";
        var settings = Publishing(mosquitto, factory);
        // Readings keep their event times; the machine stays running for the whole test.
        settings["Twin:Machine:OfflineAfter"] = "00:10:00";
        await using var gateway = new GatewayProcess(temp.Sub("data"), settings);
        await gateway.StartAsync();
        await ConnectedAsync(gateway, "uns-publish");

        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PutAsJsonAsync($"/api/factories/{factory}/machines/oven-1", new
        {
            name = "Oven 1",
            sensors = new { temperature = new { high = 90, hysteresis = 2 } },
        })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.PutAsJsonAsync($"/api/factories/{factory}/lines/line-1", new { name = "Line 1", machines = new[] { "oven-1" } })).StatusCode);

        await using var device = await TestDevice.ConnectAsync(mosquitto.Port);
        var start = DateTimeOffset.UtcNow.AddSeconds(-10);
        var topic = $"factory/{factory}/machine/oven-1";
        await device.PublishAsync($"{topic}/status", $"{{\"seq\":1,\"ts\":\"{Time(start)}\",\"state\":\"running\"}}");
        await device.PublishAsync($"{topic}/telemetry", $"{{\"seq\":2,\"ts\":\"{Time(start.AddSeconds(1))}\",\"values\":{{\"temperature\":158}},\"units\":{{\"temperature\":\"degF\"}}}}");
        await device.PublishAsync($"{topic}/counts", $"{{\"seq\":3,\"ts\":\"{Time(start.AddSeconds(2))}\",\"good\":3,\"scrap\":1,\"workOrder\":\"WO-1\"}}");

        var picture = await RetainedWhereAsync(
            mosquitto.Port,
            root,
            r => Value(r, "machine/oven-1/sensor/temperature") is > 69.999 and < 70.001
                && Has(r, "machine/oven-1/counts/good", "{\"value\":3}")
                && r.ContainsKey("machine/oven-1/oee/1h/inputs") && r.ContainsKey("line/line-1/oee/8h/oee") && r.ContainsKey("kpi/openTickets"),
            "the machine's normalised values, OEE, line and factory KPIs retained");
        var temperature = JsonDocument.Parse(picture["machine/oven-1/sensor/temperature"].Payload).RootElement;
        Assert.Equal("degC", temperature.GetProperty("unit").GetString());
        Assert.Equal(Time(start.AddSeconds(1)), temperature.GetProperty("ts").GetString());
        Assert.Equal("good", temperature.GetProperty("quality").GetString());
        Assert.Equal("publish-back", picture["machine/oven-1/sensor/temperature"].Origin);
        Assert.Contains("\"value\":\"running\"", picture["machine/oven-1/status"].Payload, StringComparison.Ordinal);
        Assert.Equal("{\"value\":1}", picture["machine/oven-1/counts/scrap"].Payload);
        Assert.Equal("{\"value\":\"WO-1\"}", picture["machine/oven-1/workOrder"].Payload);
        Assert.Equal("{\"value\":\"line-1\"}", picture["machine/oven-1/line"].Payload);
        Assert.Equal("{\"value\":[\"oven-1\"]}", picture["line/line-1/machines"].Payload);
        Assert.Equal("{\"value\":0}", picture["kpi/openTickets"].Payload);
        Assert.DoesNotContain(picture.Keys, t => t.Contains("/fault/", StringComparison.Ordinal));

        // 203 °F is 95 °C, above the limit of 90: a fault, and a ticket for it.
        await device.PublishAsync($"{topic}/telemetry", $"{{\"seq\":4,\"ts\":\"{Time(start.AddSeconds(3))}\",\"values\":{{\"temperature\":203}},\"units\":{{\"temperature\":\"degF\"}}}}");
        picture = await RetainedWhereAsync(
            mosquitto.Port,
            root,
            r => r.ContainsKey("machine/oven-1/fault/temperature/limitHigh") && r.ContainsKey("machine/oven-1/ticket/oven-1.LimitHigh.1") && Has(r, "kpi/openTickets", "{\"value\":1}"),
            "the fault and its open ticket retained");
        Assert.Contains("\"kind\":\"limitHigh\"", picture["machine/oven-1/fault/temperature/limitHigh"].Payload, StringComparison.Ordinal);
        Assert.Contains("\"status\":\"open\"", picture["machine/oven-1/ticket/oven-1.LimitHigh.1"].Payload, StringComparison.Ordinal);

        // Back to 80 °C: the fault clears and the detector resolves the ticket nobody took; a late subscriber sees neither.
        await device.PublishAsync($"{topic}/telemetry", $"{{\"seq\":5,\"ts\":\"{Time(start.AddSeconds(4))}\",\"values\":{{\"temperature\":176}},\"units\":{{\"temperature\":\"degF\"}}}}");
        await RetainedWhereAsync(
            mosquitto.Port,
            root,
            r => Value(r, "machine/oven-1/sensor/temperature") is > 79.999 and < 80.001 && Has(r, "kpi/openTickets", "{\"value\":0}")
                && !r.Keys.Any(t => t.Contains("/fault/", StringComparison.Ordinal) || t.Contains("/ticket/", StringComparison.Ordinal)),
            "no retained fault or ticket once it cleared");

        // The broker comes back without its store: only the publisher can bring the picture back.
        await mosquitto.RestartAsync(keepData: false);
        picture = await RetainedWhereAsync(
            mosquitto.Port,
            root,
            r => Value(r, "machine/oven-1/sensor/temperature") is > 79.999 and < 80.001 && Has(r, "machine/oven-1/counts/good", "{\"value\":3}")
                && r.ContainsKey("line/line-1/status") && r.ContainsKey("kpi/openTickets"),
            "the picture republished after the broker restarted\n" + gateway.Output);
        Assert.DoesNotContain(picture.Keys, t => t.Contains("/fault/", StringComparison.Ordinal) || t.Contains("/ticket/", StringComparison.Ordinal));
        Assert.Contains("running", picture["machine/oven-1/status"].Payload, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Publish_back_topics_are_never_ingested_even_where_a_template_of_another_gateway_covers_them()
    {
        using var temp = new TempDirectory();
        await using var mosquitto = await MosquittoProcess.StartAsync(temp.Sub("mosquitto"));
        var factory = "pb-" + Guid.NewGuid().ToString("N")[..8];
        await using var publisher = new GatewayProcess(temp.Sub("publisher"), Publishing(mosquitto, factory));
        await publisher.StartAsync();
        await using var device = await TestDevice.ConnectAsync(mosquitto.Port);
        await device.PublishAsync($"factory/{factory}/machine/m-1/telemetry", $"{{\"seq\":1,\"ts\":\"{TestDevice.Now()}\",\"values\":{{\"temperature\":71.5}}}}");
        await RetainedWhereAsync(mosquitto.Port, $"twin/{factory}", r => r.ContainsKey("machine/m-1/sensor/temperature"), "the publisher's values retained");

        // A second gateway whose UNS template takes twin/{site}/machine/{machine}/{tag}: the publisher's topics too.
        await using var mirror = new GatewayProcess(temp.Sub("mirror"), new Dictionary<string, string>
        {
            ["Twin:Broker:Enabled"] = "false",
            ["Twin:Mqtt:Port"] = mosquitto.Port.ToString(CultureInfo.InvariantCulture),
            ["Twin:Profiles:mirror:Topics:0:Topic"] = "twin/{site}/machine/{machine}/{tag}",
        });
        await mirror.StartAsync();
        await ConnectedAsync(mirror, "mqtt");

        // A plain message on a topic of that template is taken; it comes after the retained ones.
        await device.PublishAsync("twin/probe/machine/probe-1/temperature", "21.5");
        await Wait.ForAsync(() => mirror.GetJsonAsync("/api/factories/mirror/machines/probe-1"), Deadline, "the plain UNS message ingested by the second gateway");

        var machines = (await mirror.GetJsonAsync("/api/factories/mirror/machines"))!.Value;
        Assert.Equal(["probe-1"], machines.GetProperty("items").EnumerateArray().Select(m => m.GetProperty("id").GetString()!).ToArray());
        Assert.Null(await mirror.GetJsonAsync("/api/factories/mirror/machines/m-1"));
        var metrics = await mirror.Http.GetStringAsync("/metrics");
        var echoes = metrics.Split('\n').Where(l => l.StartsWith("twin_uns_echoes_ignored_total", StringComparison.Ordinal)).Sum(l => double.Parse(l.Split(' ')[^1], CultureInfo.InvariantCulture));
        Assert.True(echoes > 0, "the second gateway received the publish-back messages and left them out:\n" + metrics);
    }

    [Theory]
    [InlineData("Twin:Uns:Publish:Qos", "5", "Twin:Uns:Publish:Qos")]
    [InlineData("Twin:Uns:Publish:Root", "factory/{factory}", "Twin:Uns:Publish:Root")]
    public async Task A_bad_publish_back_setting_stops_the_start_naming_it(string setting, string value, string named)
    {
        using var temp = new TempDirectory();
        var dll = Repository.ProgramDll("Twin.Gateway");
        await using var process = ChildProcess.Start(
            "dotnet",
            [dll, $"--urls=http://127.0.0.1:{Ports.Free()}", "--Twin:Simulator:Enabled=false", $"--Twin:Broker:Port={Ports.Free()}", $"--Twin:Storage:SqlitePath={temp.Sub("db")}/twin.db",
                "--Twin:Uns:Publish:Enabled=true", "--Twin:Uns:Publish:Factories:0=plant-a", $"--{setting}={value}"],
            Path.GetDirectoryName(dll));
        var exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, exit);
        Assert.Contains(named, process.Output, StringComparison.Ordinal);
    }

    private static Dictionary<string, string> Publishing(MosquittoProcess mosquitto, string factory) => new()
    {
        ["Twin:Broker:Enabled"] = "false",
        ["Twin:Mqtt:Port"] = mosquitto.Port.ToString(CultureInfo.InvariantCulture),
        ["Twin:Uns:Publish:Enabled"] = "true",
        ["Twin:Uns:Publish:Factories:0"] = factory,
        ["Twin:Uns:Publish:KpiInterval"] = "00:00:01",
        ["Twin:Uns:Publish:MaxPublishesPerSecond"] = "20",
    };

    private static Task ConnectedAsync(GatewayProcess gateway, string check) =>
        Wait.UntilAsync(
            async () => (await gateway.GetJsonAsync("/health/ready"))?.GetProperty("checks").GetProperty(check).GetProperty("status").GetString() == "Healthy",
            Deadline,
            $"{check} connected to mosquitto");

    private static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static bool Has(Dictionary<string, Retained> retained, string topic, string payload) =>
        retained.TryGetValue(topic, out var r) && r.Payload == payload;

    private static double? Value(Dictionary<string, Retained> retained, string topic) =>
        retained.TryGetValue(topic, out var r) && JsonDocument.Parse(r.Payload).RootElement.TryGetProperty("value", out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    /// <summary>Connects a new subscriber again and again until what the broker retains under <paramref name="root"/> satisfies <paramref name="condition"/>.</summary>
    private static Task<Dictionary<string, Retained>> RetainedWhereAsync(int port, string root, Func<Dictionary<string, Retained>, bool> condition, string what) =>
        Wait.ForAsync(async () => await RetainedAsync(port, root) is var r && condition(r) ? r : null, Deadline, what);

    /// <summary>What a subscriber that connects now gets as retained messages under <paramref name="root"/>, by topic below it.</summary>
    private static async Task<Dictionary<string, Retained>> RetainedAsync(int port, string root)
    {
        var retained = new System.Collections.Concurrent.ConcurrentDictionary<string, Retained>(StringComparer.Ordinal);
        var last = Environment.TickCount64;
        using var client = new MqttClientFactory().CreateMqttClient();
        client.ApplicationMessageReceivedAsync += e =>
        {
            var message = e.ApplicationMessage;
            if (message.Retain)
            {
                var origin = message.UserProperties?.FirstOrDefault(p => p.Name == "twin-origin")?.ReadValueAsString();
                retained[message.Topic[(root.Length + 1)..]] = new Retained(Encoding.UTF8.GetString(message.Payload), origin);
                Interlocked.Exchange(ref last, Environment.TickCount64);
            }

            return Task.CompletedTask;
        };
        try
        {
            await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
                .WithClientId("late-" + Guid.NewGuid().ToString("N")[..8]).WithCleanStart(true).Build());
        }
        catch (MQTTnet.Exceptions.MqttCommunicationException)
        {
            // The broker is restarting: nothing retained yet.
            return [];
        }

        await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(f => f.WithTopic(root + "/#").WithAtLeastOnceQoS()).Build());
        Interlocked.Exchange(ref last, Environment.TickCount64);
        var until = Environment.TickCount64 + 5000;
        while (Environment.TickCount64 - Interlocked.Read(ref last) < 300 && Environment.TickCount64 < until)
        {
            await Task.Delay(50);
        }

        await client.DisconnectAsync();
        return new Dictionary<string, Retained>(retained, StringComparer.Ordinal);
    }

    private sealed record Retained(string Payload, string? Origin);
}
