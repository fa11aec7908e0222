using System.Collections.Immutable;
using Microsoft.Extensions.Options;
using MQTTnet.Protocol;
using Twin.DeadLetters;
using Twin.Ingestion;
using Twin.Ingestion.Sparkplug;
using Twin.Ingestion.Uns;
using Twin.Machines;

namespace Twin.Gateway.Mqtt;

/// <summary>
/// Consumes the contract topics, and Sparkplug B as a host application, at least once. It composes
/// three parts: the connection (<see cref="MqttConnection"/>: session, subscriptions, reconnects,
/// acknowledgement), the one ingest pipeline (<see cref="IngestPipeline"/>: parse, normalise, twin,
/// dead letters, statistics, retries) and a per-machine serial dispatcher
/// (<see cref="KeyedSerialDispatcher{TItem}"/>). Sparkplug messages are decoded first, in arrival
/// order, by <see cref="SparkplugHost"/> (births, aliases, seq, deaths), into the same machine
/// messages. A message is acknowledged only after its twins (or its dead letter) are durable.
/// </summary>
internal sealed partial class MqttIngestService(
    IOptions<MqttOptions> options,
    IOptions<IngestOptions> ingest,
    IngestPipeline pipeline,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    BrokerServiceAccount service,
    IOptions<BrokerOptions> broker,
    IOptions<SparkplugOptions> sparkplug,
    IOptions<ProfilesOptions> profiles,
    LineMembership lines,
    IngestStatistics statistics,
    IGrainFactory grains,
    ILogger<MqttIngestService> logger) : BackgroundService
{
    private const string Source = "mqtt";
    private const int DrainBatch = 512;
    private MqttConnection? _connection;

    /// <summary>True while connected and subscribed.</summary>
    public bool IsConnected => _connection?.IsConnected == true;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var host = sparkplug.Value.Enabled ? new SparkplugHost(sparkplug.Value, ingest.Value.Limits) : null;
        var uns = new UnsRouter(profiles.Value, ingest.Value.Limits, time.GetUtcNow());
        var session = grains.GetGrain<Twin.Operations.IMqttSessionGrain>(options.Value.EffectiveClientId);
        using var connection = new MqttConnection(options.Value, ingest.Value.MaxPayloadBytes, service, broker.Value.Enabled, host is null ? null : sparkplug.Value, uns.Filters, time, logger, session);
        _connection = connection;
        var dispatcher = new KeyedSerialDispatcher<Routed>(ingest.Value.MaxConcurrentCalls, (key, items, ct) => IngestAsync(connection, key, items, ct));
        var reading = Task.Run(() => ReadAsync(connection, host, uns, dispatcher, stoppingToken), CancellationToken.None);
        _ = reading.ContinueWith(
            t =>
            {
                // Without its reader the gateway would take messages and never acknowledge them:
                // stop, so the orchestrator restarts it and the broker redelivers.
                if (t.IsFaulted && !stoppingToken.IsCancellationRequested)
                {
                    LogDispatcherFailed(t.Exception!);
                    lifetime.StopApplication();
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

        await connection.RunAsync(stoppingToken);

        // Stop taking messages, let the calls in flight finish and acknowledge, then leave.
        // What is still queued here was never acknowledged: the broker redelivers it later.
        connection.StopReceiving();
        try
        {
            await reading;
        }
        catch (OperationCanceledException)
        {
        }

        await dispatcher.DrainAsync(TimeSpan.FromSeconds(10));
        await connection.DisconnectAsync();
    }

    /// <summary>
    /// Reads what arrived in batches: unroutable topics to dead letters, the rest to its machine, one
    /// call per machine at a time. Sparkplug messages are decoded here, in arrival order, since an edge
    /// node's births, aliases and seq are a sequence.
    /// </summary>
    private async Task ReadAsync(MqttConnection connection, SparkplugHost? host, UnsRouter uns, KeyedSerialDispatcher<Routed> dispatcher, CancellationToken stoppingToken)
    {
        var reader = connection.Received;
        var batch = new List<MqttInbound>(DrainBatch);
        while (await WaitAsync(reader, host, stoppingToken))
        {
            batch.Clear();
            while (batch.Count < DrainBatch && reader.TryRead(out var item))
            {
                batch.Add(item);
            }

            var groups = new Dictionary<string, List<Routed>>(StringComparer.Ordinal);
            List<Routed>? unroutable = null;
            List<MqttInbound>? ignored = null;

            async Task SparkplugAsync(IReadOnlyList<SparkplugOutcome> outcomes)
            {
                foreach (var outcome in outcomes)
                {
                    var inbound = (MqttInbound)outcome.Token!;
                    if (outcome.Command is { } command)
                    {
                        await RequestRebirthAsync(connection, command);
                    }

                    if (outcome.Rejection is { } reason)
                    {
                        (unroutable ??= []).Add(new Routed(inbound, default, reason) { Source = SparkplugHost.Source, Factory = outcome.Factory, Text = outcome.Text });
                    }
                    else if (outcome.IsIgnored)
                    {
                        // Nothing for a twin (a command, another host's state, a birth without numbers).
                        (ignored ??= []).Add(inbound);
                    }
                    else
                    {
                        // Its twins' messages and the dead letters of the metrics refused one by one:
                        // acknowledged once all of them are durable.
                        var count = outcome.Messages.Count + outcome.Refused.Count;
                        var parts = count > 1 ? new Parts(count) : null;
                        foreach (var reading in outcome.Messages)
                        {
                            Add(groups, reading.GrainKey, new Routed(inbound, default, null) { Source = SparkplugHost.Source, Decoded = reading.Message, Metrics = reading.Metrics, Parts = parts });
                        }

                        foreach (var refusal in outcome.Refused)
                        {
                            (unroutable ??= []).Add(new Routed(inbound, default, refusal.Reason) { Source = SparkplugHost.Source, Factory = outcome.Factory, Text = refusal.Text, Parts = parts });
                        }
                    }
                }
            }

            if (host is not null && host.Holding)
            {
                // Messages held back for a missing seq whose wait is over: refused as a gap.
                await SparkplugAsync(host.Expire(time.GetUtcNow()));
            }

            foreach (var item in batch)
            {
                if (item.Copy)
                {
                    // Delivered for another of our subscriptions too (overlapping filters): taken in from that copy.
                    (ignored ??= []).Add(item);
                    statistics.CopyIgnored();
                }
                else if (item.Echo)
                {
                    // The twin's own publish-back (a UNS template of this or another gateway covers it): never taken in again.
                    (ignored ??= []).Add(item);
                    statistics.EchoIgnored();
                }
                else if (host is not null && SparkplugTopic.IsSparkplug(item.Topic))
                {
                    // Held back (ahead of a missing seq): nothing now; it comes with a later outcome.
                    await SparkplugAsync(host.Handle(item.Topic, item.Payload, item.Length, time.GetUtcNow(), item, item.OversizedSeq));
                }
                else if (MachineTopic.TryParse(item.Topic, out var topic, out var error))
                {
                    Add(groups, topic.GrainKey, new Routed(item, topic, null));
                }
                else if (uns.TryRoute(item.Topic, item.Payload, item.Length, time.GetUtcNow(), out var decoded))
                {
                    var routed = new Routed(item, default, decoded.Rejection) { Source = UnsRouter.Source, Decoded = decoded.Message, Factory = decoded.Factory, Line = decoded.Line };
                    if (decoded.Message is null)
                    {
                        (unroutable ??= []).Add(routed);
                    }
                    else
                    {
                        Add(groups, decoded.GrainKey, routed);
                    }
                }
                else if (uns.TryExplain(item.Topic, out var factory, out var mismatch))
                {
                    // Delivered for a UNS template, but not of its shape: say which template, not the JSON contract's.
                    (unroutable ??= []).Add(new Routed(item, default, mismatch) { Source = UnsRouter.Source, Factory = factory });
                }
                else if (MachineTopic.IsOutboundEvent(item.Topic))
                {
                    // The cluster's own outbound event, under the contract's root: not input.
                    (ignored ??= []).Add(item);
                }
                else
                {
                    (unroutable ??= []).Add(new Routed(item, default, error));
                }
            }

            if (ignored is not null)
            {
                await connection.AcknowledgeAsync(ignored);
            }

            if (unroutable is not null)
            {
                foreach (var byFactory in unroutable.GroupBy(r => r.Factory ?? IngestPipeline.FactoryOf(r.Inbound.Topic), StringComparer.Ordinal))
                {
                    // Dead letters of one factory are serial with each other like a machine's readings.
                    await dispatcher.EnqueueAsync("dead-letters:" + byFactory.Key, [.. byFactory], stoppingToken);
                }
            }

            foreach (var (key, group) in groups)
            {
                await dispatcher.EnqueueAsync(key, group, stoppingToken);
            }
        }
    }

    /// <summary>Waits for messages; while the Sparkplug host holds some back, wakes at least every 250 ms to let it expire them.</summary>
    private static async Task<bool> WaitAsync(System.Threading.Channels.ChannelReader<MqttInbound> reader, SparkplugHost? host, CancellationToken stoppingToken)
    {
        if (host is null || !host.Holding)
        {
            return await reader.WaitToReadAsync(stoppingToken);
        }

        using var wake = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        wake.CancelAfter(TimeSpan.FromMilliseconds(250));
        try
        {
            return await reader.WaitToReadAsync(wake.Token);
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            return true;
        }
    }

    private static void Add(Dictionary<string, List<Routed>> groups, string key, Routed routed)
    {
        if (!groups.TryGetValue(key, out var group))
        {
            groups[key] = group = [];
        }

        group.Add(routed);
    }

    private async Task RequestRebirthAsync(MqttConnection connection, SparkplugCommand command)
    {
        // QoS 0 as the specification has commands; if it is lost, the next unreadable message asks again.
        if (await connection.PublishAsync(command.Topic, command.Payload, MqttQualityOfServiceLevel.AtMostOnce, retain: false))
        {
            LogRebirthRequested(command.Topic);
        }
        else
        {
            LogRebirthFailed(command.Topic);
        }
    }

    /// <summary>One key's batch through the pipeline, then acknowledged; false when the gateway is stopping.</summary>
    private async Task<bool> IngestAsync(MqttConnection connection, string key, IReadOnlyList<Routed> routed, CancellationToken stoppingToken)
    {
        try
        {
            var now = time.GetUtcNow();
            if (key.StartsWith("dead-letters:", StringComparison.Ordinal))
            {
                var factory = key["dead-letters:".Length..];
                foreach (var bySource in routed.GroupBy(r => r.Source))
                {
                    var letters = bySource.Select(r => r.Letter(r.Error!, now)).ToImmutableArray();
                    if (!await pipeline.DeadLetterAsync(bySource.Key, factory, letters, retry: true, stoppingToken))
                    {
                        return false;
                    }
                }

                await AcknowledgeAsync(connection, routed);
                return true;
            }

            // Plain loops from here on: a batch is mostly one message, and this runs for every one.
            List<string>? learned = null;
            for (var i = 0; i < routed.Count; i++)
            {
                if (routed[i].Line is { } line && !(learned ??= []).Contains(line, StringComparer.Ordinal))
                {
                    learned.Add(line);
                    var (factory, machine) = TwinKey.Split(key);
                    await lines.LearnAsync(factory, line, machine);
                }
            }

            var accepted = new List<(Routed Routed, MachineMessage Message)>(routed.Count);
            List<(Routed Routed, DeadLetter Letter)>? refused = null;
            var normaliser = await pipeline.NormaliserAsync(TwinKey.Split(key).Factory);
            List<DeadLetter>? metricLetters = null; // acknowledged with their message, once it is applied
            foreach (var r in routed)
            {
                ParseResult parsed;
                if (r.Decoded is { } decoded && !r.Metrics.IsDefault)
                {
                    // Sparkplug metrics are independent tags: one the profile refuses is a dead letter
                    // of its own, naming the metric, and the others are taken.
                    parsed = pipeline.PrepareEach(decoded, r.Inbound.Origin, normaliser, r.Source, r.Metrics, now, metricLetters ??= []);
                }
                else
                {
                    parsed = r.Decoded is { } other
                        ? pipeline.Prepare(other, r.Inbound.Origin, normaliser)
                        : pipeline.Prepare(r.Topic, r.Inbound.Origin, now, normaliser);
                }

                if (parsed.Ok)
                {
                    accepted.Add((r, parsed.Message!));
                }
                else
                {
                    (refused ??= []).Add((r, r.Letter(parsed.Error!, now)));
                }
            }

            foreach (var bySource in refused?.GroupBy(r => r.Routed.Source) ?? [])
            {
                if (!await pipeline.DeadLetterAsync(bySource.Key, TwinKey.Split(key).Factory, [.. bySource.Select(r => r.Letter)], retry: true, stoppingToken))
                {
                    return false;
                }
            }

            if (metricLetters is not null && !await pipeline.DeadLetterAsync(SparkplugHost.Source, TwinKey.Split(key).Factory, [.. metricLetters], retry: true, stoppingToken))
            {
                return false;
            }

            // In arrival order, in runs of one source (JSON and Sparkplug may feed the same machine).
            for (var start = 0; start < accepted.Count;)
            {
                var source = accepted[start].Routed.Source;
                var end = start + 1;
                while (end < accepted.Count && end - start < DrainBatch && accepted[end].Routed.Source == source)
                {
                    end++;
                }

                var messages = new MachineMessage[end - start];
                var origins = new Origin[end - start];
                for (var i = start; i < end; i++)
                {
                    messages[i - start] = accepted[i].Message;
                    origins[i - start] = accepted[i].Routed.Inbound.Origin;
                }

                if (await pipeline.ApplyAsync(source, key, messages, origins, retry: true, stoppingToken) is null)
                {
                    return false; // stopping: what is left stays unacknowledged and comes again
                }

                for (var i = start; i < end; i++)
                {
                    await AcknowledgeAsync(connection, accepted[i].Routed);
                }

                start = end;
            }

            // The refused ones are durable as dead letters: acknowledged too.
            foreach (var (r, _) in refused ?? [])
            {
                await AcknowledgeAsync(connection, r);
            }

            return true;
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            // Not acknowledged, and neither is what waits for this machine behind it: reconnect so
            // that the broker sends them again (a reconnect alone redelivers in MQTT).
            LogBatchFailed(ex, key);
            connection.Redeliver($"a batch for {key} failed");
            return false;
        }
    }

    /// <summary>Acknowledges each message whose every part is durable (a Sparkplug death or a multi-device message has several).</summary>
    private static Task AcknowledgeAsync(MqttConnection connection, IEnumerable<Routed> routed) =>
        connection.AcknowledgeAsync(routed.Where(r => r.Parts is null || r.Parts.Done()).Select(r => r.Inbound));

    private static Task AcknowledgeAsync(MqttConnection connection, in Routed routed) =>
        routed.Parts is null || routed.Parts.Done() ? connection.AcknowledgeAsync(routed.Inbound) : Task.CompletedTask;

    /// <summary>
    /// A message and where it goes: its parsed topic, or why it has none; for Sparkplug the
    /// decoded machine message (one of <see cref="Parts"/>, when the message has several).
    /// </summary>
    private readonly record struct Routed(MqttInbound Inbound, MachineTopic Topic, string? Error)
    {
        public MachineMessage? Decoded { get; init; }

        public Parts? Parts { get; init; }

        /// <summary>For Sparkplug telemetry, the metric name of each reading, to name a refused one.</summary>
        public ImmutableArray<string> Metrics { get; init; }

        /// <summary>The factory of a dead letter, when the decoder knew it.</summary>
        public string? Factory { get; init; }

        /// <summary>The payload as text for a dead letter, when the decoder made it (binary payloads).</summary>
        public string? Text { get; init; }

        /// <summary>Which source it counts under: the JSON contract, Sparkplug or UNS.</summary>
        public string Source { get; init; } = MqttIngestService.Source;

        /// <summary>The line its topic names, for the machine to join (UNS templates with <c>{line}</c>).</summary>
        public string? Line { get; init; }

        public DeadLetter Letter(string reason, DateTimeOffset now) =>
            Source == SparkplugHost.Source
                ? IngestPipeline.Letter(Source, Inbound.Topic, reason, Text is { Length: > 0 } text ? text : SparkplugHost.Describe(Inbound.Payload), now)
                : IngestPipeline.Letter(Source, Inbound.Origin, reason, now);
    }

    /// <summary>The parts of one received message that must all be durable before it is acknowledged.</summary>
    private sealed class Parts(int count)
    {
        private int _left = count;

        /// <summary>Marks one part durable; true for the last one.</summary>
        public bool Done() => Interlocked.Decrement(ref _left) == 0;
    }

    [LoggerMessage(EventId = TwinEvents.SparkplugRebirthRequested, Level = LogLevel.Information, Message = "Sparkplug: requested a rebirth on {Topic}")]
    private partial void LogRebirthRequested(string topic);

    [LoggerMessage(EventId = TwinEvents.SparkplugRebirthFailed, Level = LogLevel.Warning, Message = "Sparkplug: could not request a rebirth on {Topic}; the next unreadable message asks again")]
    private partial void LogRebirthFailed(string topic);

    [LoggerMessage(EventId = TwinEvents.MqttIngestServiceDispatcherFailed, Level = LogLevel.Critical, Message = "The MQTT dispatcher failed; stopping the gateway so it restarts")]
    private partial void LogDispatcherFailed(Exception exception);

    [LoggerMessage(EventId = TwinEvents.MqttIngestServiceBatchFailed, Level = LogLevel.Error, Message = "Ingesting a batch for {Key} failed; its messages are not acknowledged and come again after a reconnect")]
    private partial void LogBatchFailed(Exception exception, string key);
}
