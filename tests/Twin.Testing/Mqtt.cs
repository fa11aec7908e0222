using System.Text;
using MQTTnet;
using MQTTnet.Protocol;

namespace Twin.Testing;

/// <summary>A device publishing QoS 1 messages to a broker on 127.0.0.1.</summary>
public sealed class TestDevice : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();

    public static async Task<TestDevice> ConnectAsync(int port, string? clientId = null)
    {
        var device = new TestDevice();
        await Wait.UntilAsync(
            async () =>
            {
                try
                {
                    var options = new MqttClientOptionsBuilder()
                        .WithTcpServer("127.0.0.1", port)
                        .WithClientId(clientId ?? "device-" + Guid.NewGuid().ToString("N")[..8])
                        .WithCleanStart(true)
                        .Build();
                    await device._client.ConnectAsync(options);
                    return true;
                }
                catch (MQTTnet.Exceptions.MqttCommunicationException)
                {
                    return false;
                }
            },
            TimeSpan.FromSeconds(20),
            $"connect to the broker on {port}");
        return device;
    }

    public async Task PublishAsync(string topic, string payload)
    {
        var message = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(Encoding.UTF8.GetBytes(payload))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build();
        var result = await _client.PublishAsync(message);
        if (!result.IsSuccess)
        {
            throw new InvalidOperationException($"publish to {topic} failed: {result.ReasonCode}");
        }
    }

    public static string Now(int offsetMs = 0) =>
        DateTimeOffset.UtcNow.AddMilliseconds(offsetMs).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync();
        }

        _client.Dispose();
    }
}

/// <summary>A subscriber that records what arrives on a topic filter.</summary>
public sealed class TestSubscriber : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();

    public System.Collections.Concurrent.ConcurrentQueue<(string Topic, string Payload)> Received { get; } = new();

    public static async Task<TestSubscriber> ConnectAsync(int port, string filter)
    {
        var subscriber = new TestSubscriber();
        subscriber._client.ApplicationMessageReceivedAsync += e =>
        {
            subscriber.Received.Enqueue((e.ApplicationMessage.Topic, Encoding.UTF8.GetString(e.ApplicationMessage.Payload)));
            return Task.CompletedTask;
        };
        await subscriber._client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("sub-" + Guid.NewGuid().ToString("N")[..8]).Build());
        await subscriber._client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(f => f.WithTopic(filter).WithAtLeastOnceQoS()).Build());
        return subscriber;
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync();
        }

        _client.Dispose();
    }
}
