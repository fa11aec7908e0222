using System.Text.Json;
using Twin.Testing;

namespace Twin.Gateway.Tests.EndToEnd;

/// <summary>Unified Namespace JSON through the real gateway: three template shapes, line membership from the topic.</summary>
public class UnsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Uns_topics_of_several_template_shapes_reach_their_twins_and_lines()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Sub("data"), new Dictionary<string, string>
        {
            // ISA-95 path, one value per tag; the factory is the profile's.
            ["Twin:Profiles:plant-uns:Topics:0:Topic"] = "acme/{site}/{area}/{line}/{machine}/{tag}",
            ["Twin:Profiles:plant-uns:Topics:1:Topic"] = "plc/{machine}/values/{tag}",
            ["Twin:Profiles:plant-uns:Sensors:temperature:Aliases:0"] = "hydraulics/Oil Temp",
            ["Twin:Profiles:plant-uns:Sensors:temperature:Unit"] = "degC",
            // UMH historian objects of tags, the factory from the topic (default profile).
            ["Twin:Profiles:default:Topics:0:Topic"] = "umh/v1/{factory}/{site}/{area}/{line}/{machine}/_historian/{tag}",
            ["Twin:Profiles:default:Topics:0:Payload"] = "Tags",
            ["Twin:Profiles:default:Topics:0:TimestampField"] = "timestamp_ms",
            // {value, timestamp, unit} under a flat topic, no line.
            ["Twin:Profiles:plant-flat:Topics:0:Topic"] = "flat/{machine}/{tag}",
            ["Twin:Profiles:plant-flat:Topics:0:Payload"] = "ValueTimestamp",
        });
        await gateway.StartAsync();
        await using var device = await TestDevice.ConnectAsync(gateway.MqttPort);

        await device.PublishAsync("acme/berlin/body/line-3/press-7/hydraulics/Oil Temp", "71.5");
        await device.PublishAsync("acme/berlin/body/line-3/press-7/cycle_time", "12.25");
        var press = await MachineAsync(gateway, "plant-uns", "press-7", s => s.GetProperty("sensors").GetArrayLength() == 2);
        Assert.Equal(71.5, Value(press, "temperature"));
        Assert.Equal("degC", Sensor(press, "temperature").GetProperty("unit").GetString());
        Assert.Equal(12.25, Value(press, "cycle_time"));
        var line = await Wait.ForAsync(
            async () => await gateway.GetJsonAsync("/api/factories/plant-uns/lines/line-3") is { } l && l.GetProperty("machines").GetArrayLength() == 1 ? l : (JsonElement?)null,
            Deadline,
            "press-7 joined line-3 from its topic\n" + gateway.Output);
        Assert.Equal("press-7", line.GetProperty("machines")[0].GetProperty("id").GetString());

        var at = DateTimeOffset.UtcNow.AddSeconds(-30).ToUnixTimeMilliseconds();
        await device.PublishAsync("umh/v1/plant-umh/site/area/line-1/mill-2/_historian/spindle", $"{{\"timestamp_ms\":{at},\"speed\":1200,\"load\":0.75,\"note\":\"ok\"}}");
        var mill = await MachineAsync(gateway, "plant-umh", "mill-2", s => s.GetProperty("sensors").GetArrayLength() == 2);
        Assert.Equal(1200, Value(mill, "spindle.speed"));
        Assert.Equal(0.75, Value(mill, "spindle.load"));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(at), Sensor(mill, "spindle.speed").GetProperty("timestamp").GetDateTimeOffset());

        // UMH's standard historian topic names no tag level: the payload's tags are the sensors.
        await device.PublishAsync("umh/v1/plant-umh/berlin/body/line-1/mill-3/_historian", $"{{\"timestamp_ms\":{at},\"temperature\":23.5}}");
        var mill3 = await MachineAsync(gateway, "plant-umh", "mill-3", s => s.GetProperty("sensors").GetArrayLength() == 1);
        Assert.Equal(23.5, Value(mill3, "temperature"));

        // Under a template's subscription but not of its shape: the dead letter names the template,
        // under the template's factory; a topic with no factory at all counts under _unrouted.
        await device.PublishAsync("plc/m9/values", "1");
        await device.PublishAsync("factory/bad$id/machine/m/telemetry", "{}");
        var unmatched = await Wait.ForAsync(
            async () => await gateway.GetJsonAsync("/api/factories/plant-uns/dead-letters") is { } d && d.GetProperty("total").GetInt64() == 1 ? d : (JsonElement?)null,
            Deadline,
            "the unmatched UNS topic as a dead letter of plant-uns");
        var item = unmatched.GetProperty("items")[0];
        Assert.Equal(("plc/m9/values", "topic.template", "uns"), (item.GetProperty("topic").GetString(), item.GetProperty("reasonCode").GetString(), item.GetProperty("source").GetString()));
        Assert.EndsWith("template plc/{machine}/values/{tag}, but not the template's: it has 3 levels, the template at least 4", item.GetProperty("reason").GetString(), StringComparison.Ordinal);
        var ingest = await Wait.ForAsync(
            async () => await gateway.GetJsonAsync("/api/gateway/ingest") is { } i && i.GetProperty("factories").TryGetProperty("_unrouted", out _) ? i : (JsonElement?)null,
            Deadline,
            "the topic without a factory counted under _unrouted");
        Assert.Equal(1, ingest.GetProperty("factories").GetProperty("_unrouted").GetProperty("rejectedByReason").GetProperty("topic.factory").GetInt64());
        Assert.False(ingest.GetProperty("factories").TryGetProperty("", out _));
        Assert.Equal(1, ingest.GetProperty("factories").GetProperty("plant-uns").GetProperty("rejectedByReason").GetProperty("topic.template").GetInt64());

        await device.PublishAsync("flat/oven-1/temperature", $"{{\"value\":212,\"timestamp\":\"{TestDevice.Now()}\",\"unit\":\"degF\"}}");
        var oven = await MachineAsync(gateway, "plant-flat", "oven-1", s => s.GetProperty("sensors").GetArrayLength() == 1);
        Assert.Equal(100, Value(oven, "temperature"), 9);
        Assert.Equal("degC", Sensor(oven, "temperature").GetProperty("unit").GetString());

        await device.PublishAsync("flat/oven-1/temperature", "{\"value\":\"hot\"}");
        var letters = await Wait.ForAsync(
            async () => await gateway.GetJsonAsync("/api/factories/plant-flat/dead-letters") is { } d && d.GetProperty("total").GetInt64() == 1 ? d : (JsonElement?)null,
            Deadline,
            "the bad UNS payload as a dead letter");
        Assert.Equal("values.not-number", letters.GetProperty("items")[0].GetProperty("reasonCode").GetString());
        Assert.Equal("uns", letters.GetProperty("items")[0].GetProperty("source").GetString());
    }

    [Fact]
    public async Task A_retained_uns_value_is_taken_once_and_not_again_at_every_restart()
    {
        using var temp = new TempDirectory();
        await using var mosquitto = await MosquittoProcess.StartAsync(temp.Sub("mosquitto"));
        var settings = new Dictionary<string, string>
        {
            ["Twin:Broker:Enabled"] = "false",
            ["Twin:Mqtt:Port"] = mosquitto.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Twin:Mqtt:ClientId"] = "gateway-retained",
            ["Twin:Profiles:plant-r:Topics:0:Topic"] = "acme/{line}/{machine}/{tag}",
        };

        // A plant system keeps its latest value retained, without a time: its arrival is its event time.
        using (var publisher = new MQTTnet.MqttClientFactory().CreateMqttClient())
        {
            await publisher.ConnectAsync(new MQTTnet.MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", mosquitto.Port).Build());
            await publisher.PublishAsync(new MQTTnet.MqttApplicationMessageBuilder().WithTopic("acme/l1/m1/level").WithPayload("42").WithRetainFlag().WithQualityOfServiceLevel(MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce).Build());
            await publisher.DisconnectAsync(new MQTTnet.MqttClientDisconnectOptionsBuilder().Build());
        }

        DateTimeOffset taken;
        await using (var gateway = new GatewayProcess(temp.Sub("data"), settings))
        {
            await gateway.StartAsync();
            var m1 = await MachineAsync(gateway, "plant-r", "m1", s => s.GetProperty("ingest").GetProperty("applied").GetInt64() == 1);
            Assert.Equal(42, Value(m1, "level"));
            taken = Sensor(m1, "level").GetProperty("timestamp").GetDateTimeOffset();
            await gateway.StopAsync();
        }

        // Started again on its persistent session: the retained value is not delivered again. A
        // reading for the same machine after it (its twin takes them in order) shows when it would have come.
        await using (var gateway = new GatewayProcess(temp.Sub("data"), settings))
        {
            await gateway.StartAsync();
            await gateway.WaitConsumingAsync(Deadline);
            await using var device = await TestDevice.ConnectAsync(mosquitto.Port);
            await device.PublishAsync("acme/l1/m1/marker", "1");
            var m1 = await MachineAsync(gateway, "plant-r", "m1", s => s.GetProperty("sensors").GetArrayLength() == 2);
            Assert.Equal(2, m1.GetProperty("ingest").GetProperty("applied").GetInt64());
            Assert.Equal(taken, Sensor(m1, "level").GetProperty("timestamp").GetDateTimeOffset());
        }
    }

    private static double Value(JsonElement machine, string sensor) => Sensor(machine, sensor).GetProperty("value").GetDouble();

    private static JsonElement Sensor(JsonElement machine, string sensor) =>
        machine.GetProperty("sensors").EnumerateArray().Single(s => s.GetProperty("sensor").GetString() == sensor);

    private static Task<JsonElement> MachineAsync(GatewayProcess gateway, string factory, string machine, Func<JsonElement, bool> condition) =>
        Wait.ForAsync(
            async () => await gateway.GetJsonAsync($"/api/factories/{factory}/machines/{machine}") is { } s && condition(s) ? s : (JsonElement?)null,
            Deadline,
            $"the twin {factory}/{machine}");
}
