using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Twin;

namespace Twin.Ingestion;

/// <summary>
/// Counts of what this gateway process ingested and rejected since it started, kept for
/// <c>/api/gateway/ingest</c> and exported as metrics: <c>twin_readings_accepted_total</c>,
/// <c>twin_readings_ignored_total</c>, <c>twin_readings_rejected_total{reason}</c>, the
/// receive-to-durable latency <c>twin_ingest_durable_seconds</c> and the publish-back messages left
/// out, <c>twin_uns_echoes_ignored_total</c>.
/// </summary>
public sealed class IngestStatistics
{
    /// <summary>Factories counted one by one; messages of further ones count under <see cref="OtherFactories"/>.</summary>
    public const int MaxFactories = 1000;

    /// <summary>
    /// Where messages go whose factory is unknown (an unparsable topic) or past <see cref="MaxFactories"/>:
    /// the factory their dead letters are kept under too.
    /// </summary>
    public const string OtherFactories = IngestPipeline.UnroutedFactory;

    private readonly ConcurrentDictionary<string, FactoryCounts> _factories = new(StringComparer.Ordinal);
    private readonly Counter<long> _acceptedCounter;
    private readonly Counter<long> _ignoredCounter;
    private readonly Counter<long> _rejectedCounter;
    private readonly Counter<long> _echoCounter;
    private readonly Counter<long> _copyCounter;
    private readonly Histogram<double> _durable;

    public IngestStatistics(IMeterFactory meters)
    {
        var meter = meters.Create(TwinMeters.Name);
        _acceptedCounter = meter.CreateCounter<long>("twin.readings.accepted", description: "Messages a twin applied (new or late), by source.");
        _ignoredCounter = meter.CreateCounter<long>("twin.readings.ignored", description: "Messages a twin had already applied (duplicates, too old), by source.");
        _rejectedCounter = meter.CreateCounter<long>("twin.readings.rejected", description: "Messages refused, by reason; each is kept as a dead letter.");
        _echoCounter = meter.CreateCounter<long>("twin.uns.echoes.ignored", description: "Messages a twin's publish-back had published that came back to ingestion and were left out.");
        _copyCounter = meter.CreateCounter<long>("twin.mqtt.copies.ignored", description: "Second copies of a message the broker delivered for another of the consumer's overlapping subscriptions, left out.");
        _durable = meter.CreateHistogram(
            "twin.ingest.durable",
            unit: "s",
            description: "From receiving a message to its twin having made it durable.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
    }

    /// <summary>The counts per factory (<see cref="OtherFactories"/> for messages without a known one).</summary>
    public IReadOnlyDictionary<string, FactoryCounts> Factories => _factories;

    public void Accepted(string factory, int applied, int ignored, string source = "mqtt")
    {
        var counts = For(factory);
        Interlocked.Add(ref counts.Accepted, applied);
        Interlocked.Add(ref counts.Ignored, ignored);
        var tag = new KeyValuePair<string, object?>("source", source);
        _acceptedCounter.Add(applied, tag);
        _ignoredCounter.Add(ignored, tag);
    }

    public void Rejected(string? factory, string reasonCode, string source = "mqtt")
    {
        For(factory).Rejected.AddOrUpdate(reasonCode, 1, (_, n) => n + 1);
        _rejectedCounter.Add(1, new KeyValuePair<string, object?>("reason", reasonCode), new KeyValuePair<string, object?>("source", source));
    }

    /// <summary>A message published back by a twin reached ingestion: acknowledged and left out.</summary>
    public void EchoIgnored() => _echoCounter.Add(1);

    public void CopyIgnored() => _copyCounter.Add(1);

    /// <summary>Records the latency of one message received at <paramref name="receivedAt"/> (a <see cref="Stopwatch"/> timestamp).</summary>
    public void Durable(long receivedAt, string source = "mqtt") =>
        _durable.Record(Stopwatch.GetElapsedTime(receivedAt).TotalSeconds, new KeyValuePair<string, object?>("source", source));

    private FactoryCounts For(string? factory)
    {
        if (factory is null || (!_factories.ContainsKey(factory) && _factories.Count >= MaxFactories))
        {
            factory = OtherFactories;
        }

        return _factories.GetOrAdd(factory, _ => new FactoryCounts());
    }

    /// <summary>What one factory's messages came to on this gateway.</summary>
    public sealed class FactoryCounts
    {
        internal long Accepted;
        internal long Ignored;

        public long AcceptedMessages => Interlocked.Read(ref Accepted);

        public long IgnoredMessages => Interlocked.Read(ref Ignored);

        public ConcurrentDictionary<string, long> Rejected { get; } = new(StringComparer.Ordinal);
    }
}
