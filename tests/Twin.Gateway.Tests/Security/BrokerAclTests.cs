using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Twin.Testing;

namespace Twin.Gateway.Tests.Security;

/// <summary>
/// The embedded broker's device ACLs across the whole connection lifecycle: takeover by the same
/// client id, persistent sessions, clean starts, another account reusing a client id, wildcards,
/// will messages, and several connections of one device at once.
/// </summary>
public sealed class BrokerAclTests(SecuredGatewayFixture fixture) : IClassFixture<SecuredGatewayFixture>
{
    private GatewayProcess Gateway => fixture.Gateway;

    private MqttClientOptions Options(string clientId, string user = "press-a", bool cleanStart = true, uint sessionExpiry = 0, Action<MqttClientOptionsBuilder>? more = null)
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", Gateway.MqttPort)
            .WithClientId(clientId)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithCleanStart(cleanStart)
            .WithSessionExpiryInterval(sessionExpiry)
            .WithCredentials(user, SecuredGatewayFixture.DevicePassword);
        more?.Invoke(builder);
        return builder.Build();
    }

    private static Task<MqttClientPublishResult> PublishAsync(IMqttClient client, string machine, long seq, string factory = "plant-a") =>
        client.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic($"factory/{factory}/machine/{machine}/telemetry")
            .WithPayload($"{{\"seq\":{seq},\"ts\":\"{DateTimeOffset.UtcNow:O}\",\"values\":{{\"temperature\":{20 + (seq % 10)}}}}}")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build());

    private async Task<HttpStatusCode> MachineStatusAsync(string factory, string machine)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/factories/{factory}/machines/{machine}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", SecuredGatewayFixture.Token("admin", "*"));
        using var response = await Gateway.Http.SendAsync(request);
        return response.StatusCode;
    }

    private async Task<long> LastSeqAsync(string factory, string machine)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/factories/{factory}/machines/{machine}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", SecuredGatewayFixture.Token("admin", "*"));
        using var response = await Gateway.Http.SendAsync(request);
        return response.IsSuccessStatusCode ? JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("lastSeq").GetInt64() : -1;
    }

    [Fact]
    public async Task A_device_publishes_the_uns_topics_of_its_own_machines_only()
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(Options("press-a-uns"));
        async Task<MqttClientPublishReasonCode> PublishUnsAsync(string topic, string payload = "21.5") =>
            (await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build())).ReasonCode;

        // Its own machine under its factory's template and under the default one naming its factory.
        Assert.Equal(MqttClientPublishReasonCode.Success, await PublishUnsAsync("acme/line-1/press-1/uns_temp"));
        Assert.Equal(MqttClientPublishReasonCode.Success, await PublishUnsAsync("umh/v1/plant-a/press-1/uns_level", "3"));
        foreach (var topic in new[]
        {
            "acme/line-1/press-2/uns_temp", // another machine
            "umh/v1/plant-b/press-1/uns_level", // another factory through the default template
            "bravo/press-9/uns_temp", // another factory's template
            "acme/line-1/press-1", // no template matches
            "elsewhere/press-1/uns_temp",
        })
        {
            Assert.True(await PublishUnsAsync(topic) == MqttClientPublishReasonCode.NotAuthorized, topic);
        }

        // Publish only: other devices' UNS values are not for it to read.
        var subscribed = await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("acme/line-1/press-1/#").Build());
        Assert.Equal(MqttClientSubscribeResultCode.NotAuthorized, subscribed.Items.Single().ResultCode);

        await Wait.UntilAsync(
            async () =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "/api/factories/plant-a/machines/press-1");
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", SecuredGatewayFixture.Token("admin", "*"));
                using var response = await Gateway.Http.SendAsync(request);
                var text = await response.Content.ReadAsStringAsync();
                return text.Contains("\"uns_temp\"", StringComparison.Ordinal) && text.Contains("\"uns_level\"", StringComparison.Ordinal);
            },
            TimeSpan.FromSeconds(15),
            "the device's UNS values in its twin");
        Assert.Equal(HttpStatusCode.NotFound, await MachineStatusAsync("plant-a", "press-2"));
    }

    [Theory]
    [InlineData("factory/plant-a/machine/press-1/#")]
    [InlineData("factory/plant-a/machine/press-1/+")]
    [InlineData("factory/plant-a/machine/+/telemetry")]
    public async Task A_publish_to_a_topic_name_with_a_wildcard_is_refused_and_closes_the_connection(string topic)
    {
        // MQTTnet's client will not send such a topic: the packets are written by hand.
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, Gateway.MqttPort);
        var stream = tcp.GetStream();
        static byte[] Text(string text) => [(byte)(System.Text.Encoding.UTF8.GetByteCount(text) >> 8), (byte)System.Text.Encoding.UTF8.GetByteCount(text), .. System.Text.Encoding.UTF8.GetBytes(text)];
        static byte[] Packet(byte type, byte[] body) => [type, .. Length(body.Length), .. body];
        static byte[] Length(int n) => n < 128 ? [(byte)n] : [(byte)(n % 128 | 0x80), (byte)(n / 128)];
        byte[] connect = [.. Text("MQTT"), 5, 0xC2, 0, 30, 0, .. Text("raw-" + Guid.NewGuid().ToString("N")[..8]), .. Text("press-a"), .. Text(SecuredGatewayFixture.DevicePassword)];
        await stream.WriteAsync(Packet(0x10, connect));
        var connack = await ReadPacketAsync(stream);
        Assert.Equal((0x20, 0), (connack.Type, (int)connack.Body[1]));

        var payload = System.Text.Encoding.UTF8.GetBytes($"{{\"seq\":1,\"ts\":\"{DateTimeOffset.UtcNow:O}\",\"values\":{{\"t\":1}}}}");
        await stream.WriteAsync(Packet(0x32, [.. Text(topic), 0, 1, 0, .. payload]));
        var answer = await ReadPacketAsync(stream);
        if (answer.Type == 0x40)
        {
            // PUBACK: packet id 1, reason 0x90 Topic Name invalid; then the broker closes the connection.
            Assert.Equal(0x90, answer.Body.Length > 2 ? answer.Body[2] : 0);
            answer = await ReadPacketAsync(stream);
        }

        Assert.True(answer.Type is 0xE0 or -1, $"expected DISCONNECT or a closed connection, got packet type {answer.Type:x}");
        await Wait.UntilAsync(() => Task.FromResult(Gateway.Output.Contains($"published to {topic}, a topic name with a wildcard", StringComparison.Ordinal)), TimeSpan.FromSeconds(10), "the refusal logged");
    }

    /// <summary>One MQTT packet's type (first byte, flags cleared) and body; type -1 when the connection closed.</summary>
    private static async Task<(int Type, byte[] Body)> ReadPacketAsync(System.Net.Sockets.NetworkStream stream)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var header = new byte[1];
        if (await stream.ReadAtLeastAsync(header, 1, throwOnEndOfStream: false, timeout.Token) == 0)
        {
            return (-1, []);
        }

        int length = 0, shift = 0;
        byte next;
        do
        {
            var b = new byte[1];
            if (await stream.ReadAtLeastAsync(b, 1, throwOnEndOfStream: false, timeout.Token) == 0)
            {
                return (-1, []);
            }

            next = b[0];
            length |= (next & 0x7F) << shift;
            shift += 7;
        }
        while ((next & 0x80) != 0);
        var body = new byte[length];
        await stream.ReadExactlyAsync(body, timeout.Token);
        return (header[0] & 0xF0, body);
    }

    [Fact]
    public async Task A_takeover_by_the_same_client_id_keeps_the_new_connection_restricted()
    {
        var clients = new List<IMqttClient>();
        try
        {
            // Five connections in turn under one client id, each taking over the one before; and a
            // second client id of the same device connected the whole time.
            using var steady = new MqttClientFactory().CreateMqttClient();
            await steady.ConnectAsync(Options("press-a-steady"));
            for (var round = 0; round < 5; round++)
            {
                var client = new MqttClientFactory().CreateMqttClient();
                clients.Add(client);
                await client.ConnectAsync(Options("press-a-takeover", cleanStart: round % 2 == 0, sessionExpiry: round % 2 == 0 ? 0u : 300u));
                await Wait.UntilAsync(() => Task.FromResult(clients.Take(clients.Count - 1).All(c => !c.IsConnected)), TimeSpan.FromSeconds(10), "the earlier connection taken over");

                var foreign = await PublishAsync(client, "press-2", 100 + round);
                Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, foreign.ReasonCode);
                Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, (await PublishAsync(steady, "press-3", 100 + round)).ReasonCode);
                Assert.True((await PublishAsync(client, "press-1", 1000 + round)).IsSuccess);
            }

            await Wait.UntilAsync(async () => await LastSeqAsync("plant-a", "press-1") >= 1004, TimeSpan.FromSeconds(15), "the device's own readings applied");
            Assert.Equal(HttpStatusCode.NotFound, await MachineStatusAsync("plant-a", "press-2"));
            Assert.Equal(HttpStatusCode.NotFound, await MachineStatusAsync("plant-a", "press-3"));
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    [Fact]
    public async Task Another_account_cannot_take_or_inherit_a_devices_client_id()
    {
        // press-a opens a persistent session and leaves; press-b (another factory's device) may not
        // resume it, nor take it over while press-a is connected.
        using var owner = new MqttClientFactory().CreateMqttClient();
        await owner.ConnectAsync(Options("press-a-session", cleanStart: false, sessionExpiry: 300));
        var granted = await owner.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("factory/plant-a/machine/press-1/#", MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, granted.Items.Single().ResultCode);

        using var thief = new MqttClientFactory().CreateMqttClient();
        Assert.Equal(MqttClientConnectResultCode.ClientIdentifierNotValid, await SecurityTests.ConnectResultAsync(thief, Options("press-a-session", user: "press-b", cleanStart: false, sessionExpiry: 300)));
        Assert.True(owner.IsConnected, "the owner was not taken over");

        await owner.DisconnectAsync();
        using var later = new MqttClientFactory().CreateMqttClient();
        Assert.Equal(MqttClientConnectResultCode.ClientIdentifierNotValid, await SecurityTests.ConnectResultAsync(later, Options("press-a-session", user: "press-b", cleanStart: false, sessionExpiry: 300)));
        Assert.Equal(MqttClientConnectResultCode.ClientIdentifierNotValid, await SecurityTests.ConnectResultAsync(later, Options("press-a-session", user: "press-b", cleanStart: true)));

        // The owner resumes its own session, and is as restricted as before.
        using var back = new MqttClientFactory().CreateMqttClient();
        var resumed = await back.ConnectAsync(Options("press-a-session", cleanStart: false, sessionExpiry: 300));
        Assert.True(resumed.IsSessionPresent);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, (await PublishAsync(back, "press-2", 7)).ReasonCode);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, (await PublishAsync(back, "press-9", 7, "plant-b")).ReasonCode);
    }

    [Theory]
    [InlineData("#")]
    [InlineData("+/#")]
    [InlineData("factory/#")]
    [InlineData("factory/+/machine/press-1/telemetry")]
    [InlineData("factory/plant-a/#")]
    [InlineData("factory/plant-a/machine/+/telemetry")]
    [InlineData("factory/plant-a/machine/#")]
    [InlineData("factory/plant-a/machine/press-2/#")]
    [InlineData("factory/plant-b/machine/press-1/#")]
    [InlineData("factory/PLANT-A/machine/press-1/#")]
    [InlineData("$share/g/factory/plant-a/machine/press-1/#")]
    [InlineData("$share/g/#")]
    [InlineData("$SYS/#")]
    [InlineData("spBv1.0/#")]
    public async Task A_device_cannot_subscribe_beyond_its_own_machines(string filter)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(Options("press-a-sub-" + Guid.NewGuid().ToString("N")[..6]));
        var result = await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(filter, MqttQualityOfServiceLevel.AtLeastOnce).Build());
        // Refused (NotAuthorized; shared subscriptions the embedded broker does not offer at all).
        Assert.Contains(result.Items.Single().ResultCode, new[] { MqttClientSubscribeResultCode.NotAuthorized, MqttClientSubscribeResultCode.SharedSubscriptionsNotSupported });
        var own = await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("factory/plant-a/machine/press-1/#", MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, own.Items.Single().ResultCode);
    }

    [Fact]
    public async Task A_will_message_for_another_machine_is_not_delivered()
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(Options("press-a-will", more: b => b
            .WithWillTopic("factory/plant-a/machine/press-5/status")
            .WithWillPayload($"{{\"seq\":1,\"ts\":\"{DateTimeOffset.UtcNow:O}\",\"state\":\"down\"}}")
            .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)));
        await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.DisconnectWithWillMessage).Build());

        using var after = new MqttClientFactory().CreateMqttClient();
        await after.ConnectAsync(Options("press-a-after-will"));
        Assert.True((await PublishAsync(after, "press-1", 5000)).IsSuccess);
        await Wait.UntilAsync(async () => await LastSeqAsync("plant-a", "press-1") >= 5000, TimeSpan.FromSeconds(15), "the reading after the will applied");
        Assert.Equal(HttpStatusCode.NotFound, await MachineStatusAsync("plant-a", "press-5"));
    }
}
