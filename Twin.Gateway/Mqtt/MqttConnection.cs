using System.Buffers;
using System.Threading.Channels;
using MQTTnet;
using MQTTnet.Protocol;
using Twin.Ingestion;

namespace Twin.Gateway.Mqtt;

/// <summary>A message as received, not yet acknowledged, with the number of the connection it came on.</summary>
internal sealed record MqttInbound(MqttApplicationMessageReceivedEventArgs Args, string Topic, byte[] Payload, long Length, MqttQualityOfServiceLevel QoS, int Connection)
{
    /// <summary>When the message was received (a <see cref="System.Diagnostics.Stopwatch"/> timestamp).</summary>
    public long ReceivedAt { get; } = System.Diagnostics.Stopwatch.GetTimestamp();

    public Origin Origin => new(Topic, Payload, Length, ReceivedAt);
}

/// <summary>
/// The consumer's one MQTT client: a persistent session (clean start off), manual acknowledgement,
/// the subscription, and a reconnect loop with backoff. Received messages go into a bounded
/// channel, so a slow cluster leaves messages queued at the broker (receive maximum) instead of in
/// this process's memory.
/// </summary>
internal sealed partial class MqttConnection(MqttOptions options, int maxPayloadBytes, BrokerServiceAccount service, bool embeddedBroker, ILogger logger) : IDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly Channel<MqttInbound> _received = Channel.CreateBounded<MqttInbound>(new BoundedChannelOptions(options.MaxInFlight)
    {
        // Never full in practice: the broker sends at most MaxInFlight unacknowledged messages.
        FullMode = BoundedChannelFullMode.Wait,
        SingleReader = true,
    });

    private int _connection;
    private volatile bool _stopping;

    public ChannelReader<MqttInbound> Received => _received.Reader;

    public bool IsConnected => _client.IsConnected;

    /// <summary>The number of the current connection: acknowledgements of earlier ones are stale.</summary>
    public int Current => Volatile.Read(ref _connection);

    /// <summary>Stops taking messages (what comes now stays unacknowledged and is redelivered).</summary>
    public void StopReceiving() => _stopping = true;

    /// <summary>Connects, and reconnects with backoff whenever the connection drops, until stopped.</summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        _client.ApplicationMessageReceivedAsync += e => OnReceivedAsync(e, stoppingToken);
        var backoff = TimeSpan.FromMilliseconds(250);
        while (!stoppingToken.IsCancellationRequested)
        {
            if (!_client.IsConnected)
            {
                try
                {
                    await ConnectAsync(stoppingToken);
                    backoff = TimeSpan.FromMilliseconds(250);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception ex)
                {
                    LogConnectFailed(ex, options.Host, options.Port, backoff.TotalSeconds);
                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
                }
            }

            try
            {
                await Task.Delay(_client.IsConnected ? TimeSpan.FromSeconds(1) : backoff, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>Acknowledges messages once their twins made them durable; those of an earlier connection are skipped (the broker redelivers them).</summary>
    public async Task AcknowledgeAsync(IEnumerable<MqttInbound> items)
    {
        var current = Current;
        foreach (var item in items)
        {
            if (item.QoS == MqttQualityOfServiceLevel.AtMostOnce || item.Connection != current)
            {
                continue;
            }

            try
            {
                await item.Args.AcknowledgeAsync(CancellationToken.None);
            }
            catch (Exception ex)
            {
                // The connection dropped: the broker redelivers, and the twin ignores the duplicate.
                LogAckFailed(ex, item.Topic);
            }
        }
    }

    public async Task DisconnectAsync()
    {
        if (!_client.IsConnected)
        {
            return;
        }

        try
        {
            await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build(), CancellationToken.None);
        }
        catch (Exception ex)
        {
            LogDisconnectFailed(ex);
        }
    }

    public void Dispose() => _client.Dispose();

    private async Task ConnectAsync(CancellationToken cancellationToken)
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(options.Host, options.Port)
            .WithClientId(options.EffectiveClientId)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithCleanStart(false)
            .WithSessionExpiryInterval((uint)options.SessionExpiry.TotalSeconds)
            .WithReceiveMaximum((ushort)options.MaxInFlight)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(15))
            .WithTimeout(TimeSpan.FromSeconds(10));
        if (!string.IsNullOrEmpty(options.Username))
        {
            builder = builder.WithCredentials(options.Username, options.Password ?? "");
        }
        else if (embeddedBroker)
        {
            // The embedded broker in this process: its service account.
            builder = builder.WithCredentials(service.Username, service.Password);
        }

        // A new connection number before connecting: with a session present the broker resends
        // unacknowledged messages as soon as the connection is up, and they must carry this
        // connection's number or their acknowledgements would be dropped as stale.
        Interlocked.Increment(ref _connection);
        var result = await _client.ConnectAsync(builder.Build(), cancellationToken);
        if (result.ResultCode != MqttClientConnectResultCode.Success)
        {
            throw new InvalidOperationException($"the broker refused the connection: {result.ResultCode} {result.ReasonString}");
        }

        var filter = string.IsNullOrEmpty(options.SharedGroup)
            ? MachineTopic.Filter
            : $"$share/{options.SharedGroup}/{MachineTopic.Filter}";
        var subscribed = await _client.SubscribeAsync(
            new MqttClientSubscribeOptionsBuilder().WithTopicFilter(f => f.WithTopic(filter).WithAtLeastOnceQoS()).Build(),
            cancellationToken);
        foreach (var item in subscribed.Items)
        {
            if (item.ResultCode > MqttClientSubscribeResultCode.GrantedQoS2)
            {
                throw new InvalidOperationException($"the broker refused the subscription to {filter}: {item.ResultCode}");
            }
        }

        LogConnected(options.Host, options.Port, options.EffectiveClientId, filter, result.IsSessionPresent);
    }

    private async Task OnReceivedAsync(MqttApplicationMessageReceivedEventArgs e, CancellationToken stoppingToken)
    {
        // Never let the library acknowledge: only a durable twin does.
        e.AutoAcknowledge = false;
        if (_stopping)
        {
            return;
        }

        var message = e.ApplicationMessage;
        var length = message.Payload.Length;
        // An oversized payload is kept only as far as its dead letter shows it.
        var payload = length > maxPayloadBytes
            ? message.Payload.Slice(0, Twin.DeadLetters.DeadLetter.MaxPayloadChars).ToArray()
            : message.Payload.ToArray();
        try
        {
            await _received.Writer.WriteAsync(new MqttInbound(e, message.Topic, payload, length, message.QualityOfServiceLevel, Current), stoppingToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    [LoggerMessage(EventId = TwinEvents.MqttConnectionConnected, Level = LogLevel.Information, Message = "MQTT consumer connected to {Host}:{Port} as {ClientId}, subscribed to {Filter} (session present: {SessionPresent})")]
    private partial void LogConnected(string host, int port, string clientId, string filter, bool sessionPresent);

    [LoggerMessage(EventId = TwinEvents.MqttConnectionConnectFailed, Level = LogLevel.Warning, Message = "MQTT consumer cannot connect to {Host}:{Port}; retrying in {Seconds} s")]
    private partial void LogConnectFailed(Exception exception, string host, int port, double seconds);

    [LoggerMessage(EventId = TwinEvents.MqttConnectionAckFailed, Level = LogLevel.Debug, Message = "Acknowledging a message on {Topic} failed")]
    private partial void LogAckFailed(Exception exception, string topic);

    [LoggerMessage(EventId = TwinEvents.MqttConnectionDisconnectFailed, Level = LogLevel.Warning, Message = "MQTT disconnect failed")]
    private partial void LogDisconnectFailed(Exception exception);
}
