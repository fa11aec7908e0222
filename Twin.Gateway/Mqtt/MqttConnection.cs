using System.Buffers;
using System.Threading.Channels;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using Twin.Gateway.Uns;
using Twin.Ingestion;
using Twin.Ingestion.Sparkplug;

namespace Twin.Gateway.Mqtt;

/// <summary>A message as received, not yet acknowledged, with the number of the connection it came on.</summary>
internal sealed record MqttInbound(MqttApplicationMessageReceivedEventArgs Args, string Topic, byte[] Payload, long Length, MqttQualityOfServiceLevel QoS, int Connection)
{
    /// <summary>When the message was received (a <see cref="System.Diagnostics.Stopwatch"/> timestamp).</summary>
    public long ReceivedAt { get; } = System.Diagnostics.Stopwatch.GetTimestamp();

    public Origin Origin => new(Topic, Payload, Length, ReceivedAt);

    /// <summary>Published by a twin's publish-back (its user property says so): never ingested.</summary>
    public bool Echo { get; init; }

    /// <summary>The seq of a Sparkplug payload over the size limit (only its start is kept).</summary>
    public ulong? OversizedSeq { get; init; }

    /// <summary>
    /// A second copy of a message, delivered for a subscription that does not own its topic
    /// (overlapping filters; <see cref="SubscriptionOwners"/>): acknowledged, never ingested.
    /// </summary>
    public bool Copy { get; init; }
}

/// <summary>
/// Which of the consumer's subscriptions owns a topic, so that a message delivered more than once
/// (a UNS template <c>{site}/{factory}/machine/{machine}/{tag}</c> subscribes <c>+/+/machine/+/#</c>,
/// which overlaps <c>factory/#</c> and <c>spBv1.0/#</c>) is taken in once. MQTT 5 lets a broker
/// deliver one copy per matching subscription (Mosquitto does, and so does a shared subscription,
/// each group to a different gateway perhaps) or one copy for all; each copy carries the
/// identifiers of the subscriptions it is for. A copy is taken only if it carries the owner's:
/// Sparkplug's for its namespace, else the contract's for <c>factory/…</c>, else the UNS templates'.
/// </summary>
internal sealed class SubscriptionOwners
{
    public const uint Contract = 1;
    public const uint Sparkplug = 2;

    /// <summary>The first UNS filter's identifier; each has its own, since two templates' filters may overlap too.</summary>
    public const uint FirstUns = 3;

    private readonly List<(string Filter, uint Id)> _byPrecedence;

    public SubscriptionOwners(IEnumerable<string> sparkplugFilters, IEnumerable<string> unsFilters)
    {
        _byPrecedence = [.. sparkplugFilters.Select(f => (f, Sparkplug)), (MachineTopic.Subscription, Contract), .. unsFilters.Select((f, i) => (f, FirstUns + (uint)i))];
        Overlap = _byPrecedence.Any(a => a.Id >= FirstUns && _byPrecedence.Any(b => b.Id != a.Id && Overlaps(a.Filter, b.Filter)));
    }

    /// <summary>Whether a topic can match two of the subscriptions: only then can a broker deliver copies.</summary>
    public bool Overlap { get; }

    /// <summary>The subscription that owns <paramref name="topic"/>, or 0 when none matches it.</summary>
    public uint Owner(string topic)
    {
        foreach (var (filter, id) in _byPrecedence)
        {
            if (MqttTopicFilterComparer.Compare(topic, filter) == MqttTopicFilterCompareResult.IsMatch)
            {
                return id;
            }
        }

        return 0;
    }

    /// <summary>Whether a message on <paramref name="topic"/> delivered for <paramref name="identifiers"/> is a copy to leave out (none: the broker did not say, so it is taken).</summary>
    public bool IsCopy(string topic, IReadOnlyList<uint>? identifiers) =>
        Overlap && identifiers is { Count: > 0 } && Owner(topic) is var owner and not 0 && !identifiers.Contains(owner);

    /// <summary>Whether some topic matches both filters.</summary>
    public static bool Overlaps(string a, string b)
    {
        var x = a.Split('/');
        var y = b.Split('/');
        for (var i = 0; ; i++)
        {
            if ((i < x.Length && x[i] == "#") || (i < y.Length && y[i] == "#"))
            {
                return true;
            }

            if (i == x.Length || i == y.Length)
            {
                return x.Length == y.Length;
            }

            if (x[i] != "+" && y[i] != "+" && x[i] != y[i])
            {
                return false;
            }
        }
    }
}

