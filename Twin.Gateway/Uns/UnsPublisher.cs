using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using MQTTnet;
using Twin.Factories;
using Twin.Gateway.Live;
using Twin.Gateway.Mqtt;
using Twin.Kpis;
using Twin.Live;
using Twin.Machines;
using Twin.Maintenance;

namespace Twin.Gateway.Uns;

/// <summary>
/// Publish-back: keeps the governed picture of the configured factories in the broker as retained
/// topics, one per value (<see cref="UnsLayout"/>). It watches every machine and line of a factory
/// through the live feed (<see cref="LiveFeed"/>: the same subscriptions, leases and resubscribes as
/// the hub's), reads every <c>KpiInterval</c> what the streams do not carry (OEE, tickets, line and
/// factory KPIs, new twins), diffs each against what it published (<see cref="UnsPicture"/>) and
/// publishes only what changed, on its own MQTT client. Nothing here is on the ingest path: twins
/// publish to their streams without waiting, and this service reads, diffs and sends on its own.
/// </summary>
/// <remarks>
/// After every (re)connect it republishes the whole picture, and once every factory has been read
/// it clears what the broker retains under a root that the picture does not hold (a fault that
/// cleared while the gateway was away), so the retained state converges. Each message carries the
/// user property <c>twin-origin: publish-back</c>; ingestion leaves such messages out.
/// </remarks>
internal sealed partial class UnsPublisher : BackgroundService, ILiveListener
{
    private const int ReadParallelism = 8;

    /// <summary>Every this many rounds the watched twins are read again (see <see cref="ReadAsync"/>).</summary>
    private const int ResyncRounds = 6;
    private static readonly TimeSpan RetainedQuiet = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan RetainedAtMost = TimeSpan.FromSeconds(30);
    private static readonly ReadOnlyMemory<byte> Origin = System.Text.Encoding.UTF8.GetBytes(UnsLayout.OriginValue);

    private readonly UnsPublishOptions _options;
    private readonly MqttOptions _mqtt;
    private readonly BrokerServiceAccount _service;
    private readonly bool _embeddedBroker;
    private readonly LiveFeed _feed;
    private readonly IGrainFactory _grains;
    private readonly ILogger<UnsPublisher> _logger;
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly UnsPicture _picture;
    private readonly Dictionary<string, Published> _factories;
    private readonly ConcurrentDictionary<TwinTopic, TwinChange> _changes = new();
    private readonly Dictionary<TwinTopic, long> _applied = [];
    private readonly Lock _applying = new();
    private readonly Channel<bool> _changed = Wake();
    private readonly Channel<bool> _queued = Wake();
    private readonly ConcurrentDictionary<string, byte> _retained = new(StringComparer.Ordinal);
    private readonly Counter<long> _published;
    private int _connection;
    private int _failures;
    private int _refusedLogged;
    private volatile bool _collecting;
    private long _retainedAt;

    public UnsPublisher(
        IOptions<UnsPublishOptions> options,
        IOptions<MqttOptions> mqtt,
        IOptions<BrokerOptions> broker,
        BrokerServiceAccount service,
        LiveFeed feed,
        IGrainFactory grains,
        IMeterFactory meters,
        ILogger<UnsPublisher> logger)
    {
        _options = options.Value;
        _mqtt = mqtt.Value;
        _service = service;
        _embeddedBroker = broker.Value.Enabled;
        _feed = feed;
        _grains = grains;
        _logger = logger;
        _picture = new UnsPicture(_options.MaxTopics, _options.MinInterval);
        _factories = _options.Factories.ToDictionary(f => f, f => new Published(f, _options.RootOf(f).Root), StringComparer.Ordinal);
        var meter = meters.Create(TwinMeters.Name);
        _published = meter.CreateCounter<long>("twin.uns.published", description: "Publish-back messages the broker took, by kind: value or clear (an empty retained payload).");
        meter.CreateObservableCounter("twin.uns.superseded", () => _picture.Superseded, description: "Publish-back values replaced by a newer one before they were sent (latest wins).");
        meter.CreateObservableCounter("twin.uns.refused", () => _picture.Refused, description: "Publish-back values not published because Twin:Uns:Publish:MaxTopics was reached.");
        meter.CreateObservableGauge("twin.uns.pending", () => _picture.Pending, description: "Publish-back topics waiting to be sent.");
        meter.CreateObservableGauge("twin.uns.topics", () => _picture.Values, description: "Publish-back topics with a value.");
    }

