using System.Collections.Immutable;
using System.Diagnostics;
using System.Text;
using Polly;
using Polly.Registry;
using Twin.DeadLetters;
using Twin.Machines;

namespace Twin.Ingestion;

/// <summary>Where one message came from: its topic (or HTTP path), its bytes as received, and when it arrived.</summary>
/// <param name="ReceivedAt">A <see cref="Stopwatch"/> timestamp.</param>
public readonly record struct Origin(string Topic, ReadOnlyMemory<byte> Payload, long Length, long ReceivedAt);

/// <summary>
/// The one ingest pipeline every source uses (MQTT, HTTP, and the next ones):
/// limits → parse → normalise (the factory's mapping profile) → route → twin → dead letter → statistics.
/// A source only receives bytes and acknowledges; everything between is here, once.
/// </summary>
public sealed partial class IngestPipeline(
    IGrainFactory grains,
    ProfileProvider profiles,
    IngestStatistics statistics,
    IOptions<IngestOptions> options,
    ResiliencePipelineProvider<string> resilience,
    ILogger<IngestPipeline> logger)
{
    /// <summary>The resilience pipeline (Polly) that retries twin calls until they succeed or the caller stops.</summary>
    public const string RetryPipeline = "twin-ingest";

    /// <summary>Where messages go whose topic names no factory.</summary>
    public const string UnroutedFactory = TwinKey.UnroutedFactory;

    private readonly PayloadLimits _limits = options.Value.Limits;

    /// <summary>The factory's normaliser (its mapping profile), to prepare a batch of that factory's payloads with.</summary>
    public ValueTask<Normaliser> NormaliserAsync(string factory) => profiles.ForAsync(factory);

    /// <summary>Stages 1–3 for a routed target: limits, parse, and normalise with the factory's normaliser (see <see cref="NormaliserAsync"/>).</summary>
    public ParseResult Prepare(MachineTopic target, Origin origin, DateTimeOffset now, Normaliser normaliser)
    {
        try
        {
            var parsed = origin.Length > _limits.MaxPayloadBytes
                ? ParseResult.Fail($"payload.too-large: {origin.Length} bytes, the limit is {_limits.MaxPayloadBytes}")
                : PayloadParser.Parse(target.Kind, origin.Payload.Span, _limits, now);
            return parsed.Message is TelemetryMessage telemetry ? normaliser.Normalise(telemetry) : parsed;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A bug must cost one message (kept as a dead letter), never the source.
            LogPrepareCrashed(ex, origin.Topic);
            return ParseResult.Fail($"internal.error: the gateway could not process this message ({ex.GetType().Name})");
        }
    }

    /// <summary>
    /// Stage 3 for a message a source decoded itself (Sparkplug B, Unified Namespace): its limits and
    /// parsing were the decoder's; here it is normalised with the factory's normaliser like any other.
    /// </summary>
    public ParseResult Prepare(MachineMessage decoded, Origin origin, Normaliser normaliser)
    {
        try
        {
            return decoded is TelemetryMessage telemetry ? normaliser.Normalise(telemetry) : new ParseResult(decoded, null);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogPrepareCrashed(ex, origin.Topic);
            return ParseResult.Fail($"internal.error: the gateway could not process this message ({ex.GetType().Name})");
        }
    }

    /// <summary>
    /// Stage 3 reading by reading, for a decoded message whose readings are independent tags
    /// (Sparkplug B metrics, named by <paramref name="metrics"/>): each one the profile refuses
    /// becomes a dead letter of its own in <paramref name="letters"/>, naming the metric, and the
    /// rest goes on.
    /// </summary>
    public ParseResult PrepareEach(MachineMessage decoded, Origin origin, Normaliser normaliser, string source, IReadOnlyList<string> metrics, DateTimeOffset now, List<DeadLetter> letters)
    {
        try
        {
            if (decoded is not TelemetryMessage telemetry)
            {
                return new ParseResult(decoded, null);
            }

            var refused = new List<(int Index, string Reason)>();
            var kept = normaliser.NormaliseEach(telemetry, refused);
            foreach (var (index, reason) in refused)
            {
                letters.Add(new DeadLetter(now, source, origin.Topic, $"{reason} (metric '{metrics[index]}')", MetricText(metrics[index], telemetry.Readings[index])).Bounded());
            }

            return new ParseResult(kept, null);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogPrepareCrashed(ex, origin.Topic);
            return ParseResult.Fail($"internal.error: the gateway could not process this message ({ex.GetType().Name})");
        }
    }

    /// <summary>A refused metric as dead-letter text: the metric, the sensor it maps to, the value and unit.</summary>
    private static string MetricText(string metric, SensorReading reading)
    {
        using var buffer = new MemoryStream();
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("metric", metric);
            writer.WriteString("sensor", reading.Sensor);
            writer.WriteNumber("value", reading.Value);
            if (reading.Unit is not null)
            {
                writer.WriteString("unit", reading.Unit);
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The dead letter for a message refused with <paramref name="reason"/>: topic, reason and payload truncated to bounded sizes.</summary>
    public static DeadLetter Letter(string source, Origin origin, string reason, DateTimeOffset now) =>
        Letter(source, origin.Topic, reason, Text(origin.Payload), now);

    /// <summary>The dead letter for a message refused with <paramref name="reason"/> whose payload the decoder described as <paramref name="text"/> (binary payloads).</summary>
    public static DeadLetter Letter(string source, string topic, string reason, string text, DateTimeOffset now) =>
        new DeadLetter(now, source, topic, reason, text).Bounded();

    /// <summary>A payload as dead-letter text: UTF-8, at most <see cref="DeadLetter.MaxPayloadChars"/> bytes of it.</summary>
    public static string Text(ReadOnlyMemory<byte> payload) =>
        Encoding.UTF8.GetString(payload.Span[..Math.Min(payload.Length, DeadLetter.MaxPayloadChars)]);

    /// <summary>The factory a topic names, for its dead letter; <see cref="UnroutedFactory"/> when none.</summary>
    public static string FactoryOf(string topic)
    {
        var parts = topic.Split('/', 3);
        return parts.Length > 1 && parts[0] == "factory" && TwinKey.IsWritableFactory(parts[1], out _) ? parts[1] : UnroutedFactory;
    }

    /// <summary>
    /// Stages 4–7 for one machine: the twin applies the batch (once durable it answers), what it
    /// refused is kept as dead letters, and the statistics count both. With <paramref name="retry"/>
    /// a failed call is retried (the twin dedups by sequence number) until it succeeds or
    /// <paramref name="cancellationToken"/> stops it; null then, and nothing may be acknowledged.
    /// </summary>
    public async Task<IngestResult?> ApplyAsync(string source, string key, IReadOnlyList<MachineMessage> messages, IReadOnlyList<Origin> origins, bool retry, CancellationToken cancellationToken)
    {
        var grain = Machine(key);
        var batch = messages.ToImmutableArray();
        var factory = TwinKey.Split(key).Factory;
        IngestResult result;
        if (retry)
        {
            var attempted = await ApplyOrParkAsync(grain, key, batch, cancellationToken);
            if (attempted is null)
            {
                return null;
            }

            if (attempted.Parked)
            {
                foreach (var origin in origins)
                {
                    statistics.Durable(origin.ReceivedAt, source);
                }

                statistics.Accepted(factory, batch.Length, 0, source);
                return attempted.Result;
            }

            result = attempted.Result;
        }
        else
        {
            result = await grain.IngestAsync(batch);
        }

        foreach (var origin in origins)
        {
            statistics.Durable(origin.ReceivedAt, source);
        }

        statistics.Accepted(factory, result.Applied + result.Late, result.Duplicates, source);
        if (!result.Rejected.IsDefaultOrEmpty)
        {
            // Refused by the twin (too many sensors, too old to tell from a duplicate): kept as dead letters before the source acknowledges.
            var now = DateTimeOffset.UtcNow;
            ImmutableArray<DeadLetter> refused = [.. result.Rejected
                .Select(r => (Rejection: r, Index: IndexOf(messages, r)))
                .Select(r => Letter(source, r.Index >= 0 ? origins[r.Index] : new Origin(origins.Count > 0 ? origins[0].Topic : key, Encoding.UTF8.GetBytes($"seq {r.Rejection.Seq}"), 0, 0), r.Rejection.Reason, now))];
            if (!await DeadLetterAsync(source, factory, refused, retry, cancellationToken))
            {
                return null;
            }
        }

        return result;
    }

    /// <summary>Keeps rejected messages of one factory as dead letters (and counts them); false when stopped first.</summary>
    public async Task<bool> DeadLetterAsync(string source, string factory, ImmutableArray<DeadLetter> letters, bool retry, CancellationToken cancellationToken)
    {
        if (letters.IsDefaultOrEmpty)
        {
            return true;
        }

        var grain = grains.GetGrain<IDeadLetterGrain>(factory);
        if (retry)
        {
            if (await TryAsync<object>(async () => { await grain.RecordAsync(letters); return letters; }, factory, cancellationToken) is null)
            {
                return false;
            }
        }
        else
        {
            await grain.RecordAsync(letters);
        }

        foreach (var letter in letters)
        {
            statistics.Rejected(factory, letter.ReasonCode, source);
            LogRejected(source, letter.Topic, letter.Reason);
        }

        return true;
    }

    private sealed record Attempt(IngestResult Result, bool Parked);

    // A grain reference per machine, made once: GetGrain resolves the interface's type on every call.
    // Bounded: past the bound the references are made again.
    private const int MaxCachedMachines = 65_536;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, IMachineGrain> _machines = new(StringComparer.Ordinal);

    private IMachineGrain Machine(string key)
    {
        if (_machines.TryGetValue(key, out var grain))
        {
            return grain;
        }

        if (_machines.Count >= MaxCachedMachines)
        {
            _machines.Clear();
        }

        return _machines[key] = grains.GetGrain<IMachineGrain>(key);
    }

    /// <summary>
    /// The twin call with retries; when the twin has not taken the batch within
    /// <see cref="IngestOptions.ParkAfter"/> (or the machine is parking), the batch is parked
    /// durably instead. Null when <paramref name="cancellationToken"/> stopped it.
    /// </summary>
    private async Task<Attempt?> ApplyOrParkAsync(IMachineGrain grain, string key, ImmutableArray<MachineMessage> batch, CancellationToken cancellationToken)
    {
        var o = options.Value;
        if (o.ParkAfter <= TimeSpan.Zero)
        {
            return await TryAsync(() => grain.IngestAsync(batch), key, cancellationToken) is { } direct ? new Attempt(direct, false) : null;
        }

        if (!IsParking(key))
        {
            // The first attempt straight, as almost every call succeeds at once: the retry pipeline
            // and its patience token (a context, a linked source and a timer per call) only after a
            // failure. A first attempt that outlasts ParkAfter is parked at once, as before.
            try
            {
                return new Attempt(await grain.IngestAsync(batch).WaitAsync(o.ParkAfter, cancellationToken), false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return null;
            }
            catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
            {
                if (await ParkForAsync(key, batch, cancellationToken) is { } parked)
                {
                    return parked;
                }
            }
            catch (Exception ex)
            {
                IngestLog.CallFailed(logger, key, 1, ex);
            }
        }

        while (true)
        {
            if (!IsParking(key))
            {
                using var patience = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                patience.CancelAfter(o.ParkAfter);
                try
                {
                    if (await TryAsync(() => grain.IngestAsync(batch).WaitAsync(patience.Token), key, patience.Token) is { } applied)
                    {
                        return new Attempt(applied, false);
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                }

                if (cancellationToken.IsCancellationRequested)
                {
                    return null;
                }
            }

            if (await ParkForAsync(key, batch, cancellationToken) is { } parked)
            {
                return parked;
            }

            // No slot took it either (the whole cluster is out of reach): wait for the twin again.
            _parkingUntil.TryRemove(key, out _);
            if (cancellationToken.IsCancellationRequested)
            {
                return null;
            }
        }
    }

    /// <summary>Parks the batch and keeps the machine parking for <see cref="IngestOptions.ParkFor"/>; null when no slot took it.</summary>
    private async Task<Attempt?> ParkForAsync(string key, ImmutableArray<MachineMessage> batch, CancellationToken cancellationToken)
    {
        if (!await ParkAsync(key, batch, cancellationToken))
        {
            return null;
        }

        _parkingUntil[key] = Stopwatch.GetTimestamp() + (long)(options.Value.ParkFor.TotalSeconds * Stopwatch.Frequency);
        return new Attempt(new IngestResult(batch.Length, 0, 0, 0, 0, []), true);
    }

    private bool IsParking(string key)
    {
        if (!_parkingUntil.TryGetValue(key, out var until))
        {
            return false;
        }

        if (Stopwatch.GetTimestamp() < until)
        {
            return true;
        }

        _parkingUntil.TryRemove(key, out _);
        return false;
    }

    /// <summary>Keeps the batch in one of the machine's parking slots (another silo when one does not answer); false when none took it.</summary>
    private async Task<bool> ParkAsync(string key, ImmutableArray<MachineMessage> batch, CancellationToken cancellationToken)
    {
        for (var slot = 0; slot < ParkingSlots; slot++)
        {
            try
            {
                await grains.GetGrain<IParkedReadingsGrain>(IParkedReadingsGrain.Key(key, (slot + Random.Shared.Next(ParkingSlots)) % ParkingSlots))
                    .ParkAsync(batch).WaitAsync(ParkTimeout, cancellationToken);
                LogParked(key, batch.Length);
                return true;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogParkFailed(ex, key, slot + 1);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        return false;
    }

    private const int ParkingSlots = 3;
    private static readonly TimeSpan ParkTimeout = TimeSpan.FromSeconds(5);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _parkingUntil = new(StringComparer.Ordinal);

    [LoggerMessage(EventId = TwinEvents.IngestPipelineParked, Level = LogLevel.Warning, Message = "The twin {Machine} did not take {Count} readings in time: parked them in the cluster for later; the broker's window stays free for the other machines")]
    private partial void LogParked(string machine, int count);

    [LoggerMessage(EventId = TwinEvents.IngestPipelineParkFailed, Level = LogLevel.Warning, Message = "Parking readings of {Machine} failed (slot attempt {Attempt})")]
    private partial void LogParkFailed(Exception exception, string machine, int attempt);

    private async Task<T?> TryAsync<T>(Func<Task<T>> call, string key, CancellationToken cancellationToken)
        where T : class
    {
        var pipeline = resilience.GetPipeline(RetryPipeline);
        try
        {
            var context = ResilienceContextPool.Shared.Get(key, cancellationToken);
            try
            {
                return await pipeline.ExecuteAsync(static async (_, call) => await call(), context, call);
            }
            finally
            {
                ResilienceContextPool.Shared.Return(context);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    private static int IndexOf(IReadOnlyList<MachineMessage> messages, RejectedMessage rejection)
    {
        for (var i = 0; i < messages.Count; i++)
        {
            if (messages[i].Seq == rejection.Seq && messages[i].Source == rejection.Source)
            {
                return i;
            }
        }

        return -1;
    }

    [LoggerMessage(EventId = TwinEvents.IngestPipelineRejected, Level = LogLevel.Information, Message = "Rejected a {Source} message on {Topic}: {Reason}")]
    private partial void LogRejected(string source, string? topic, string reason);

    [LoggerMessage(EventId = TwinEvents.IngestPipelinePrepareCrashed, Level = LogLevel.Error, Message = "Processing a message on {Topic} failed")]
    private partial void LogPrepareCrashed(Exception exception, string topic);
}