/// <summary>
/// The consumer's one MQTT client: a persistent session (clean start off), manual acknowledgement,
/// the subscriptions (the JSON contract, and Sparkplug B when <paramref name="sparkplug"/> is given),
/// and a reconnect loop with backoff. Received messages go into a bounded channel, so a slow cluster
/// leaves messages queued at the broker (receive maximum) instead of in this process's memory.
/// As a Sparkplug host it announces its STATE on every connect, with a will that says offline.
/// </summary>
/// <remarks>
/// A persistent session keeps its subscriptions across restarts, and MQTT cannot list them: what
/// the settings no longer want (a Sparkplug group, a UNS template, another shared group) would keep
/// coming. So the filters subscribed are recorded per client id (<paramref name="session"/>, in the
/// cluster's storage), and after connecting those of an earlier run that are no longer wanted are
/// unsubscribed.
/// </remarks>
internal sealed partial class MqttConnection(MqttOptions options, int maxPayloadBytes, BrokerServiceAccount service, bool embeddedBroker, SparkplugOptions? sparkplug, IReadOnlyList<string> unsFilters, TimeProvider time, ILogger logger, Twin.Operations.IMqttSessionGrain? session = null) : IDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly Channel<MqttInbound> _received = Channel.CreateBounded<MqttInbound>(new BoundedChannelOptions(options.MaxInFlight)
    {
        // Never full in practice: the broker sends at most MaxInFlight unacknowledged messages.
        FullMode = BoundedChannelFullMode.Wait,
        SingleReader = true,
    });

    /// <summary>A template under factory/ comes through the contract's subscription already: not subscribed twice.</summary>
    private readonly List<string> _unsFilters = [.. unsFilters.Where(f => !MachineTopic.CoveredBySubscription(f))];
    private readonly SubscriptionOwners _owners = new(sparkplug?.Filters ?? [], unsFilters.Where(f => !MachineTopic.CoveredBySubscription(f)));

    private int _connection;
    private int _redeliveryAsked;
    private long _lastRedelivery;
    private CancellationToken _stoppingToken;
    private volatile bool _stopping;
    private bool _sessionTidy;
    private DateTimeOffset _stateSince;

    public ChannelReader<MqttInbound> Received => _received.Reader;

    public bool IsConnected => _client.IsConnected;

    /// <summary>The number of the current connection: acknowledgements of earlier ones are stale.</summary>
    public int Current => Volatile.Read(ref _connection);

    /// <summary>Stops taking messages (what comes now stays unacknowledged and is redelivered).</summary>
    public void StopReceiving() => _stopping = true;

    /// <summary>Connects, and reconnects with backoff whenever the connection drops, until stopped.</summary>
    public Task RunAsync(CancellationToken stoppingToken)
    {
        _stoppingToken = stoppingToken;
        _client.ApplicationMessageReceivedAsync += e => OnReceivedAsync(e, stoppingToken);
        return MqttReconnect.RunAsync(_client, ConnectAsync, (ex, seconds) => LogConnectFailed(ex, options.Host, options.Port, seconds), stoppingToken);
    }

    /// <summary>Acknowledges messages once their twins made them durable; those of an earlier connection are skipped (the broker redelivers them).</summary>
    public async Task AcknowledgeAsync(IEnumerable<MqttInbound> items)
    {
        foreach (var item in items)
        {
            await AcknowledgeAsync(item);
        }
    }

    /// <summary>Acknowledges one message (QoS 0 needs none; one of an earlier connection can no longer be).</summary>
    public async Task AcknowledgeAsync(MqttInbound item)
    {
        if (item.QoS == MqttQualityOfServiceLevel.AtMostOnce || item.Connection != Current)
        {
            return;
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

    /// <summary>
    /// Has the broker send again everything not acknowledged, after a batch failed: MQTT redelivers
    /// only on a new connection, so this one is closed and the reconnect loop opens the next (the
    /// twins drop what they already have). Without it the failed messages would hold their place in
    /// the broker's window until the next reconnect, and enough of them stop the consumer. At most
    /// one reconnect per <see cref="MinRedeliveryInterval"/>: failures meanwhile share it.
    /// </summary>
    public void Redeliver(string reason)
    {
        if (_stopping || Interlocked.Exchange(ref _redeliveryAsked, 1) == 1)
        {
            return;
        }

        _ = RedeliverAsync(reason);
    }

    private async Task RedeliverAsync(string reason)
    {
        try
        {
            var wait = MinRedeliveryInterval - time.GetElapsedTime(Interlocked.Read(ref _lastRedelivery));
            if (Interlocked.Read(ref _lastRedelivery) != 0 && wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, time, _stoppingToken);
            }

            Interlocked.Exchange(ref _lastRedelivery, time.GetTimestamp());
            Volatile.Write(ref _redeliveryAsked, 0);
            if (_stopping || !_client.IsConnected)
            {
                return; // a new connection is coming anyway, and with it the redelivery
            }

            LogRedelivery(reason);
            await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build(), CancellationToken.None);
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex)
        {
            Volatile.Write(ref _redeliveryAsked, 0);
            LogDisconnectFailed(ex);
        }
    }

    /// <summary>The shortest time between two reconnects asked for by <see cref="Redeliver"/>.</summary>
    public static readonly TimeSpan MinRedeliveryInterval = TimeSpan.FromSeconds(5);

    /// <summary>Publishes on the consumer's connection (Sparkplug commands); false when not connected or refused.</summary>
    public async Task<bool> PublishAsync(string topic, byte[] payload, MqttQualityOfServiceLevel qos, bool retain)
    {
        if (!_client.IsConnected)
        {
            return false;
        }

        try
        {
            var message = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(qos).WithRetainFlag(retain).Build();
            var result = await _client.PublishAsync(message, CancellationToken.None);
            if (!result.IsSuccess)
            {
                LogPublishFailed(null, topic, result.ReasonCode.ToString());
            }

            return result.IsSuccess;
        }
        catch (Exception ex)
        {
            LogPublishFailed(ex, topic, "error");
            return false;
        }
    }

    public async Task DisconnectAsync()
    {
        if (!_client.IsConnected)
        {
            return;
        }

        if (sparkplug is not null)
        {
            // Sparkplug 3.0: a host that leaves on purpose says so before disconnecting (the will is for the other case).
            await PublishAsync(SparkplugTopic.StateTopic(sparkplug.EffectiveHostId(options.EffectiveClientId)), SparkplugHost.StatePayload(online: false, _stateSince), MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
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
        if (sparkplug is not null)
        {
            // Sparkplug 3.0 STATE: the will (offline) and the birth (online) carry the same timestamp.
            _stateSince = time.GetUtcNow();
            builder = builder
                .WithWillTopic(SparkplugTopic.StateTopic(sparkplug.EffectiveHostId(options.EffectiveClientId)))
                .WithWillPayload(SparkplugHost.StatePayload(online: false, _stateSince))
                .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .WithWillRetain(true);
        }

        builder = builder.WithGatewayCredentials(options, service, embeddedBroker);

        var filter = Shared(MachineTopic.Subscription);
        // Retained messages only for a new subscription, as for UNS below: the contract's root may hold UNS templates too.
        var contract = new MqttClientSubscribeOptionsBuilder().WithTopicFilter(f => f.WithTopic(filter).WithAtLeastOnceQoS().WithRetainHandling(MqttRetainHandling.SendAtSubscribeIfNewSubscriptionOnly));
        var wanted = new List<string> { filter };
        var uns = new List<MqttClientSubscribeOptionsBuilder>();
        foreach (var unsFilter in _unsFilters.Select(Shared))
        {
            // Unified Namespace topics of the mapping profiles' templates, shared like the contract's.
            // Retained values only for a new subscription: a restart with the session present must
            // not take the plant's retained values in again as new readings (arrival time is their
            // event time when the payload has none).
            uns.Add(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(f => f.WithTopic(unsFilter).WithAtLeastOnceQoS().WithRetainHandling(MqttRetainHandling.SendAtSubscribeIfNewSubscriptionOnly)));
            wanted.Add(unsFilter);
        }

        MqttClientSubscribeOptionsBuilder? sparkplugs = null;
        foreach (var sparkplugFilter in sparkplug?.Filters ?? [])
        {
            // Never shared: a Sparkplug host must see every message of an edge node, in order,
            // to follow its seq and aliases. No-local: our own rebirth requests are not data.
            sparkplugs = (sparkplugs ?? new MqttClientSubscribeOptionsBuilder()).WithTopicFilter(f => f.WithTopic(sparkplugFilter).WithAtLeastOnceQoS().WithNoLocal(true));
            wanted.Add(sparkplugFilter);
        }

        // What an earlier run left subscribed in the session: read before connecting (a failure
        // here is retried like a refused connection), and recorded together with what is wanted
        // now, so a stop between subscribing and recording still leaves every filter known.
        List<string> stale = [];
        if (session is not null && !_sessionTidy)
        {
            var known = await session.GetFiltersAsync().WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
            stale = [.. known.Except(wanted, StringComparer.Ordinal)];
            await session.SetFiltersAsync([.. known.Union(wanted, StringComparer.Ordinal)]).WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
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

        var filters = string.Join(", ", wanted);
        // One SUBSCRIBE per kind (and per UNS filter), each with its identifier (when the broker has them), so that
        // a message matching overlapping filters is taken in once (SubscriptionOwners).
        var identified = result.SubscriptionIdentifiersAvailable;
        if (!identified && _owners.Overlap)
        {
            LogNoSubscriptionIdentifiers(options.Host, options.Port);
        }

        await SubscribeAsync(contract, SubscriptionOwners.Contract, identified, required: filter, cancellationToken);
        for (var i = 0; i < uns.Count; i++)
        {
            await SubscribeAsync(uns[i], SubscriptionOwners.FirstUns + (uint)i, identified, required: null, cancellationToken);
        }

        if (sparkplugs is not null)
        {
            await SubscribeAsync(sparkplugs, SubscriptionOwners.Sparkplug, identified, required: null, cancellationToken);
        }

        if (session is not null && !_sessionTidy)
        {
            await TidySessionAsync(stale, wanted, result.IsSessionPresent, cancellationToken);
        }

        if (sparkplug is not null)
        {
            // Refused (a broker ACL without it): logged by PublishAsync; edge nodes then do not see this host online.
            await PublishAsync(SparkplugTopic.StateTopic(sparkplug.EffectiveHostId(options.EffectiveClientId)), SparkplugHost.StatePayload(online: true, _stateSince), MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        }

        LogConnected(options.Host, options.Port, options.EffectiveClientId, filters, result.IsSessionPresent);
    }

    private string Shared(string topicFilter) => string.IsNullOrEmpty(options.SharedGroup) ? topicFilter : $"$share/{options.SharedGroup}/{topicFilter}";

    private async Task SubscribeAsync(MqttClientSubscribeOptionsBuilder builder, uint identifier, bool identified, string? required, CancellationToken cancellationToken)
    {
        if (identified)
        {
            builder = builder.WithSubscriptionIdentifier(identifier);
        }

        var subscribed = await _client.SubscribeAsync(builder.Build(), cancellationToken);
        foreach (var item in subscribed.Items)
        {
            if (item.ResultCode <= MqttClientSubscribeResultCode.GrantedQoS2)
            {
                continue;
            }

            if (item.TopicFilter.Topic == required)
            {
                throw new InvalidOperationException($"the broker refused the subscription to {required}: {item.ResultCode}");
            }

            // Sparkplug and UNS come on top of the contract: a broker ACL without them costs them only.
            LogSubscriptionRefused(item.TopicFilter.Topic, item.ResultCode.ToString());
        }
    }

    /// <summary>Unsubscribes what an earlier run subscribed and the settings no longer want, then records what the session holds.</summary>
    private async Task TidySessionAsync(List<string> stale, List<string> wanted, bool sessionPresent, CancellationToken cancellationToken)
    {
        try
        {
            if (stale.Count > 0 && sessionPresent)
            {
                var unsubscribe = new MqttClientUnsubscribeOptionsBuilder();
                foreach (var topic in stale)
                {
                    unsubscribe = unsubscribe.WithTopicFilter(topic);
                }

                var result = await _client.UnsubscribeAsync(unsubscribe.Build(), cancellationToken);
                var failed = result.Items.Where(i => i.ResultCode is not (MqttClientUnsubscribeResultCode.Success or MqttClientUnsubscribeResultCode.NoSubscriptionExisted)).ToList();
                if (failed.Count > 0)
                {
                    throw new InvalidOperationException("the broker refused to unsubscribe " + string.Join(", ", failed.Select(i => $"{i.TopicFilter} ({i.ResultCode})")));
                }

                var names = string.Join(", ", stale);
                LogUnsubscribed(options.EffectiveClientId, names);
            }

            // Without a session (new, or expired) nothing of the earlier run is subscribed.
            await session!.SetFiltersAsync([.. wanted]).WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
            _sessionTidy = true;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Tried again at the next connect: meanwhile the earlier filters' messages still come
            // (and are ingested or dead-lettered by the current settings).
            LogSessionRecordFailed(ex, options.EffectiveClientId);
        }
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
        // A Sparkplug message too large to take keeps its place in its node's sequence by its seq.
        var oversizedSeq = length > maxPayloadBytes && sparkplug is not null && SparkplugTopic.IsSparkplug(message.Topic) ? SparkplugHost.PeekSeq(message.Payload) : null;
        try
        {
            var echo = message.UserProperties?.Exists(p => p.Name == UnsLayout.OriginProperty && p.ReadValueAsString() == UnsLayout.OriginValue) == true;
            var copy = _owners.IsCopy(message.Topic, message.SubscriptionIdentifiers);
            await _received.Writer.WriteAsync(new MqttInbound(e, message.Topic, payload, length, message.QualityOfServiceLevel, Current) { Echo = echo, OversizedSeq = oversizedSeq, Copy = copy }, stoppingToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    [LoggerMessage(EventId = TwinEvents.MqttConnectionConnected, Level = LogLevel.Information, Message = "MQTT consumer connected to {Host}:{Port} as {ClientId}, subscribed to {Filter} (session present: {SessionPresent})")]
    private partial void LogConnected(string host, int port, string clientId, string filter, bool sessionPresent);

    [LoggerMessage(EventId = TwinEvents.MqttConnectionUnsubscribed, Level = LogLevel.Information, Message = "MQTT consumer {ClientId}: unsubscribed what an earlier run subscribed and the settings no longer want: {Filters}")]
    private partial void LogUnsubscribed(string clientId, string filters);

    [LoggerMessage(EventId = TwinEvents.MqttConnectionSessionRecordFailed, Level = LogLevel.Warning, Message = "MQTT consumer {ClientId}: could not tidy or record the session's subscriptions; trying again at the next connect")]
    private partial void LogSessionRecordFailed(Exception exception, string clientId);

    [LoggerMessage(EventId = TwinEvents.MqttConnectionConnectFailed, Level = LogLevel.Warning, Message = "MQTT consumer cannot connect to {Host}:{Port}; retrying in {Seconds} s")]
    private partial void LogConnectFailed(Exception exception, string host, int port, double seconds);

    [LoggerMessage(EventId = TwinEvents.MqttConnectionAckFailed, Level = LogLevel.Debug, Message = "Acknowledging a message on {Topic} failed")]
    private partial void LogAckFailed(Exception exception, string topic);

    [LoggerMessage(EventId = TwinEvents.MqttConnectionSubscriptionRefused, Level = LogLevel.Warning, Message = "The broker refused the subscription to {Filter} ({Reason}); those messages are not consumed (grant them in the broker's ACL, or turn off Twin:Sparkplug:Enabled / the profile's Topics)")]
    private partial void LogSubscriptionRefused(string filter, string reason);

    [LoggerMessage(EventId = TwinEvents.MqttConnectionNoSubscriptionIdentifiers, Level = LogLevel.Warning, Message = "The broker at {Host}:{Port} has no MQTT 5 subscription identifiers: a message that matches two of the consumer's overlapping filters (a UNS template beginning with a placeholder) may be taken in twice")]
    private partial void LogNoSubscriptionIdentifiers(string host, int port);

    [LoggerMessage(EventId = TwinEvents.MqttConnectionPublishFailed, Level = LogLevel.Warning, Message = "Publishing on {Topic} failed ({Reason})")]
    private partial void LogPublishFailed(Exception? exception, string topic, string reason);

    [LoggerMessage(EventId = TwinEvents.MqttConnectionRedelivery, Level = LogLevel.Warning, Message = "MQTT consumer reconnects so that the broker sends again what was not acknowledged ({Reason})")]
    private partial void LogRedelivery(string reason);

    [LoggerMessage(EventId = TwinEvents.MqttConnectionDisconnectFailed, Level = LogLevel.Warning, Message = "MQTT disconnect failed")]
    private partial void LogDisconnectFailed(Exception exception);
}
