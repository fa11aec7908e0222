using MQTTnet;

namespace Twin.Gateway.Mqtt;

/// <summary>What the gateway's MQTT clients share: the reconnect loop and how they log in.</summary>
internal static class MqttReconnect
{
    /// <summary>
    /// The longest wait between connection attempts. Kept short: with shared subscriptions, what
    /// devices publish after a broker restart and before a gateway subscribes again reaches nobody
    /// (Mosquitto does not restore shared subscriptions from its persistence file).
    /// </summary>
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Connects <paramref name="client"/> with <paramref name="connect"/>, and again whenever the
    /// connection drops (woken by the disconnect, not a poll), with backoff (100 ms doubling to
    /// 1 s) while the broker refuses, until stopped.
    /// </summary>
    public static async Task RunAsync(IMqttClient client, Func<CancellationToken, Task> connect, Action<Exception, double> failed, CancellationToken stoppingToken)
    {
        using var lost = new SemaphoreSlim(0, 1);
        client.DisconnectedAsync += _ =>
        {
            try
            {
                lost.Release();
            }
            catch (Exception ex) when (ex is SemaphoreFullException or ObjectDisposedException)
            {
                // Already woken, or the loop has ended.
            }

            return Task.CompletedTask;
        };
        var backoff = FirstBackoff;
        while (!stoppingToken.IsCancellationRequested)
        {
            if (!client.IsConnected)
            {
                try
                {
                    await connect(stoppingToken);
                    backoff = FirstBackoff;
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception ex)
                {
                    failed(ex, backoff.TotalSeconds);
                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
                }
            }

            try
            {
                if (client.IsConnected)
                {
                    await lost.WaitAsync(TimeSpan.FromSeconds(1), stoppingToken);
                }
                else
                {
                    await Task.Delay(backoff, stoppingToken);
                }
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
