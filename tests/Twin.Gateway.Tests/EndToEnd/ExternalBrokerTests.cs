using System.Text.Json;
using Twin.Testing;

namespace Twin.Gateway.Tests.EndToEnd;

/// <summary>The gateway against a real Mosquitto, and a separate silo process with the gateway in client mode.</summary>
public class ExternalBrokerTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    /// <summary>Mosquitto, a gateway consuming from it with one more setting, and a device connected to it.</summary>
    private static async Task<Plant> ConsumingAsync(TempDirectory temp, string key, string value)
    {
        var mosquitto = await MosquittoProcess.StartAsync(temp.Sub("mosquitto"));
        var gateway = new GatewayProcess(temp.Sub("data"), new Dictionary<string, string>
        {
            ["Twin:Broker:Enabled"] = "false",
            ["Twin:Mqtt:Port"] = mosquitto.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [key] = value,
        });
        var plant = new Plant(mosquitto, gateway);
        try
        {
            await gateway.StartAsync();
            await gateway.WaitConsumingAsync(Deadline);
            plant.Device = await TestDevice.ConnectAsync(mosquitto.Port);
            return plant;
        }
        catch
        {
            await plant.DisposeAsync();
            throw;
        }
    }

    private sealed class Plant(MosquittoProcess mosquitto, GatewayProcess gateway) : IAsyncDisposable
    {
        public GatewayProcess Gateway => gateway;

        public TestDevice Device { get; set; } = null!;

        public async ValueTask DisposeAsync()
        {
            if (Device is not null)
            {
                await Device.DisposeAsync();
            }

            await gateway.DisposeAsync();
            await mosquitto.DisposeAsync();
        }
    }

    [Fact]
    public async Task Readings_published_to_mosquitto_reach_the_twins()
    {
        using var temp = new TempDirectory();
        await using var mosquitto = await MosquittoProcess.StartAsync(temp.Sub("mosquitto"));
        await using var gateway = new GatewayProcess(temp.Sub("data"), new Dictionary<string, string>
        {
            ["Twin:Broker:Enabled"] = "false",
            ["Twin:Mqtt:Port"] = mosquitto.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        await gateway.StartAsync();
        await Wait.UntilAsync(
            async () => (await gateway.GetJsonAsync("/health/ready"))?.GetProperty("checks").GetProperty("mqtt").GetProperty("status").GetString() == "Healthy",
            Deadline,
            "the consumer connected to mosquitto");

        var payload = $"{{\"seq\":1,\"ts\":\"{TestDevice.Now()}\",\"values\":{{\"vibration\":3.25}},\"units\":{{\"vibration\":\"mm/s\"}}}}";
        await using (var pub = ChildProcess.Start("mosquitto_pub", ["-h", "127.0.0.1", "-p", mosquitto.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-q", "1", "-t", "factory/ext/machine/m-1/telemetry", "-m", payload]))
        {
            await Wait.UntilAsync(() => Task.FromResult(pub.HasExited), Deadline, "mosquitto_pub finished");
        }

        var snapshot = await Wait.ForAsync(() => gateway.GetJsonAsync("/api/factories/ext/machines/m-1"), Deadline, "the twin via mosquitto");
        Assert.Equal(3.25, snapshot.GetProperty("sensors")[0].GetProperty("value").GetDouble());
    }

    [Fact]
    public async Task Subscriptions_the_settings_no_longer_want_leave_the_persistent_session()
    {
        using var temp = new TempDirectory();
        await using var mosquitto = await MosquittoProcess.StartAsync(temp.Sub("mosquitto"));
        var port = mosquitto.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Dictionary<string, string> Settings(bool before)
        {
            var settings = new Dictionary<string, string>
            {
                ["Twin:Broker:Enabled"] = "false",
                ["Twin:Mqtt:Port"] = port,
                ["Twin:Mqtt:ClientId"] = "gateway-tidy",
                ["Twin:Sparkplug:Groups:0"] = "plant-a",
                ["Twin:Profiles:plant-a:Topics:0:Topic"] = "acme/{line}/{machine}/{tag}",
            };
            if (before)
            {
                // A group id that names no factory and a template of its own: their messages are dead letters of _unrouted.
                settings["Twin:Sparkplug:Groups:1"] = "old$group";
                settings["Twin:Profiles:plant-a:Topics:1:Topic"] = "old/{machine}/{tag}";
            }

            return settings;
        }

        await using (var first = new GatewayProcess(temp.Sub("data"), Settings(before: true)))
        {
            await first.StartAsync();
            await first.WaitConsumingAsync(Deadline);
            await first.StopAsync();
        }

        // The same gateway (client id, storage) with a group and a template less.
        await using var gateway = new GatewayProcess(temp.Sub("data"), Settings(before: false));
        await gateway.StartAsync();
        await gateway.WaitConsumingAsync(Deadline);
        await Wait.UntilAsync(() => Task.FromResult(gateway.Output.Contains("no longer want: ", StringComparison.Ordinal)), Deadline, "the stale filters unsubscribed\n" + gateway.Output);
        Assert.Contains("old/+/#", gateway.Output, StringComparison.Ordinal);
        Assert.Contains("spBv1.0/old$group/#", gateway.Output, StringComparison.Ordinal);

        // What the removed filters covered no longer comes; a dead letter of _unrouted after them
        // (the same dead-letter queue, in order) shows everything before it was handled.
        await using var device = await TestDevice.ConnectAsync(mosquitto.Port);
        await device.PublishAsync("old/m1/stale", "1");
        await device.PublishAsync("spBv1.0/old$group/NDATA/n1", "x");
        await device.PublishAsync("factory/bad$id/machine/m1/telemetry", "{}");
        var letters = await Wait.ForAsync(
            async () => await gateway.GetJsonAsync("/api/factories/_unrouted/dead-letters") is { } d && d.GetProperty("items").EnumerateArray().Any(i => i.GetProperty("topic").GetString()!.StartsWith("factory/bad", StringComparison.Ordinal)) ? d : (JsonElement?)null,
            Deadline,
            "the marker's dead letter");
        Assert.Equal(["factory/bad$id/machine/m1/telemetry"], letters.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("topic").GetString()));
    }

    [Fact]
    public async Task Topics_of_the_wrong_shape_under_factory_become_dead_letters()
    {
        using var temp = new TempDirectory();
        // A UNS template under the contract's root: delivered by its subscription, once.
        await using var plant = await ConsumingAsync(temp, "Twin:Profiles:shape:Topics:0:Topic", "factory/shape/area/cell/{machine}/{tag}");
        var (gateway, device) = (plant.Gateway, plant.Device);
        string[] wrong = ["factory/shape/press-1/telemetry", "factory/shape/machine/m1/telemetry/", "factory/shape/Machine/m1/telemetry", "factory/shape//m1/telemetry"];
        await device.PublishAsync("factory/shape/events/ticket.opened", "{}");
        await device.PublishAsync("factory/shape/area/cell/m2/level", "5");
        await device.PublishAsync("factory/shape/area/cell/m2/marker", "1");
        foreach (var topic in wrong)
        {
            await device.PublishAsync(topic, $"{{\"seq\":1,\"ts\":\"{TestDevice.Now()}\",\"values\":{{\"t\":1}}}}");
        }

        await device.PublishAsync("factory/shape/machine/m1/telemetry", $"{{\"seq\":1,\"ts\":\"{TestDevice.Now()}\",\"values\":{{\"t\":1}}}}");
        await Wait.ForAsync(
            async () => await gateway.GetJsonAsync("/api/factories/shape/machines/m1") is { } m && m.GetProperty("lastSeq").GetInt64() == 1 ? m : (JsonElement?)null,
            Deadline,
            "the contract's reading after the wrong ones");
        var letters = await Wait.ForAsync(
            async () => await gateway.GetJsonAsync("/api/factories/shape/dead-letters") is { } d && d.GetProperty("items").GetArrayLength() >= wrong.Length ? d : (JsonElement?)null,
            Deadline,
            "a dead letter for each wrong topic");
        var items = letters.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(wrong.Order(StringComparer.Ordinal), items.Select(i => i.GetProperty("topic").GetString()!).Order(StringComparer.Ordinal));
        Assert.All(items, i => Assert.Equal("topic.unknown", i.GetProperty("reasonCode").GetString()));

        // The template's two messages, each applied once (an overlapping subscription would double them).
        var m2 = await Wait.ForAsync(
            async () => await gateway.GetJsonAsync("/api/factories/shape/machines/m2") is { } m && m.GetProperty("sensors").GetArrayLength() == 2 ? m : (JsonElement?)null,
            Deadline,
            "the UNS machine");
        Assert.Equal(2, m2.GetProperty("ingest").GetProperty("applied").GetInt64());
    }

    [Fact]
    public async Task A_template_beginning_with_a_placeholder_takes_no_contract_message_a_second_time()
    {
        using var temp = new TempDirectory();
        // Subscribes +/+/machine/+/#: Mosquitto delivers each factory/… message for both subscriptions.
        await using var plant = await ConsumingAsync(temp, "Twin:Profiles:default:Topics:0:Topic", "{site}/{factory}/machine/{machine}/{tag}");
        var (gateway, device) = (plant.Gateway, plant.Device);
        await device.PublishAsync("factory/ov/machine/m1/telemetry", $"{{\"seq\":1,\"ts\":\"{TestDevice.Now()}\",\"values\":{{\"t\":1}}}}");
        await device.PublishAsync("factory/ov/machine/m1/level", "5");
        await device.PublishAsync("factory/ov/machine/m1/marker", "1");
        await device.PublishAsync("acme/ov/machine/m2/level", "5");
        await device.PublishAsync("factory/ov/machine/m1/telemetry", $"{{\"seq\":2,\"ts\":\"{TestDevice.Now()}\",\"values\":{{\"t\":2}}}}");

        // Seq 1's second copy would have come before seq 2: a duplicate.
        var m1 = await Wait.ForAsync(
            async () => await gateway.GetJsonAsync("/api/factories/ov/machines/m1") is { } m && m.GetProperty("lastSeq").GetInt64() == 2 ? m : (JsonElement?)null,
            Deadline,
            "the contract's two readings");
        Assert.Equal(0, m1.GetProperty("ingest").GetProperty("duplicates").GetInt64());
        Assert.Equal(2, m1.GetProperty("ingest").GetProperty("applied").GetInt64());

        // The wrong kind is the contract's dead letter, once (its copies come before the marker's).
        var letters = await Wait.ForAsync(
            async () => await gateway.GetJsonAsync("/api/factories/ov/dead-letters") is { } d && d.GetProperty("items").EnumerateArray().Any(i => i.GetProperty("topic").GetString()!.EndsWith("/marker", StringComparison.Ordinal)) ? d : (JsonElement?)null,
            Deadline,
            "the marker's dead letter");
        var level = letters.GetProperty("items").EnumerateArray().Where(i => i.GetProperty("topic").GetString() == "factory/ov/machine/m1/level").ToList();
        Assert.Equal("topic.kind", Assert.Single(level).GetProperty("reasonCode").GetString());

        var m2 = await Wait.ForAsync(() => gateway.GetJsonAsync("/api/factories/ov/machines/m2"), Deadline, "the UNS machine");
        Assert.Equal(1, m2.GetProperty("ingest").GetProperty("applied").GetInt64());
    }

    [Fact]
    public async Task A_gateway_in_client_mode_uses_a_separate_silo_process()
    {
        using var temp = new TempDirectory();
        var siloPort = Ports.Free();
        var gatewayPort = Ports.Free();
        var dll = Repository.ProgramDll("Twin.Silo");
        await using var silo = ChildProcess.Start("dotnet",
        [
            dll,
            $"--Twin:Storage:SqlitePath={temp.Sub("silo.db")}",
            $"--Twin:Cluster:SiloPort={siloPort}",
            $"--Twin:Cluster:GatewayPort={gatewayPort}",
        ], Path.GetDirectoryName(dll));
        await Wait.UntilAsync(
            async () => silo.HasExited ? throw new InvalidOperationException(await silo.ExitOutputAsync()) : await Ports.IsOpenAsync(gatewayPort),
            Deadline,
            "the silo's gateway port open");

        await using var gateway = new GatewayProcess(temp.Sub("gw"), new Dictionary<string, string>
        {
            ["Twin:Gateway:Mode"] = "Client",
            ["Twin:Client:GatewayPort"] = gatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        await gateway.StartAsync();
        await using var device = await TestDevice.ConnectAsync(gateway.MqttPort);
        await device.PublishAsync("factory/split/machine/m-1/status", $"{{\"seq\":1,\"ts\":\"{TestDevice.Now()}\",\"state\":\"running\"}}");
        var snapshot = await Wait.ForAsync(
            async () => await gateway.GetJsonAsync("/api/factories/split/machines/m-1") is { } s && s.GetProperty("status").GetString() == "running" ? s : (JsonElement?)null,
            Deadline,
            "the twin on the separate silo");
        Assert.Equal(1, snapshot.GetProperty("lastSeq").GetInt64());
        Assert.True(File.Exists(temp.Sub("silo.db")), "state is stored by the silo process");
        await gateway.StopAsync();
        await silo.StopAsync(TimeSpan.FromSeconds(30));
    }
}