    /// <summary>True while connected to the broker.</summary>
    public bool IsConnected => _client.IsConnected;

    /// <summary>A watched machine or line changed (called by the live feed: only note it).</summary>
    public void OnChange(TwinTopic topic, TwinChange change)
    {
        _changes.AddOrUpdate(topic, change, (_, old) => change.Version >= old.Version ? change : old);
        _changed.Writer.TryWrite(true);
    }

    public override void Dispose()
    {
        _client.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _client.ApplicationMessageReceivedAsync += OnReceivedAsync;
        List<Task> loops =
        [
            MqttReconnect.RunAsync(_client, ConnectAsync, (ex, seconds) => LogConnectFailed(ex, _mqtt.Host, _mqtt.Port, seconds), stoppingToken),
            SendAsync(stoppingToken),
            ApplyAsync(stoppingToken),
            .. _factories.Values.Select(f => ReadLoopAsync(f, stoppingToken)),
        ];
        try
        {
            await Task.WhenAll(loops);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }

        try
        {
            await Task.WhenAll(_factories.Values.SelectMany(f => f.Watched.Keys).Select(t => _feed.UnwatchAsync(t, this)));
        }
        catch (Exception)
        {
            // The cluster is going away with this process: what is left goes with the feed.
        }

        if (_client.IsConnected)
        {
            try
            {
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build(), CancellationToken.None);
            }
            catch (Exception ex)
            {
                LogDisconnectFailed(ex);
            }
        }
    }

    private async Task ConnectAsync(CancellationToken cancellationToken)
    {
        var clientId = _options.EffectiveClientId(_mqtt);
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(_mqtt.Host, _mqtt.Port)
            .WithClientId(clientId)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithCleanStart(true)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(15))
            .WithTimeout(TimeSpan.FromSeconds(10))
            .WithGatewayCredentials(_mqtt, _service, _embeddedBroker);
        var result = await _client.ConnectAsync(builder.Build(), cancellationToken);
        if (result.ResultCode != MqttClientConnectResultCode.Success)
        {
            throw new InvalidOperationException($"the broker refused the connection: {result.ResultCode} {result.ReasonString}");
        }

        var connection = Interlocked.Increment(ref _connection);
        _failures = 0;
        // A new connection: the broker's retained state may be anything (it restarted, lost its
        // store, or another publisher wrote meanwhile), so the whole picture goes out again.
        var queued = _picture.RequeueAll(Environment.TickCount64);
        _queued.Writer.TryWrite(true);
        LogConnected(_mqtt.Host, _mqtt.Port, clientId, queued);
        _ = ClearStaleAsync(connection, cancellationToken);
    }

    /// <summary>Sends what is due, one publish at a time, in the order the picture gives.</summary>
    private async Task SendAsync(CancellationToken stoppingToken)
    {
        var qos = _options.QualityOfService;
        while (!stoppingToken.IsCancellationRequested)
        {
            var wait = 1000L;
            if (_client.IsConnected)
            {
                if (_picture.TryTake(Environment.TickCount64, out var topic, out var payload, out var due))
                {
                    if (await PublishAsync(topic, payload, qos))
                    {
                        _picture.Sent(topic, payload);
                        _published.Add(1, new KeyValuePair<string, object?>("kind", payload.Length == 0 ? "clear" : "value"));
                    }

                    continue;
                }

                wait = due < 0 ? 1000 : Math.Clamp(due, 1, 1000);
            }

            await WaitAsync(_queued, TimeSpan.FromMilliseconds(wait), stoppingToken);
        }
    }

    private async Task<bool> PublishAsync(string topic, byte[] payload, MQTTnet.Protocol.MqttQualityOfServiceLevel qos)
    {
        try
        {
            var message = new MqttApplicationMessageBuilder()
                .WithTopic(topic)
                .WithPayload(payload)
                .WithQualityOfServiceLevel(qos)
                .WithRetainFlag(true)
                .WithContentType("application/json")
                .WithUserProperty(UnsLayout.OriginProperty, Origin)
                .Build();
            var result = await _client.PublishAsync(message, CancellationToken.None);
            if (result.IsSuccess)
            {
                return true;
            }

            PublishFailed(null, topic, result.ReasonCode.ToString());
        }
        catch (Exception ex)
        {
            // Not connected any more: the next connection republishes everything.
            PublishFailed(ex, topic, "error");
        }

        return false;
    }

    /// <summary>Logs the first failed publish of a connection; the others only count (a broker ACL without the subtree refuses them all).</summary>
    private void PublishFailed(Exception? exception, string topic, string reason)
    {
        if (Interlocked.Increment(ref _failures) == 1)
        {
            LogPublishFailed(exception, topic, reason);
        }
    }

    /// <summary>Turns the latest change of each watched twin into its values.</summary>
    private async Task ApplyAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (await _changed.Reader.WaitToReadAsync(stoppingToken))
            {
                _changed.Reader.TryRead(out _);
                foreach (var topic in _changes.Keys)
                {
                    if (_changes.TryRemove(topic, out var change))
                    {
                        Apply(topic, change);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>A twin's state, unless a newer one was applied already: replaces its values in the picture.</summary>
    private void Apply(TwinTopic topic, TwinChange change)
    {
        if (!_factories.TryGetValue(topic.Factory, out var factory))
        {
            return;
        }

        lock (_applying)
        {
            if (_applied.TryGetValue(topic, out var applied) && change.Version <= applied)
            {
                return;
            }

            _applied[topic] = change.Version;
            if (change.Machine is { } machine)
            {
                Replace(factory.Source("machine", topic.Id), UnsLayout.Machine(factory.Root, machine));
            }
            else if (change.Line is { } line)
            {
                Replace(factory.Source("line", topic.Id), UnsLayout.Line(factory.Root, line));
            }
        }
    }

    private void Replace(string source, IReadOnlyDictionary<string, byte[]> values)
    {
        if (_picture.Replace(source, values, Environment.TickCount64) > 0 && Interlocked.Exchange(ref _refusedLogged, 1) == 0)
        {
            LogTopicsRefused(_options.MaxTopics);
        }

        _queued.Writer.TryWrite(true);
    }

    private async Task ReadLoopAsync(Published factory, CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.KpiInterval);
        try
        {
            do
            {
                var failures = 0;
                try
                {
                    failures = await ReadAsync(factory, stoppingToken);
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    LogReadFailed(ex, factory.Factory, 1);
                    failures = 1;
                }

                if (failures == 0)
                {
                    factory.Loaded.TrySetResult();
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// One round for a factory: watches the machines and lines it does not watch yet (every few
    /// rounds reads the watched ones again), reads each machine's OEE and tickets and the factory's
    /// KPIs; returns how many reads failed (their values stay as they were until a later round reads them).
    /// </summary>
    private async Task<int> ReadAsync(Published factory, CancellationToken stoppingToken)
    {
        var f = factory.Factory;
        var directory = _grains.GetGrain<IFactoryGrain>(f);
        var machines = await directory.ListAsync(TwinKind.Machine);
        var lines = await directory.ListAsync(TwinKind.Line);
        var desks = await directory.ListAsync(TwinKind.TicketDesk);
        var failures = 0;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = ReadParallelism, CancellationToken = stoppingToken };
        Exception? first = null;

        async Task TryAsync(Func<Task> read)
        {
            try
            {
                await read();
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                Interlocked.Increment(ref failures);
                Interlocked.CompareExchange(ref first, ex, null);
            }
        }

        var unwatched = machines.Select(m => TwinTopic.Machine(f, m)).Concat(lines.Select(l => TwinTopic.Line(f, l))).Where(t => !factory.Watched.ContainsKey(t));
        await Parallel.ForEachAsync(unwatched, parallel, (topic, _) => new ValueTask(TryAsync(async () =>
        {
            // Applied here, not queued: the round that first reads a factory must leave its picture whole.
            Apply(topic, await _feed.WatchAsync(topic, this));
            factory.Watched[topic] = 0;
        })));

        if (++factory.Rounds % ResyncRounds == 0)
        {
            // The streams are best effort (a change made while a twin's lease lapsed, or its
            // subscription was being made again, is never delivered): read the twins again now and
            // then, so a missed change is made good within a few rounds.
            await Parallel.ForEachAsync(factory.Watched.Keys, parallel, (topic, _) => new ValueTask(TryAsync(async () => Apply(topic, await _feed.SnapshotAsync(topic)))));
        }

        await Parallel.ForEachAsync(machines, parallel, (machine, _) => new ValueTask(TryAsync(async () =>
        {
            var oee = await _grains.GetGrain<IMachineGrain>(TwinKey.Compose(f, machine)).GetOeeAsync();
            Replace(factory.Source("oee", machine), UnsLayout.MachineOee(factory.Root, oee, _options.OeeWindows, _picture.Get));
        })));

        var tickets = new ConcurrentDictionary<string, ConcurrentBag<Ticket>>(StringComparer.Ordinal);
        var unread = new ConcurrentDictionary<string, byte>(StringComparer.Ordinal);
        await Parallel.ForEachAsync(desks, parallel, (id, _) => new ValueTask(TryAsync(async () =>
        {
            var desk = TicketDeskKey.OfId(f, id);
            try
            {
                var bag = tickets.GetOrAdd(desk.Machine, _ => []);
                foreach (var ticket in await _grains.GetGrain<IMaintenanceTicketGrain>(desk.GrainKey).ListAsync())
                {
                    bag.Add(ticket);
                }
            }
            catch
            {
                unread[desk.Machine] = 0;
                throw;
            }
        })));
        foreach (var machine in machines.Where(m => !unread.ContainsKey(m)))
        {
            Replace(factory.Source("tickets", machine), UnsLayout.MachineTickets(factory.Root, machine, tickets.GetValueOrDefault(machine) ?? []));
        }

        await TryAsync(async () =>
        {
            var kpis = await _grains.GetGrain<IFactoryKpiGrain>(f).GetAsync();
            Replace(factory.Source("kpi", ""), UnsLayout.FactoryKpis(factory.Root, kpis));
            var reports = kpis.Lines.ToDictionary(r => r.Line, StringComparer.Ordinal);
            foreach (var line in lines.Union(reports.Keys))
            {
                Replace(factory.Source("line-kpi", line), reports.TryGetValue(line, out var report) ? UnsLayout.LineKpi(factory.Root, report) : []);
            }
        });

        if (first is not null)
        {
            LogReadFailed(first, f, failures);
        }

        return failures;
    }

    /// <summary>
    /// Once every factory has been read, clears what the broker retains under the roots that the
    /// picture does not hold: values of an earlier run that no longer exist (a fault that cleared,
    /// a ticket resolved while this gateway was away). Once per connection.
    /// </summary>
    private async Task ClearStaleAsync(int connection, CancellationToken stoppingToken)
    {
        try
        {
            await Task.WhenAll(_factories.Values.Select(f => f.Loaded.Task)).WaitAsync(stoppingToken);
            if (connection != Volatile.Read(ref _connection) || !_client.IsConnected)
            {
                return;
            }

            _retained.Clear();
            _retainedAt = Environment.TickCount64;
            _collecting = true;
            var filters = _factories.Values.Select(f => f.Root + "/#").ToList();
            var subscribe = new MqttClientSubscribeOptionsBuilder();
            foreach (var filter in filters)
            {
                subscribe = subscribe.WithTopicFilter(t => t.WithTopic(filter).WithAtMostOnceQoS());
            }

            await _client.SubscribeAsync(subscribe.Build(), stoppingToken);
            var started = Environment.TickCount64;
            // Retained messages come right after the subscription; a quiet second means they are all in.
            while (Environment.TickCount64 - Interlocked.Read(ref _retainedAt) < RetainedQuiet.TotalMilliseconds && Environment.TickCount64 - started < RetainedAtMost.TotalMilliseconds)
            {
                await Task.Delay(100, stoppingToken);
            }

            _collecting = false;
            var unsubscribe = new MqttClientUnsubscribeOptionsBuilder();
            foreach (var filter in filters)
            {
                unsubscribe = unsubscribe.WithTopicFilter(filter);
            }

            await _client.UnsubscribeAsync(unsubscribe.Build(), stoppingToken);
            var cleared = _picture.ClearUnknown(_retained.Keys, Environment.TickCount64);
            _queued.Writer.TryWrite(true);
            if (cleared > 0)
            {
                LogStaleCleared(cleared);
            }
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            // The connection dropped meanwhile: the next one sweeps again.
            _collecting = false;
            PublishFailed(ex, string.Join(", ", _factories.Values.Select(f => f.Root + "/#")), "retained sweep");
        }
        catch (OperationCanceledException)
        {
        }
    }

    private Task OnReceivedAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        var message = e.ApplicationMessage;
        if (_collecting && message.Retain && message.Payload.Length > 0)
        {
            _retained[message.Topic] = 0;
            Interlocked.Exchange(ref _retainedAt, Environment.TickCount64);
        }

        return Task.CompletedTask;
    }

    private static Channel<bool> Wake() => Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    private static async Task WaitAsync(Channel<bool> wake, TimeSpan timeout, CancellationToken stoppingToken)
    {
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timer.CancelAfter(timeout);
        try
        {
            if (await wake.Reader.WaitToReadAsync(timer.Token))
            {
                wake.Reader.TryRead(out _);
            }
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One published factory: its root, the twins watched for it, whether it has been read in full once.</summary>
    private sealed class Published(string factory, string root)
    {
        public string Factory { get; } = factory;

        public string Root { get; } = root;

        public ConcurrentDictionary<TwinTopic, byte> Watched { get; } = new();

        /// <summary>Rounds read so far (by the factory's one read loop).</summary>
        public int Rounds { get; set; }

        public TaskCompletionSource Loaded { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The picture's key of one source of values of this factory.</summary>
        public string Source(string kind, string id) => $"{Factory}/{kind}/{id}";
    }

    [LoggerMessage(EventId = TwinEvents.UnsPublisherConnected, Level = LogLevel.Information, Message = "UNS publish-back connected to {Host}:{Port} as {ClientId}; republishing {Topics} topics")]
    private partial void LogConnected(string host, int port, string clientId, int topics);

    [LoggerMessage(EventId = TwinEvents.UnsPublisherConnectFailed, Level = LogLevel.Warning, Message = "UNS publish-back cannot connect to {Host}:{Port}; retrying in {Seconds} s")]
    private partial void LogConnectFailed(Exception exception, string host, int port, double seconds);

    [LoggerMessage(EventId = TwinEvents.UnsPublisherDisconnectFailed, Level = LogLevel.Warning, Message = "UNS publish-back: disconnecting from the broker failed")]
    private partial void LogDisconnectFailed(Exception exception);

    [LoggerMessage(EventId = TwinEvents.UnsPublisherPublishFailed, Level = LogLevel.Warning, Message = "UNS publish-back: publishing {Topic} failed ({Reason}); further failures on this connection are not logged (grant the gateway's account write access to the subtree)")]
    private partial void LogPublishFailed(Exception? exception, string topic, string reason);

    [LoggerMessage(EventId = TwinEvents.UnsPublisherReadFailed, Level = LogLevel.Warning, Message = "UNS publish-back: {Failures} reads of factory {Factory} failed; their values stay as they were until the next round")]
    private partial void LogReadFailed(Exception exception, string factory, int failures);

    [LoggerMessage(EventId = TwinEvents.UnsPublisherTopicsRefused, Level = LogLevel.Warning, Message = "UNS publish-back holds {Max} topics (Twin:Uns:Publish:MaxTopics): further values are not published (counted in twin_uns_refused_total)")]
    private partial void LogTopicsRefused(int max);

    [LoggerMessage(EventId = TwinEvents.UnsPublisherStaleCleared, Level = LogLevel.Information, Message = "UNS publish-back: cleared {Count} retained topics the twins no longer hold")]
    private partial void LogStaleCleared(int count);
}
