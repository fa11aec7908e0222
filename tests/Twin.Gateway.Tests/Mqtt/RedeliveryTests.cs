using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Twin.Gateway.Mqtt;
using Twin.Testing;

namespace Twin.Gateway.Tests.Mqtt;

/// <summary>
/// A batch that failed leaves its messages unacknowledged; MQTT sends them again only on a new
/// connection. The consumer's redelivery makes that connection, against a real Mosquitto.
/// </summary>
public class RedeliveryTests
{
    private const string Probe = "factory/f1/machine/probe/telemetry";

    /// <summary>The next message that is not a probe (probes are acknowledged and skipped).</summary>
    private static async Task<MqttInbound> ReadAsync(MqttConnection connection, CancellationToken cancellationToken)
    {
        while (true)
        {
            var item = await connection.Received.ReadAsync(cancellationToken);
            if (item.Topic != Probe)
            {
                return item;
            }

            await connection.AcknowledgeAsync(item);
        }
    }

    [Fact]
    public async Task A_message_left_unacknowledged_comes_again_after_a_redelivery_and_one_acknowledged_does_not()
    {
        using var temp = new TempDirectory();
        await using var mosquitto = await MosquittoProcess.StartAsync(temp.Sub("mosquitto"));
        var options = new MqttOptions { Host = "127.0.0.1", Port = mosquitto.Port, ClientId = "redelivery-" + Guid.NewGuid().ToString("N")[..8] };
        using var connection = new MqttConnection(options, 65_536, new BrokerServiceAccount(Options.Create(new BrokerOptions())), embeddedBroker: false, sparkplug: null, unsFilters: [], TimeProvider.System, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var running = connection.RunAsync(stop.Token);
        try
        {
            await Wait.UntilAsync(() => Task.FromResult(connection.IsConnected), TimeSpan.FromSeconds(10), "connected");
            await using var device = await TestDevice.ConnectAsync(mosquitto.Port);

            // Connected comes before subscribed: probe until a message comes through.
            await Wait.UntilAsync(
                async () =>
                {
                    await device.PublishAsync(Probe, "{}");
                    await Task.Delay(100);
                    return connection.Received.TryPeek(out _);
                },
                TimeSpan.FromSeconds(10),
                "subscribed");
            await device.PublishAsync("factory/f1/machine/m1/telemetry", "{\"seq\":1}");
            await device.PublishAsync("factory/f1/machine/m2/telemetry", "{\"seq\":2}");

            using var read = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            var first = await ReadAsync(connection, read.Token);
            var second = await ReadAsync(connection, read.Token);
            Assert.Equal("{\"seq\":1}", Encoding.UTF8.GetString(first.Payload));
            await connection.AcknowledgeAsync(second); // m2 was taken; m1's batch "failed"

            connection.Redeliver("test");
            var again = await ReadAsync(connection, read.Token);
            Assert.Equal("factory/f1/machine/m1/telemetry", again.Topic);
            Assert.Equal("{\"seq\":1}", Encoding.UTF8.GetString(again.Payload));
            Assert.True(again.Connection > first.Connection, "redelivered on a new connection");
            await connection.AcknowledgeAsync(again);

            // Only the unacknowledged one came again: nothing else is waiting.
            await device.PublishAsync("factory/f1/machine/m3/telemetry", "{\"seq\":3}");
            var next = await ReadAsync(connection, read.Token);
            Assert.Equal("factory/f1/machine/m3/telemetry", next.Topic);
        }
        finally
        {
            await stop.CancelAsync();
            await running;
        }
    }
}
