using System.Buffers;
using System.Collections.Immutable;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;
using Twin.DeadLetters;
using Twin.Gateway.Ingestion;
using Twin.Machines;
using Twin.Silo;

namespace Twin.Gateway.Mqtt;

/// <summary>
/// Consumes the contract topics at least once: a persistent session (clean start off), manual
/// acknowledgement only after the owning twin made the message durable, a reconnect loop with
/// backoff, and a bounded channel between the receive callback and the twins so a slow cluster
/// leaves messages queued at the broker instead of in our memory.
/// </summary>
internal sealed partial class MqttIngestService(
    IOptions<MqttOptions> options,
    IGrainFactory grains,
    IngestStatistics statistics,
    ProfileProvider profiles,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    BrokerServiceAccount service,
    IOptions<BrokerOptions> broker,
    ILogger<MqttIngestService> logger) : BackgroundService
{
    private const int DrainBatch = 512;
    private readonly MqttOptions _options = options.Value;
    private readonly Channel<Inbound> _channel = Channel.CreateBounded<Inbound>(new BoundedChannelOptions(options.Value.MaxInFlight)
    {
        FullMode = BoundedChannelFullMode.Wait,
        SingleReader = true,
    });

    // Machines with a call in flight, and what arrived for them meanwhile.
    private readonly Dictionary<string, (List<MachineMessage> Messages, List<Inbound> Items)> _running = new(StringComparer.Ordinal);
    private IMqttClient? _client;
    private volatile bool _stopping;
    private int _connection;

    /// <summary>True while connected and subscribed.</summary>
    public bool IsConnected => _client?.IsConnected == true;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        _client = client;
        client.ApplicationMessageReceivedAsync += e => OnReceivedAsync(e, stoppingToken);
        var limits = new PayloadLimits
        {
            MaxPayloadBytes = _options.MaxPayloadBytes,
            MaxValuesPerMessage = _options.MaxValuesPerMessage,
            MaxClockSkew = _options.MaxClockSkew,
        };
        // Not disposed: calls still finishing after shutdown release it.
        var inflight = new SemaphoreSlim(_options.MaxConcurrentCalls, _options.MaxConcurrentCalls);
        var dispatcher = Task.Run(() => DispatchAsync(limits, inflight, stoppingToken), CancellationToken.None);
        _ = dispatcher.ContinueWith(
            t =>
            {
                // Without its dispatcher the gateway would take messages and never acknowledge
                // them: stop, so the orchestrator restarts it and the broker redelivers.
                if (t.IsFaulted && !stoppingToken.IsCancellationRequested)
                {
                    LogDispatcherFailed(t.Exception!);
                    lifetime.StopApplication();
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

        var backoff = TimeSpan.FromMilliseconds(250);
        while (!stoppingToken.IsCancellationRequested)
        {
            if (!client.IsConnected)
            {
                try
                {
                    await ConnectAsync(client, stoppingToken);
                    backoff = TimeSpan.FromMilliseconds(250);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception ex)
                {
                    LogConnectFailed(_options.Host, _options.Port, backoff.TotalSeconds, ex.Message);
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

        // Stop taking messages, let the calls in flight finish and acknowledge, then leave.
        // What is still queued here was never acknowledged: the broker redelivers it later.
        _stopping = true;
        try
        {
            await dispatcher;
        }
        catch (OperationCanceledException)
        {
        }

        for (var i = 0; i < _options.MaxConcurrentCalls; i++)
        {
            if (!await inflight.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None))
            {
                break;
            }
        }

        if (client.IsConnected)
        {
            try
            {
                await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build(), CancellationToken.None);
            }
            catch (Exception ex)
            {
                LogDisconnectFailed(ex.Message);
            }
        }
    }

    private async Task ConnectAsync(IMqttClient client, CancellationToken cancellationToken)
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(_options.Host, _options.Port)
            .WithClientId(_options.EffectiveClientId)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithCleanStart(false)
            .WithSessionExpiryInterval((uint)_options.SessionExpiry.TotalSeconds)
            .WithReceiveMaximum((ushort)_options.MaxInFlight)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(15))
            .WithTimeout(TimeSpan.FromSeconds(10));
        if (!string.IsNullOrEmpty(_options.Username))
        {
            builder = builder.WithCredentials(_options.Username, _options.Password ?? "");
        }
        else if (broker.Value.Enabled)
        {
            // The embedded broker in this process: its service account.
            builder = builder.WithCredentials(service.Username, service.Password);
        }

        // A new connection number before connecting: with a session present the broker resends
        // unacknowledged messages as soon as the connection is up, and they must carry this
        // connection's number or their acknowledgements would be dropped as stale.
        Interlocked.Increment(ref _connection);
        var result = await client.ConnectAsync(builder.Build(), cancellationToken);
        if (result.ResultCode != MqttClientConnectResultCode.Success)
        {
            throw new InvalidOperationException($"the broker refused the connection: {result.ResultCode} {result.ReasonString}");
        }

        // Acknowledgements carry packet ids of the connection they arrived on; after a reconnect
        // the broker redelivers what was not acknowledged, so late ones for the old connection are dropped.

        var filter = string.IsNullOrEmpty(_options.SharedGroup)
            ? MachineTopic.Filter
            : $"$share/{_options.SharedGroup}/{MachineTopic.Filter}";
        var subscribe = new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(filter).WithAtLeastOnceQoS())
            .Build();
        var subscribed = await client.SubscribeAsync(subscribe, cancellationToken);
        foreach (var item in subscribed.Items)
        {
            if (item.ResultCode > MqttClientSubscribeResultCode.GrantedQoS2)
            {
                throw new InvalidOperationException($"the broker refused the subscription to {filter}: {item.ResultCode}");
            }
        }

        LogConnected(_options.Host, _options.Port, _options.EffectiveClientId, filter, result.IsSessionPresent);
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
        var payload = length > _options.MaxPayloadBytes
            ? message.Payload.Slice(0, DeadLetter.MaxPayloadChars).ToArray()
            : message.Payload.ToArray();
        var inbound = new Inbound(e, message.Topic, payload, length, message.QualityOfServiceLevel, Volatile.Read(ref _connection));
        try
        {
            await _channel.Writer.WriteAsync(inbound, stoppingToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task DispatchAsync(PayloadLimits limits, SemaphoreSlim inflight, CancellationToken stoppingToken)
    {
        var reader = _channel.Reader;
        var batch = new List<Inbound>(DrainBatch);
        while (await reader.WaitToReadAsync(stoppingToken))
        {
            batch.Clear();
            while (batch.Count < DrainBatch && reader.TryRead(out var item))
            {
                batch.Add(item);
            }

            var now = time.GetUtcNow();
            var groups = new Dictionary<string, (List<MachineMessage> Messages, List<Inbound> Items)>(StringComparer.Ordinal);
            List<(string Factory, DeadLetter Letter, Inbound Item)>? rejected = null;
            foreach (var item in batch)
            {
                if (!MachineTopic.TryParse(item.Topic, out var topic, out var error))
                {
                    (rejected ??= []).Add((FactoryOf(item.Topic), Letter(item, error, now), item));
                    continue;
                }

                ParseResult parsed;
                try
                {
                    parsed = item.Length > limits.MaxPayloadBytes
                        ? ParseResult.Fail($"payload.too-large: {item.Length} bytes, the limit is {limits.MaxPayloadBytes}")
                        : PayloadParser.Parse(topic.Kind, item.Payload, limits, now);
                    if (parsed.Message is TelemetryMessage telemetry)
                    {
                        parsed = (await profiles.ForAsync(topic.Factory)).Normalise(telemetry);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // A bug must cost one message (kept as a dead letter), never the consumer.
                    LogParseCrashed(ex, item.Topic);
                    parsed = ParseResult.Fail($"internal.error: the gateway could not process this message ({ex.GetType().Name})");
                }
                if (!parsed.Ok)
                {
                    (rejected ??= []).Add((topic.Factory, Letter(item, parsed.Error!, now), item));
                    continue;
                }

                var key = topic.GrainKey;
                if (!groups.TryGetValue(key, out var group))
                {
                    group = ([], []);
                    groups[key] = group;
                }

                group.Messages.Add(parsed.Message!);
                group.Items.Add(item);
            }

            if (rejected is not null)
            {
                await inflight.WaitAsync(stoppingToken);
                _ = DeadLetterAsync(rejected, inflight, stoppingToken);
            }

            foreach (var (key, group) in groups)
            {
                lock (_running)
                {
                    // One call per machine at a time, in arrival order: a call that is failing and
                    // being retried must not be overtaken by later readings of the same machine
                    // (they would push it out of the twin's sequence window).
                    if (_running.TryGetValue(key, out var queued))
                    {
                        queued.Messages.AddRange(group.Messages);
                        queued.Items.AddRange(group.Items);
                        continue;
                    }

                    _running[key] = ([], []);
                }

                await inflight.WaitAsync(stoppingToken);
                _ = IngestInOrderAsync(key, group.Messages, group.Items, inflight, stoppingToken);
            }
        }
    }

    /// <summary>Ingests a machine's messages, then whatever queued up for it meanwhile, until none is left.</summary>
    private async Task IngestInOrderAsync(string key, List<MachineMessage> messages, List<Inbound> items, SemaphoreSlim inflight, CancellationToken stoppingToken)
    {
        var done = false;
        try
        {
            while (true)
            {
                for (var start = 0; start < messages.Count; start += DrainBatch)
                {
                    var count = Math.Min(DrainBatch, messages.Count - start);
                    if (!await IngestAsync(key, messages.GetRange(start, count), items.GetRange(start, count), stoppingToken))
                    {
                        return; // stopping: what is left stays unacknowledged and comes again
                    }
                }

                lock (_running)
                {
                    var queued = _running[key];
                    if (queued.Messages.Count == 0)
                    {
                        _running.Remove(key);
                        done = true;
                        return;
                    }

                    (messages, items) = queued;
                    _running[key] = ([], []);
                }
            }
        }
        finally
        {
            if (!done)
            {
                // Stopping or failed: what is queued stays unacknowledged and the broker redelivers it.
                lock (_running)
                {
                    _running.Remove(key);
                }
            }

            inflight.Release();
        }
    }

    /// <summary>One twin call with retries; false when the gateway is stopping.</summary>
    private async Task<bool> IngestAsync(string key, List<MachineMessage> messages, List<Inbound> items, CancellationToken stoppingToken)
    {
        var grain = grains.GetGrain<IMachineGrain>(key);
        var batch = messages.ToImmutableArray();
        using var activity = TwinTelemetry.Source.StartActivity("twin.ingest");
        activity?.SetTag("twin.key", key);
        activity?.SetTag("twin.messages", batch.Length);
        var result = await RetryAsync(() => grain.IngestAsync(batch), key, stoppingToken);
        if (result is null)
        {
            return false;
        }

        foreach (var item in items)
        {
            statistics.Durable(item.ReceivedAt);
        }

        var factory = TwinKey.Split(key).Factory;
        statistics.Accepted(factory, result.Applied + result.Late, result.Duplicates + result.TooOld);
        if (!result.Rejected.IsDefaultOrEmpty)
        {
            // Refused by the twin (e.g. too many sensors): keep them as dead letters before acknowledging.
            var now = time.GetUtcNow();
            var letters = result.Rejected
                .Select(r => (Rejection: r, Index: messages.FindIndex(m => m.Seq == r.Seq && m.Source == r.Source)))
                .Where(r => r.Index >= 0)
                .Select(r => Letter(items[r.Index], r.Rejection.Reason, now))
                .ToImmutableArray();
            foreach (var letter in letters)
            {
                statistics.Rejected(factory, letter.ReasonCode);
            }

            if (!await RetryAsync(async () => { await grains.GetGrain<IDeadLetterGrain>(factory).RecordAsync(letters); return true; }, factory, stoppingToken))
            {
                return false;
            }
        }

        await AcknowledgeAsync(items);
        return true;
    }

    private async Task DeadLetterAsync(List<(string Factory, DeadLetter Letter, Inbound Item)> rejected, SemaphoreSlim inflight, CancellationToken stoppingToken)
    {
        try
        {
            foreach (var byFactory in rejected.GroupBy(r => r.Factory, StringComparer.Ordinal))
            {
                var letters = byFactory.Select(r => r.Letter).ToImmutableArray();
                foreach (var letter in letters)
                {
                    statistics.Rejected(byFactory.Key, letter.ReasonCode);
                    LogRejected(letter.Topic, letter.Reason);
                }

                var grain = grains.GetGrain<IDeadLetterGrain>(byFactory.Key);
                if (await RetryAsync(async () => { await grain.RecordAsync(letters); return true; }, byFactory.Key, stoppingToken))
                {
                    await AcknowledgeAsync(byFactory.Select(r => r.Item));
                }
            }
        }
        finally
        {
            inflight.Release();
        }
    }

    /// <summary>
    /// Retries an idempotent twin call (ingest dedups by sequence number) until it succeeds or the
    /// gateway stops; a failed or timed-out Orleans call has an unknown outcome, so retrying is the
    /// only safe path. Returns default when stopping: the message stays unacknowledged.
    /// </summary>
    private async Task<T?> RetryAsync<T>(Func<Task<T>> call, string key, CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogCallFailed(key, attempt, ex.Message);
            }

            try
            {
                await Task.Delay(delay, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return default;
            }

            // Capped low: while one gateway waits, others sharing the subscription move on with
            // the same machines' later readings.
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
        }
    }

    private async Task AcknowledgeAsync(IEnumerable<Inbound> items)
    {
        foreach (var item in items)
        {
            if (item.QoS == MqttQualityOfServiceLevel.AtMostOnce || item.Connection != Volatile.Read(ref _connection))
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
                LogAckFailed(item.Topic, ex.Message);
            }
        }
    }

    private static DeadLetter Letter(Inbound item, string reason, DateTimeOffset now)
    {
        var text = Encoding.UTF8.GetString(item.Payload, 0, Math.Min(item.Payload.Length, DeadLetter.MaxPayloadChars));
        return new DeadLetter(now, "mqtt", item.Topic, reason, text);
    }

    private static string FactoryOf(string topic)
    {
        var parts = topic.Split('/');
        return parts.Length > 1 && parts[0] == "factory" && TwinKey.IsValidId(parts[1], out _) ? parts[1] : "_unrouted";
    }

    [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "MQTT consumer connected to {Host}:{Port} as {ClientId}, subscribed to {Filter} (session present: {SessionPresent})")]
    private partial void LogConnected(string host, int port, string clientId, string filter, bool sessionPresent);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Warning, Message = "MQTT consumer cannot connect to {Host}:{Port}; retrying in {Seconds} s: {Error}")]
    private partial void LogConnectFailed(string host, int port, double seconds, string error);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Warning, Message = "Twin call for {Key} failed (attempt {Attempt}); retrying: {Error}")]
    private partial void LogCallFailed(string key, int attempt, string error);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Debug, Message = "Acknowledging a message on {Topic} failed: {Error}")]
    private partial void LogAckFailed(string topic, string error);

    [LoggerMessage(EventId = 3105, Level = LogLevel.Information, Message = "Rejected a message on {Topic}: {Reason}")]
    private partial void LogRejected(string? topic, string reason);

    [LoggerMessage(EventId = 3108, Level = LogLevel.Critical, Message = "The MQTT dispatcher failed; stopping the gateway so it restarts")]
    private partial void LogDispatcherFailed(Exception exception);

    [LoggerMessage(EventId = 3107, Level = LogLevel.Error, Message = "Processing a message on {Topic} failed")]
    private partial void LogParseCrashed(Exception exception, string topic);

    [LoggerMessage(EventId = 3106, Level = LogLevel.Warning, Message = "MQTT disconnect failed: {Error}")]
    private partial void LogDisconnectFailed(string error);

    private sealed record Inbound(MqttApplicationMessageReceivedEventArgs Args, string Topic, byte[] Payload, long Length, MqttQualityOfServiceLevel QoS, int Connection)
    {
        /// <summary>When the message was received (a <see cref="System.Diagnostics.Stopwatch"/> timestamp).</summary>
        public long ReceivedAt { get; } = System.Diagnostics.Stopwatch.GetTimestamp();
    }
}
