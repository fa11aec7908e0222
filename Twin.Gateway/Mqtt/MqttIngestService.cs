using System.Collections.Immutable;
using Microsoft.Extensions.Options;
using Twin.DeadLetters;
using Twin.Ingestion;
using Twin.Machines;

namespace Twin.Gateway.Mqtt;

/// <summary>
/// Consumes the contract topics at least once. It composes three parts: the connection
/// (<see cref="MqttConnection"/>: session, subscription, reconnects, acknowledgement), the one
/// ingest pipeline (<see cref="IngestPipeline"/>: parse, normalise, twin, dead letters,
/// statistics, retries) and a per-machine serial dispatcher (<see cref="KeyedSerialDispatcher{TItem}"/>).
/// A message is acknowledged only after its twin (or its dead letter) is durable.
/// </summary>
internal sealed partial class MqttIngestService(
    IOptions<MqttOptions> options,
    IOptions<IngestOptions> ingest,
    IngestPipeline pipeline,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    BrokerServiceAccount service,
    IOptions<BrokerOptions> broker,
    ILogger<MqttIngestService> logger) : BackgroundService
{
    private const string Source = "mqtt";
    private const int DrainBatch = 512;
    private MqttConnection? _connection;

    /// <summary>True while connected and subscribed.</summary>
    public bool IsConnected => _connection?.IsConnected == true;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var connection = new MqttConnection(options.Value, ingest.Value.MaxPayloadBytes, service, broker.Value.Enabled, logger);
        _connection = connection;
        var dispatcher = new KeyedSerialDispatcher<Routed>(ingest.Value.MaxConcurrentCalls, (key, items, ct) => IngestAsync(connection, key, items, ct));
        var reading = Task.Run(() => ReadAsync(connection, dispatcher, stoppingToken), CancellationToken.None);
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

    /// <summary>Reads what arrived in batches: unroutable topics to dead letters, the rest to its machine, one call per machine at a time.</summary>
    private static async Task ReadAsync(MqttConnection connection, KeyedSerialDispatcher<Routed> dispatcher, CancellationToken stoppingToken)
    {
        var reader = connection.Received;
        var batch = new List<MqttInbound>(DrainBatch);
        while (await reader.WaitToReadAsync(stoppingToken))
        {
            batch.Clear();
            while (batch.Count < DrainBatch && reader.TryRead(out var item))
            {
                batch.Add(item);
            }

            var groups = new Dictionary<string, List<Routed>>(StringComparer.Ordinal);
            List<Routed>? unroutable = null;
            foreach (var item in batch)
            {
                if (MachineTopic.TryParse(item.Topic, out var topic, out var error))
                {
                    var key = topic.GrainKey;
                    if (!groups.TryGetValue(key, out var group))
                    {
                        groups[key] = group = [];
                    }

                    group.Add(new Routed(item, topic, null));
                }
                else
                {
                    (unroutable ??= []).Add(new Routed(item, default, error));
                }
            }

            if (unroutable is not null)
            {
                foreach (var byFactory in unroutable.GroupBy(r => IngestPipeline.FactoryOf(r.Inbound.Topic), StringComparer.Ordinal))
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

    /// <summary>One key's batch through the pipeline, then acknowledged; false when the gateway is stopping.</summary>
    private async Task<bool> IngestAsync(MqttConnection connection, string key, IReadOnlyList<Routed> routed, CancellationToken stoppingToken)
    {
        try
        {
            var now = time.GetUtcNow();
            var items = routed.Select(r => r.Inbound).ToList();
            if (key.StartsWith("dead-letters:", StringComparison.Ordinal))
            {
                var factory = key["dead-letters:".Length..];
                var letters = routed.Select(r => IngestPipeline.Letter(Source, r.Inbound.Origin, r.Error!, now)).ToImmutableArray();
                if (!await pipeline.DeadLetterAsync(Source, factory, letters, retry: true, stoppingToken))
                {
                    return false;
                }

                await connection.AcknowledgeAsync(items);
                return true;
            }

            var accepted = new List<MqttInbound>(items.Count);
            var messages = new List<MachineMessage>(items.Count);
            var rejected = new List<DeadLetter>();
            var refusedItems = new List<MqttInbound>();
            var normaliser = await pipeline.NormaliserAsync(TwinKey.Split(key).Factory);
            foreach (var (item, topic, _) in routed)
            {
                var parsed = pipeline.Prepare(topic, item.Origin, now, normaliser);
                if (parsed.Ok)
                {
                    accepted.Add(item);
                    messages.Add(parsed.Message!);
                }
                else
                {
                    rejected.Add(IngestPipeline.Letter(Source, item.Origin, parsed.Error!, now));
                    refusedItems.Add(item);
                }
            }

            if (rejected.Count > 0 && !await pipeline.DeadLetterAsync(Source, TwinKey.Split(key).Factory, [.. rejected], retry: true, stoppingToken))
            {
                return false;
            }

            for (var start = 0; start < accepted.Count; start += DrainBatch)
            {
                var count = Math.Min(DrainBatch, accepted.Count - start);
                var slice = accepted.GetRange(start, count);
                if (await pipeline.ApplyAsync(Source, key, messages.GetRange(start, count), [.. slice.Select(i => i.Origin)], retry: true, stoppingToken) is null)
                {
                    return false; // stopping: what is left stays unacknowledged and comes again
                }

                await connection.AcknowledgeAsync(slice);
            }

            // The refused ones are durable as dead letters: acknowledged too.
            await connection.AcknowledgeAsync(refusedItems);
            return true;
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            // Not acknowledged: the broker redelivers after a reconnect, and nothing else of this machine is held.
            LogBatchFailed(ex, key);
            return false;
        }
    }

    /// <summary>A message and where it goes: its parsed topic, or why it has none.</summary>
    private readonly record struct Routed(MqttInbound Inbound, MachineTopic Topic, string? Error);

    [LoggerMessage(EventId = TwinEvents.MqttIngestServiceDispatcherFailed, Level = LogLevel.Critical, Message = "The MQTT dispatcher failed; stopping the gateway so it restarts")]
    private partial void LogDispatcherFailed(Exception exception);

    [LoggerMessage(EventId = TwinEvents.MqttIngestServiceBatchFailed, Level = LogLevel.Error, Message = "Ingesting a batch for {Key} failed; its messages stay unacknowledged")]
    private partial void LogBatchFailed(Exception exception, string key);
}
