using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;
using Twin.Gateway.Mqtt;
using Twin.Testing;

namespace Twin.Gateway.Tests.Mqtt;

/// <summary>The embedded broker in front of a gateway that has fallen behind: devices wait, nothing they were told was taken is dropped.</summary>
public class EmbeddedBrokerBackPressureTests
{
    [Fact]
    public async Task Devices_wait_for_their_acknowledgement_while_the_gateway_session_is_full_and_nothing_is_dropped()
    {
        var port = Ports.Free();
        var options = new BrokerOptions { Port = port, MaxPendingMessagesPerClient = 10_000, ServiceUsername = "gateway", ServicePassword = "secret" };
        using var broker = new EmbeddedBroker(
            Options.Create(options), Options.Create(new Twin.Ingestion.Sparkplug.SparkplugOptions()), Options.Create(new Twin.Gateway.Uns.UnsPublishOptions()),
            Options.Create(new Twin.Ingestion.ProfilesOptions()), new BrokerServiceAccount(Options.Create(options)), NullLogger<EmbeddedBroker>.Instance);
        await broker.StartAsync(CancellationToken.None);
        try
        {
            // The gateway's persistent session subscribes, then goes away: its queue fills.
            var factory = new MqttClientFactory();
            MqttClientOptions Consumer() => new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("gw-consumer")
                .WithCredentials("gateway", "secret").WithCleanStart(false).WithSessionExpiryInterval(3600)
                .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500).Build();
            using (var consumer = factory.CreateMqttClient())
            {
                await consumer.ConnectAsync(Consumer());
                await consumer.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("factory/#", MqttQualityOfServiceLevel.AtLeastOnce).Build());
                await consumer.DisconnectAsync();
            }

            using var device = factory.CreateMqttClient();
            await device.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("press").WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500).Build());
            const int total = 15_000;
            var acknowledged = 0;
            var publishing = Task.Run(async () =>
            {
                for (var i = 0; i < total; i++)
                {
                    var message = new MqttApplicationMessageBuilder().WithTopic("factory/f/machine/press/telemetry").WithPayload($"{i}").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
                    var result = await device.PublishAsync(message);
                    Assert.True(result.IsSuccess, $"publish {i}: {result.ReasonCode}");
                    Interlocked.Increment(ref acknowledged);
                }
            });

            // Back-pressure: the device is held below the bound (from 90 % of 10,000 on, sampled every 50 ms).
            await Wait.UntilAsync(() => Task.FromResult(Volatile.Read(ref acknowledged) >= 9_000), TimeSpan.FromSeconds(30), "the first 9,000 acknowledged");
            await Task.Delay(TimeSpan.FromSeconds(1)); // a window in which an unheld device would finish
            Assert.False(publishing.IsCompleted, $"all {total} acknowledged while the gateway's session holds at most 10,000");
            Assert.InRange(Volatile.Read(ref acknowledged), 9_000, 10_000);

            // The gateway comes back and drains: every message arrives once, in order, none dropped.
            var received = new List<int>();
            using var back = factory.CreateMqttClient();
            back.ApplicationMessageReceivedAsync += e =>
            {
                lock (received)
                {
                    received.Add(int.Parse(e.ApplicationMessage.ConvertPayloadToString(), System.Globalization.CultureInfo.InvariantCulture));
                }

                return Task.CompletedTask;
            };
            await back.ConnectAsync(Consumer());
            await publishing.WaitAsync(TimeSpan.FromSeconds(60));
            await Wait.UntilAsync(() => Task.FromResult(received.Count >= total), TimeSpan.FromSeconds(60), "all messages at the gateway");
            lock (received)
            {
                Assert.Equal(Enumerable.Range(0, total), received);
            }
        }
        finally
        {
            await broker.StopAsync(CancellationToken.None);
        }
    }
}
