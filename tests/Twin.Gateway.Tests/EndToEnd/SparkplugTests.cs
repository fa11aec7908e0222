using System.Text.Json;
using System.Text.RegularExpressions;
using MQTTnet;
using Twin.Testing;

namespace Twin.Gateway.Tests.EndToEnd;

/// <summary>
/// The gateway as a Sparkplug B host against an edge node on Eclipse Tahu's JavaScript client
/// (tests/peers/sparkplug/edge-node.js), through a real Mosquitto.
/// </summary>
public class SparkplugTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private const string Group = "plant-sp";

    [Fact]
    public async Task A_tahu_edge_node_births_data_gaps_rebirths_and_deaths_reach_the_twins_exactly()
    {
        using var temp = new TempDirectory();
        await using var mosquitto = await MosquittoProcess.StartAsync(temp.Sub("mosquitto"));
        var port = mosquitto.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await using var gateway = new GatewayProcess(temp.Sub("data"), new Dictionary<string, string>
        {
            ["Twin:Broker:Enabled"] = "false",
            ["Twin:Mqtt:Port"] = port,
            ["Twin:Sparkplug:HostId"] = "twin-test",
            ["Twin:Sparkplug:RebirthInterval"] = "00:00:00.2",
            // Metric names map to canonical sensors through the mapping profile, as for JSON.
            ["Twin:Profiles:default:Sensors:temperature:Aliases:0"] = "Motor/Temperature",
            ["Twin:Profiles:default:Sensors:temperature:Unit"] = "degC",
        });
        await gateway.StartAsync();
        await Wait.UntilAsync(
            async () => (await gateway.GetJsonAsync("/health/ready"))?.GetProperty("checks").GetProperty("mqtt").GetProperty("status").GetString() == "Healthy",
            Deadline,
            "the consumer connected to mosquitto");

        // Sparkplug 3.0 STATE: retained, online, with a timestamp.
        var state = await RetainedAsync(mosquitto.Port, "spBv1.0/STATE/twin-test");
        Assert.True(state.GetProperty("online").GetBoolean());
        Assert.True(state.GetProperty("timestamp").GetInt64() > 0);

        await using var edge = await EdgeNode.StartAsync(mosquitto.Port);
        await edge.WaitForAsync("\"births\",\"count\":1");

        // The births' values, names mapped (profile alias, '/' → '.', ' ' → '_'), units from engUnit.
        var press = await MachineAsync(gateway, "press-1", s => Value(s, "temperature") == 70.5);
        Assert.Equal("degC", Sensor(press, "temperature").GetProperty("unit").GetString());
        Assert.Equal(1200, Value(press, "spindle_speed"));
        Assert.Equal("rpm", Sensor(press, "spindle_speed").GetProperty("unit").GetString());
        Assert.Equal(2.5, Value(press, "vibration"));
        Assert.Equal(1, Value(press, "Running"));
        Assert.Equal(-12, Value(press, "Offset"));
        Assert.Equal(123456789012, Value(press, "Part_Count"));
        Assert.False(press.GetProperty("sensors").EnumerateArray().Any(s => s.GetProperty("sensor").GetString() == "Serial"), "a string metric is no sensor");
        var node = await MachineAsync(gateway, "edge-1", s => Value(s, "Uptime") == 3600);
        Assert.Equal("s", Sensor(node, "Uptime").GetProperty("unit").GetString());

        // DDATA by alias.
        await edge.SendAsync("""{"op":"ddata","device":"press-1","values":{"Motor/Temperature":71.25,"Offset":-7,"Running":false}}""");
        press = await MachineAsync(gateway, "press-1", s => Value(s, "temperature") == 71.25);
        Assert.Equal(-7, Value(press, "Offset"));
        Assert.Equal(0, Value(press, "Running"));
        Assert.Equal(1200, Value(press, "spindle_speed"));

        // A sequence gap: the message after it is counted, not taken, and a rebirth is requested.
        await edge.SendAsync("""{"op":"gap","skip":2}""");
        await edge.SendAsync("""{"op":"ddata","device":"press-1","values":{"Motor/Temperature":99},"remember":false}""");
        await edge.WaitForAsync("rebirth-request");
        await edge.WaitForAsync("\"births\",\"count\":2");
        var letters = await DeadLettersAsync(gateway, d => Count(d, "sparkplug.seq-gap") == 1);
        var gap = letters.GetProperty("items").EnumerateArray().Single(i => i.GetProperty("reasonCode").GetString() == "sparkplug.seq-gap");
        Assert.Equal($"spBv1.0/{Group}/DDATA/edge-1/press-1", gap.GetProperty("topic").GetString());
        Assert.Contains("99", gap.GetProperty("payload").GetString(), StringComparison.Ordinal);

        // After the rebirth, data by alias again.
        await edge.SendAsync("""{"op":"ddata","device":"press-1","values":{"Motor/Temperature":72,"Vibration":3.75}}""");
        press = await MachineAsync(gateway, "press-1", s => Value(s, "temperature") == 72);
        Assert.Equal(3.75, Value(press, "vibration"));
        Assert.Equal(-7, Value(press, "Offset"));
        Assert.DoesNotContain(press.GetProperty("sensors").EnumerateArray(), s => s.GetProperty("value").GetDouble() == 99);

        // An alias no birth gave: counted, and a rebirth is asked for.
        await edge.SendAsync("""{"op":"alias","device":"press-1","alias":99,"value":5}""");
        await edge.WaitForAsync("\"births\",\"count\":3");
        await DeadLettersAsync(gateway, d => Count(d, "sparkplug.unknown-alias") == 1);

        // Data of a device that had no birth in this session.
        await edge.SendAsync("""{"op":"ddata","device":"press-9","values":{"Motor/Temperature":10},"remember":false}""");
        await edge.WaitForAsync("\"births\",\"count\":4");
        await DeadLettersAsync(gateway, d => Count(d, "sparkplug.before-birth") == 1);
        Assert.Null(await gateway.GetJsonAsync($"/api/factories/{Group}/machines/press-9"));

        var ingest = (await gateway.GetJsonAsync("/api/gateway/ingest"))!.Value.GetProperty("factories").GetProperty(Group);
        Assert.Equal(1, ingest.GetProperty("rejectedByReason").GetProperty("sparkplug.seq-gap").GetInt64());
        Assert.Equal(1, ingest.GetProperty("rejectedByReason").GetProperty("sparkplug.unknown-alias").GetInt64());
        Assert.Equal(1, ingest.GetProperty("rejectedByReason").GetProperty("sparkplug.before-birth").GetInt64());

        // Deaths: DDEATH takes the device offline, NDEATH the edge node.
        await edge.SendAsync("""{"op":"ddeath","device":"press-1"}""");
        press = await MachineAsync(gateway, "press-1", s => s.GetProperty("status").GetString() == "offline");
        Assert.Equal(72, Value(press, "temperature"));
        Assert.NotEqual("offline", (await gateway.GetJsonAsync($"/api/factories/{Group}/machines/edge-1"))!.Value.GetProperty("status").GetString());
        await edge.SendAsync("""{"op":"ndeath"}""");
        await MachineAsync(gateway, "edge-1", s => s.GetProperty("status").GetString() == "offline");
        Assert.Equal(0, Count((await gateway.GetJsonAsync($"/api/factories/{Group}/dead-letters"))!.Value, "sparkplug.stale-death"));
    }

    [Fact]
    public async Task An_edge_account_of_the_embedded_broker_is_a_sparkplug_node_of_its_own_factory_only()
    {
        const string password = "edge-password-1";
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Sub("data"), new Dictionary<string, string>
        {
            ["Twin:Sparkplug:RebirthInterval"] = "00:00:00.2",
            ["Twin:Broker:Devices:0:Username"] = "edge-a",
            ["Twin:Broker:Devices:0:Password"] = password,
            ["Twin:Broker:Devices:0:Factory"] = Group,
            ["Twin:Broker:Devices:0:Machines:0"] = "press-1",
            ["Twin:Broker:Devices:0:EdgeNodes:0"] = "edge-1",
            ["Twin:Broker:Devices:1:Username"] = "edge-b",
            ["Twin:Broker:Devices:1:Password"] = password,
            ["Twin:Broker:Devices:1:Factory"] = "plant-b",
            ["Twin:Broker:Devices:1:Machines:0"] = "*",
            ["Twin:Broker:Devices:1:EdgeNodes:0"] = "*",
        });
        await gateway.StartAsync();

        // Eclipse Tahu's node as edge-a: births and data pass the ACL, and the rebirth request
        // (an NCMD only the gateway may publish) reaches it.
        await using var edge = await EdgeNode.StartAsync(gateway.MqttPort, environment: new Dictionary<string, string> { ["SP_USERNAME"] = "edge-a", ["SP_PASSWORD"] = password });
        await edge.WaitForAsync("\"births\",\"count\":1");
        await MachineAsync(gateway, "press-1", s => Value(s, "Motor.Temperature") == 70.5);

        await edge.SendAsync("""{"op":"gap","skip":1}""");
        await edge.SendAsync("""{"op":"ddata","device":"press-1","values":{"Motor/Temperature":50},"remember":false}""");
        await edge.WaitForAsync("rebirth-request");
        await edge.WaitForAsync("\"births\",\"count\":2");

        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", gateway.MqttPort).WithClientId("edge-a-2")
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500).WithCredentials("edge-a", password).Build());
        foreach (var topic in new[]
        {
            $"spBv1.0/{Group}/NCMD/edge-1", // commands come from the host only
            "spBv1.0/STATE/twin-gateway", // so does the host's state
            "spBv1.0/plant-b/NBIRTH/edge-1", // another factory's group
            $"spBv1.0/{Group}/NDATA/edge-2", // another edge node
            $"spBv1.0/{Group}/DDATA/edge-1/press-2", // another machine
        })
        {
            var result = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload([1]).WithQualityOfServiceLevel(MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce).Build());
            Assert.True(result.ReasonCode == MqttClientPublishReasonCode.NotAuthorized, $"{topic}: {result.ReasonCode}");
        }

        var subscribed = await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("spBv1.0/#").Build());
        Assert.Equal(MqttClientSubscribeResultCode.NotAuthorized, subscribed.Items.Single().ResultCode);

        await edge.SendAsync("""{"op":"ndeath"}""");
        await MachineAsync(gateway, "edge-1", s => s.GetProperty("status").GetString() == "offline");
        await MachineAsync(gateway, "press-1", s => s.GetProperty("status").GetString() == "offline");
    }

    [Fact]
    public async Task A_birth_with_bad_metrics_delivers_the_good_ones_and_dead_letters_each_bad_one()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Sub("data"), new Dictionary<string, string> { ["Twin:Sparkplug:RebirthInterval"] = "00:00:00.2" });
        await gateway.StartAsync();
        await using var edge = await EdgeNode.StartAsync(gateway.MqttPort);
        await edge.WaitForAsync("\"births\",\"count\":1");

        // One DBIRTH, as Eclipse Tahu encodes it: good metrics, more than one message may carry
        // (Twin:Ingest:MaxValuesPerMessage, 256), and some no twin can take.
        var metrics = new List<object>
        {
            new { name = "good1", alias = 1, type = "Double", value = (object)11 },
            new { name = "nanm", alias = 2, type = "Double", value = (object)"NaN" },
            new { name = "Big", alias = 3, type = "Int64", value = (object)"9007199254740993" },
            new { name = "UBig", alias = 4, type = "UInt64", value = (object)"18446744073709551615" },
            new { name = "Neg64", alias = 5, type = "Int64", value = (object)"-42" },
            new { name = "Exact", alias = 6, type = "Int64", value = (object)"999999999999999" },
            new { name = "Motor/Temp", alias = 7, type = "Double", value = (object)20 },
            new { name = "Motor.Temp", alias = 8, type = "Double", value = (object)30 },
        };
        metrics.Add(new { name = "Len", alias = 9, type = "Double", value = (object)5, unit = "furlongs" });
        for (var i = 0; i < 300; i++)
        {
            metrics.Add(new { name = $"m{i}", alias = 100 + i, type = "Double", value = (object)i });
        }

        await edge.SendAsync(JsonSerializer.Serialize(new { op = "dbirth", device = "press-2", metrics }));
        var twin = await MachineAsync(gateway, "press-2", s => s.GetProperty("sensors").GetArrayLength() == 304);
        Assert.Equal(11, Value(twin, "good1"));
        Assert.Equal(-42, Value(twin, "Neg64"));
        Assert.Equal(999999999999999, Value(twin, "Exact"));
        Assert.Equal(20, Value(twin, "Motor.Temp"));
        Assert.Equal(299, Value(twin, "m299"));
        Assert.Equal(0, Value(twin, "m0"));

        // Each bad metric is a dead letter of its own, naming it.
        var letters = await DeadLettersAsync(gateway, d => d.GetProperty("items").GetArrayLength() >= 5);
        var reasons = letters.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("reason").GetString()!).ToList();
        Assert.Equal(5, reasons.Count);
        Assert.Contains(reasons, r => r.StartsWith("values.not-number: metric 'nanm'", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.StartsWith("values.out-of-range: metric 'Big' is 9007199254740992", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.StartsWith("values.out-of-range: metric 'UBig'", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.StartsWith("values.duplicate: metric 'Motor.Temp'", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.StartsWith("units.unknown:", StringComparison.Ordinal) && r.EndsWith("(metric 'Len')", StringComparison.Ordinal));

        // Data of the same device: one bad metric costs only itself.
        await edge.SendAsync("""{"op":"ddata","device":"press-2","values":{"good1":12,"nanm":"NaN","m5":55}}""");
        twin = await MachineAsync(gateway, "press-2", s => Value(s, "good1") == 12);
        Assert.Equal(55, Value(twin, "m5"));
        await DeadLettersAsync(gateway, d => Count(d, "values.not-number") == 2);

        // Nothing of it needed a rebirth.
        Assert.DoesNotContain("rebirth-request", edge.Output, StringComparison.Ordinal);
        Assert.Equal(0, Count((await gateway.GetJsonAsync($"/api/factories/{Group}/dead-letters"))!.Value, "sparkplug.unknown-alias"));
    }

    [Fact]
    public async Task Compressed_payloads_of_a_tahu_node_are_taken_like_plain_ones()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Sub("data"), new Dictionary<string, string> { ["Twin:Sparkplug:RebirthInterval"] = "00:00:00.2" });
        await gateway.StartAsync();
        await using var edge = await EdgeNode.StartAsync(gateway.MqttPort);
        await edge.WaitForAsync("\"births\",\"count\":1");

        // Eclipse Tahu's {compress: true}: uuid SPBV1.0_COMPRESSED, the payload DEFLATE-compressed in
        // the body (seq inside); with an algorithm, GZIP, named by an 'algorithm' metric outside.
        await edge.SendAsync("""{"op":"compress"}""");
        await edge.SendAsync("""{"op":"dbirth","device":"press-3","metrics":[{"name":"a","alias":1,"type":"Double","value":1},{"name":"b","alias":2,"type":"Double","value":1}]}""");
        await MachineAsync(gateway, "press-3", s => s.GetProperty("sensors").GetArrayLength() == 2);
        await edge.SendAsync("""{"op":"ddata","device":"press-3","values":{"a":2}}""");
        await edge.SendAsync("""{"op":"compress","algorithm":"GZIP"}""");
        await edge.SendAsync("""{"op":"ddata","device":"press-3","values":{"b":3}}""");
        var press = await MachineAsync(gateway, "press-3", s => Value(s, "a") == 2 && Value(s, "b") == 3);
        Assert.Equal(3, press.GetProperty("ingest").GetProperty("applied").GetInt64());

        // A gap: the rebirth that answers it is compressed too (the NBIRTH with its bdSeq inside).
        await edge.SendAsync("""{"op":"gap","skip":1}""");
        await edge.SendAsync("""{"op":"ddata","device":"press-3","values":{"a":99},"remember":false}""");
        await edge.WaitForAsync("\"births\",\"count\":2");
        await edge.SendAsync("""{"op":"ddata","device":"press-3","values":{"a":4}}""");
        await MachineAsync(gateway, "press-3", s => Value(s, "a") == 4);

        var letters = (await gateway.GetJsonAsync($"/api/factories/{Group}/dead-letters"))!.Value;
        Assert.Equal(["sparkplug.seq-gap"], letters.GetProperty("countsByReason").EnumerateObject().Select(p => p.Name));
        Assert.Equal(1, Count(letters, "sparkplug.seq-gap"));
        Assert.Single(Regex.Matches(edge.Output, "rebirth-request"));
    }

    [Fact]
    public async Task One_edge_node_id_in_two_groups_of_one_factory_is_refused_not_mixed()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Sub("data"), new Dictionary<string, string> { ["Twin:Sparkplug:Factories:line-7"] = Group });
        await gateway.StartAsync();
        await using var first = await EdgeNode.StartAsync(gateway.MqttPort);
        await first.WaitForAsync("\"births\",\"count\":1");
        await MachineAsync(gateway, "press-1", s => Value(s, "Motor.Temperature") == 70.5);

        // Another Tahu node with the same ids in a group mapped to the same factory.
        await using var second = await EdgeNode.StartAsync(gateway.MqttPort, environment: new Dictionary<string, string> { ["SP_GROUP"] = "line-7" });
        await second.WaitForAsync("\"births\",\"count\":1");
        var letters = await DeadLettersAsync(gateway, d => Count(d, "sparkplug.machine-conflict") == 2);
        Assert.All(letters.GetProperty("items").EnumerateArray(), i => Assert.StartsWith("spBv1.0/line-7/", i.GetProperty("topic").GetString(), StringComparison.Ordinal));
        Assert.Contains(letters.GetProperty("items").EnumerateArray(), i => i.GetProperty("reason").GetString()!.StartsWith($"sparkplug.machine-conflict: the machine {Group}/press-1 is fed by edge node 'edge-1' of group '{Group}'", StringComparison.Ordinal));

        await second.SendAsync("""{"op":"ddata","device":"press-1","values":{"Motor/Temperature":99}}""");
        await first.SendAsync("""{"op":"ddata","device":"press-1","values":{"Motor/Temperature":71}}""");
        var press = await MachineAsync(gateway, "press-1", s => Value(s, "Motor.Temperature") == 71);
        await DeadLettersAsync(gateway, d => Count(d, "sparkplug.machine-conflict") == 3);

        // The second one's death takes nothing of the first one's offline.
        await second.SendAsync("""{"op":"ndeath"}""");
        await first.SendAsync("""{"op":"ddata","device":"press-1","values":{"Motor/Temperature":72}}""");
        press = await MachineAsync(gateway, "press-1", s => Value(s, "Motor.Temperature") == 72);
        Assert.NotEqual("offline", press.GetProperty("status").GetString());
        Assert.NotEqual("offline", (await gateway.GetJsonAsync($"/api/factories/{Group}/machines/edge-1"))!.Value.GetProperty("status").GetString());
        Assert.Equal(0, press.GetProperty("ingest").GetProperty("sequenceRestarts").GetInt64());
        Assert.DoesNotContain(press.GetProperty("sensors").EnumerateArray(), s => s.GetProperty("value").GetDouble() == 99);
    }

    private static double Value(JsonElement machine, string sensor) => Sensor(machine, sensor).GetProperty("value").GetDouble();

    private static JsonElement Sensor(JsonElement machine, string sensor) =>
        machine.GetProperty("sensors").EnumerateArray().FirstOrDefault(s => s.GetProperty("sensor").GetString() == sensor) is { ValueKind: JsonValueKind.Object } found
            ? found
            : throw new Xunit.Sdk.XunitException($"no sensor {sensor} in {machine}");

    private static long Count(JsonElement letters, string reason) =>
        letters.GetProperty("countsByReason").TryGetProperty(reason, out var n) ? n.GetInt64() : 0;

    private static Task<JsonElement> MachineAsync(GatewayProcess gateway, string machine, Func<JsonElement, bool> condition) =>
        Wait.ForAsync(
            async () => await gateway.GetJsonAsync($"/api/factories/{Group}/machines/{machine}") is { } s && Try(condition, s) ? s : (JsonElement?)null,
            Deadline,
            $"the twin {machine} as expected");

    private static Task<JsonElement> DeadLettersAsync(GatewayProcess gateway, Func<JsonElement, bool> condition) =>
        Wait.ForAsync(
            async () => await gateway.GetJsonAsync($"/api/factories/{Group}/dead-letters") is { } d && condition(d) ? d : (JsonElement?)null,
            Deadline,
            "the dead letters as expected");

    private static bool Try(Func<JsonElement, bool> condition, JsonElement element)
    {
        try
        {
            return condition(element);
        }
        catch (Xunit.Sdk.XunitException)
        {
            return false;
        }
    }

    /// <summary>The retained message on <paramref name="topic"/>, as JSON.</summary>
    internal static async Task<JsonElement> RetainedAsync(int port, string topic)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        var received = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.ApplicationMessageReceivedAsync += e =>
        {
            received.TrySetResult(JsonDocument.Parse(e.ApplicationMessage.ConvertPayloadToString()).RootElement.Clone());
            return Task.CompletedTask;
        };
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("state-" + Guid.NewGuid().ToString("N")[..8]).Build());
        await client.SubscribeAsync(topic);
        var state = await received.Task.WaitAsync(Deadline);
        await client.DisconnectAsync();
        return state;
    }

    /// <summary>The Tahu edge node script as a child process, driven line by line.</summary>
    internal sealed class EdgeNode : IAsyncDisposable
    {
        private readonly ChildProcess _process;

        private EdgeNode(ChildProcess process) => _process = process;

        public static async Task<EdgeNode> StartAsync(int port, string node = "edge-1", string device = "press-1", IDictionary<string, string>? environment = null)
        {
            var folder = Path.Combine(Repository.Root, "tests", "peers", "sparkplug");
            if (!Directory.Exists(Path.Combine(folder, "node_modules", "sparkplug-client")))
            {
                throw new InvalidOperationException($"Eclipse Tahu's client is not installed: run 'npm ci' in {folder} (./test.sh does).");
            }

            var env = new Dictionary<string, string>
            {
                ["SP_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["SP_GROUP"] = Group,
                ["SP_NODE"] = node,
                ["SP_DEVICE"] = device,
            };
            foreach (var (key, value) in environment ?? new Dictionary<string, string>())
            {
                env[key] = value;
            }

            var edge = new EdgeNode(ChildProcess.Start("node", ["edge-node.js"], folder, env, standardInput: true));
            await edge.WaitForAsync("\"connected\"");
            return edge;
        }

        public string Output => _process.Output;

        public async Task SendAsync(string command)
        {
            var done = Occurrences("\"done\"");
            await _process.SendLineAsync(command);
            await Wait.UntilAsync(() => Task.FromResult(Occurrences("\"done\"") > done), Deadline, $"the edge node did {command}");
        }

        public Task WaitForAsync(string text) =>
            Wait.UntilAsync(
                () => _process.HasExited && !Output.Contains(text, StringComparison.Ordinal)
                    ? throw new InvalidOperationException("the edge node exited:\n" + Output)
                    : Task.FromResult(Output.Contains(text, StringComparison.Ordinal)),
                Deadline,
                $"the edge node printed {text}\n{Output}");

        private int Occurrences(string text)
        {
            var output = Output;
            var count = 0;
            for (var i = output.IndexOf(text, StringComparison.Ordinal); i >= 0; i = output.IndexOf(text, i + 1, StringComparison.Ordinal))
            {
                count++;
            }

            return count;
        }

        public ValueTask DisposeAsync() => _process.DisposeAsync();
    }
}
