using MQTTnet;

namespace Twin.Gateway.Mqtt;

/// <summary>What the gateway's MQTT clients share: the reconnect loop and how they log in.</summary>
internal static class MqttReconnect
{
    /// <summary>
    /// Connects <paramref name="client"/> with <paramref name="connect"/>, and again with backoff
    /// (250 ms doubling to 10 s) whenever the connection drops, until stopped.
    /// </summary>
    public static async Task RunAsync(IMqttClient client, Func<CancellationToken, Task> connect, Action<Exception, double> failed, CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromMilliseconds(250);
        while (!stoppingToken.IsCancellationRequested)
        {
            if (!client.IsConnected)
            {
                try
                {
                    await connect(stoppingToken);
                    backoff = TimeSpan.FromMilliseconds(250);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception ex)
                {
                    failed(ex, backoff.TotalSeconds);
                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
                }
            }

            try
            {
                await Task.Delay(client.IsConnected ? TimeSpan.FromSeconds(1) : backoff, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>The consumer's credentials (<c>Twin:Mqtt:Username</c>), else, with the embedded broker in this process, its service account.</summary>
    public static MqttClientOptionsBuilder WithGatewayCredentials(this MqttClientOptionsBuilder builder, MqttOptions options, BrokerServiceAccount service, bool embeddedBroker)
    {
        if (!string.IsNullOrEmpty(options.Username))
        {
            return builder.WithCredentials(options.Username, options.Password ?? "");
        }

        return embeddedBroker ? builder.WithCredentials(service.Username, service.Password) : builder;
    }
}
