using System.Collections.Immutable;
using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using Twin.Grains.Infrastructure;
using Twin.Machines;

namespace Twin.Grains.Domain;

/// <summary>Settings of the machine twin's rules (<c>Twin:Machine</c>).</summary>
public sealed class MachineTwinOptions : ITwinOptions, IValidatableObject
{
    public const string Section = "Twin:Machine";

    static string ITwinOptions.Section => Section;

    /// <summary>Without any message for this long (processing time) a machine shows as offline.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00.001", "365.00:00:00")]
    public TimeSpan OfflineAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Event-time window of the rolling sensor statistics.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00.001", "365.00:00:00")]
    public TimeSpan StatisticsWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Buckets the statistics window is kept in (its resolution).</summary>
    [SettingRange(1, 1000)]
    public int StatisticsBuckets { get; set; } = 6;

    /// <summary>Event-time window over which good parts per minute are computed.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00.001", "365.00:00:00")]
    public TimeSpan ThroughputWindow { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Buckets the throughput window is kept in.</summary>
    [SettingRange(1, 1000)]
    public int ThroughputBuckets { get; set; } = 10;

    /// <summary>Most distinct sensors one machine keeps; a message adding more is rejected.</summary>
    [SettingRange(1, 100_000)]
    public int MaxSensors { get; set; } = 500;

    /// <summary>The anomaly detectors' settings (<c>Twin:Machine:Analytics</c>).</summary>
    [ValidateObjectMembers]
    public Twin.Grains.Analytics.DetectorOptions Analytics { get; set; } = new();

    /// <summary>Predictive maintenance: degradation trends towards sensor limits (<c>Twin:Machine:Prediction</c>).</summary>
    [ValidateObjectMembers]
    public Twin.Grains.Analytics.PredictionOptions Prediction { get; set; } = new();

    /// <summary>While a fault stays active, anomalous readings are sent as evidence at most this often (event time).</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan EvidenceInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// When a fault kind has cleared on every sensor, tell its ticket desk: an open ticket nobody
    /// has acknowledged is then resolved by the detector, with the clearing as its last evidence.
    /// </summary>
    public bool ResolveTicketsOnClear { get; set; } = true;

    /// <summary>With this many readings waiting for the history, the twin takes no more until the history has caught up (back-pressure: nothing is acknowledged meanwhile).</summary>
    [SettingRange(1, 10_000_000)]
    public int MaxHistoryPending { get; set; } = 20_000;

    /// <summary>With this many messages waiting in the twin's outbox, new part counts are added to a queued report of their order instead of queued apart.</summary>
    [SettingRange(1, 1_000_000)]
    public int MaxOutbox { get; set; } = 500;

    /// <summary>An inspected part's processing window on the machine when neither its message gives a start nor an earlier inspection is near (event time).</summary>
    [SettingRange(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan PartWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The previous inspection on the machine starts a part's window only when it is at most this long before it.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan MaxPartWindow { get; set; } = TimeSpan.FromHours(1);

    public TimeSpan StatisticsBucketWidth => StatisticsWindow / StatisticsBuckets;

    public TimeSpan ThroughputBucketWidth => ThroughputWindow / ThroughputBuckets;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Prediction.MinPoints > Prediction.Points)
        {
            yield return new ValidationResult($"{Section}:Prediction:MinPoints ({Prediction.MinPoints}) must be at most {Section}:Prediction:Points ({Prediction.Points}).");
        }
    }
}

[OptionsValidator]
public sealed partial class MachineTwinOptionsValidator : IValidateOptions<MachineTwinOptions>;

/// <summary>
/// How a machine twin applies its device's messages: dedup and reordering by sequence number,
/// event time decides what is newest, statistics and counts. Pure: no Orleans, no clock.
/// </summary>
public static class MachineRules
{
    /// <summary>Most sources (besides the device) one machine keeps a sequence window for.</summary>
    public const int MaxSources = 32;

    private static readonly FaultKind[] FaultKinds = Enum.GetValues<FaultKind>();

    public static SequenceVerdict Apply(MachineState state, MachineMessage message, MachineTwinOptions options) =>
        Apply(state, message, options, out _);

    /// <summary>Applies one message; <paramref name="reason"/> says why when it is <see cref="SequenceVerdict.Rejected"/>.</summary>
    public static SequenceVerdict Apply(MachineState state, MachineMessage message, MachineTwinOptions options, out string? reason) =>
        Apply(state, message, options, null, out reason);

    /// <summary>Applies a message; readings that were applied are added to <paramref name="history"/> (when given).</summary>
    public static SequenceVerdict Apply(MachineState state, MachineMessage message, MachineTwinOptions options, List<Twin.Grains.Infrastructure.HistoryPoint>? history, out string? reason)
    {
        reason = null;
        if (message is TelemetryMessage incoming)
        {
            var added = 0;
            foreach (var reading in incoming.Readings)
            {
                if (!state.Sensors.ContainsKey(reading.Sensor))
                {
                    added++;
                }
            }

            if (state.Sensors.Count + added > options.MaxSensors)
            {
                reason = $"sensors.too-many: the machine keeps at most {options.MaxSensors} sensors (Twin:Machine:MaxSensors); this message adds {added} to {state.Sensors.Count}";
                return SequenceVerdict.Rejected;
            }
        }

        var window = WindowOf(state, message.Source);
        var verdict = window.Check(message.Seq, message.Timestamp);
        switch (verdict)
        {
            case SequenceVerdict.Duplicate:
                state.Duplicates++;
                return verdict;
            case SequenceVerdict.TooOld:
                // Cannot be told from a duplicate: refused visibly, never taken in silence.
                state.TooOld++;
                reason = $"sequence.too-old: seq {message.Seq} of {message.Source ?? "the device"} at {message.Timestamp:O} is older than what the twin remembers (seq {window.KnownFrom}, or an epoch before {window.ForgottenBefore:O}); it may be a duplicate, so it was not applied";
                return verdict;
            case SequenceVerdict.Late:
                state.Late++;
                break;
            case SequenceVerdict.Restart:
                state.SequenceRestarts++;
                state.Applied++;
                break;
            default:
                state.Applied++;
                break;
        }

        window.Mark(message.Seq, message.Timestamp, verdict);
        state.Version++;
        state.Oee?.Heard(message.Timestamp, options.OfflineAfter);

        switch (message)
        {
            // At the same event time the sequence decides: a late message (a lower number) never
            // overwrites what a newer one set.
            case TelemetryMessage telemetry:
                ApplyTelemetry(state, telemetry, options, history, late: verdict == SequenceVerdict.Late);
                break;
            case StatusMessage status:
                ApplyStatus(state, status, MessageId(state, message), late: verdict == SequenceVerdict.Late);
                break;
            case CountsMessage counts:
                ApplyCounts(state, counts, options, late: verdict == SequenceVerdict.Late);
                break;
            case Twin.Quality.QualityMessage quality:
                ApplyQuality(state, quality, MessageId(state, message), options);
                break;
            case OfflineMessage when verdict is SequenceVerdict.New or SequenceVerdict.Restart:
                // The device's session ended (a Sparkplug death); a later message brings it back.
                state.OfflineMarked = true;
                break;
            default:
                break;
        }

        return verdict;
    }

    /// <summary>
    /// The sequence record of the message's source. With <see cref="MaxSources"/> sources kept, a
    /// new one replaces the source heard from last in event time (a device that booted with a new
    /// source id long ago): its readings can no longer be redelivered, so a new source never waits.
    /// </summary>
    private static SequenceWindow WindowOf(MachineState state, string? source)
    {
        if (source is null)
        {
            return state.Sequence;
        }

        state.Sources ??= new Dictionary<string, SequenceWindow>(StringComparer.Ordinal);
        if (!state.Sources.TryGetValue(source, out var window))
        {
            if (state.Sources.Count >= MaxSources)
            {
                var oldest = state.Sources.MinBy(s => s.Value.LatestEventTime).Key;
                state.Sources.Remove(oldest);
            }

            window = new SequenceWindow();
            state.Sources[source] = window;
        }

        return window;
    }

    /// <summary>
    /// The id of what a message produced (a production report, a fault report): its source and
    /// sequence number, and the epoch once the device has restarted its numbering, so that the
    /// same number after a restart is a new report, and a redelivery keeps its first id.
    /// </summary>
    private static string MessageId(MachineState state, MachineMessage message)
    {
        var window = message.Source is null ? state.Sequence : state.Sources?.GetValueOrDefault(message.Source);
        var epoch = window?.EpochOf(message.Seq, message.Timestamp) ?? 0;
        return epoch == 0 ? $"{message.Source}:{message.Seq}" : $"{message.Source}:{message.Seq}:e{epoch}";
    }

    private static void ApplyTelemetry(MachineState state, TelemetryMessage message, MachineTwinOptions options, List<Twin.Grains.Infrastructure.HistoryPoint>? history, bool late)
    {
        if (state.Sensors.Count == 0)
        {
            // A device usually sends all its sensors every time: size the table for them once
            // instead of growing it 3 → 7 → 17 and keeping the slack.
            state.Sensors.EnsureCapacity(message.Readings.Length);
        }

        var machineScore = new MachineScore();
        foreach (var reading in message.Readings)
        {
            if (!state.Sensors.TryGetValue(reading.Sensor, out var sensor))
            {
                sensor = new SensorState { Timestamp = DateTimeOffset.MinValue };
                state.Sensors.Add(reading.Sensor, sensor);
            }

            var score = 0.0;
            if (reading.Quality != ReadingQuality.Bad && double.IsFinite(reading.Value))
            {
                sensor.AddToStatistics(message.Timestamp, reading.Value, options.StatisticsBucketWidth, options.StatisticsBuckets);
                SensorLimit? limit = null;
                state.Definition?.Sensors.TryGetValue(reading.Sensor, out limit);
                var detection = Twin.Grains.Analytics.SensorDetector.Observe(sensor.Detector, message.Timestamp, reading.Value, limit, options.Analytics);
                score = detection.Score;
                machineScore.Add(detection);
                Report(state, message, reading, detection, options);
                if (options.Prediction.Enabled && limit is { } bounds && (bounds.High is not null || bounds.Low is not null))
                {
                    sensor.Trend ??= new Twin.Grains.Analytics.TrendState();
                    if (Twin.Grains.Analytics.DegradationTrend.Observe(sensor.Trend, message.Timestamp, reading.Value, bounds.High, bounds.Low, options.Prediction) is { } prediction)
                    {
                        var side = bounds.High is { } h && prediction.Limit == h ? "high" : "low";
                        var evidence = new Twin.Maintenance.FaultEvidence(message.Timestamp, reading.Sensor, reading.Value, detection.Score, prediction.Describe(reading.Sensor, side));
                        Enqueue(state, new Twin.Maintenance.FaultReport($"{reading.Sensor}:{FaultKind.Predicted}:{MessageId(state, message)}", "", FaultKind.Predicted, evidence), options);
                    }
                }
            }

            history?.Add(new Twin.Grains.Infrastructure.HistoryPoint(reading.Sensor, message.Timestamp, reading.Value, reading.Quality, score, message.Source, message.Seq));

            // Event time decides: an older reading never overwrites a newer one.
            if (message.Timestamp > sensor.Timestamp || (message.Timestamp == sensor.Timestamp && !late))
            {
                sensor.Value = reading.Value;
                sensor.Unit = reading.Unit;
                sensor.Timestamp = message.Timestamp;
                sensor.Quality = reading.Quality;
                sensor.Score = score;
            }
        }

        if (history is not null && machineScore.Sensors > 0)
        {
            // Stored with a deadband, as plant historians do: every abnormal score, a change of
            // 0.05 or more, and otherwise a point a minute — so a quiet machine adds one row a
            // minute, not one per message. Between points the score is the previous point's.
            var combined = machineScore.Combine(options.Analytics);
            var ticks = message.Timestamp.UtcTicks;
            if (combined >= 0.5
                || Math.Abs(combined - state.LastMachineScore) >= 0.05
                || ticks - state.LastMachineScoreTicks >= TimeSpan.TicksPerMinute
                || ticks < state.LastMachineScoreTicks)
            {
                state.LastMachineScore = (float)combined;
                state.LastMachineScoreTicks = ticks;
                history.Add(new Twin.Grains.Infrastructure.HistoryPoint(MachineScoreSeries, message.Timestamp, combined, ReadingQuality.Good, combined, message.Source, message.Seq));
            }
        }
    }

    /// <summary>
    /// The history series of the machine-level score (at the telemetry messages' event times,
    /// with a deadband: every score ≥ 0.5, every change of 0.05, else one a minute): served by the
    /// history API like a sensor, <c>?sensor=_machine</c>. The leading underscore keeps it apart
    /// from real sensors' names.
    /// </summary>
    public const string MachineScoreSeries = "_machine";

    /// <summary>
    /// Combines the sensors of one message into the machine's score: the strongest departure,
    /// reinforced when a second sensor departs with it (root of the sum of the two largest squared
    /// departures beyond the score's lower bound), so a fault several sensors see scores higher
    /// than noise on one of many sensors. Limit, rate and flatline scores count as they are.
    /// </summary>
    private struct MachineScore
    {
        private double _first;
        private double _second;
        private double _other;

        public int Sensors { get; private set; }

        public void Add(Twin.Grains.Analytics.Detection detection)
        {
            Sensors++;
            var z = Math.Abs(detection.Departure);
            if (z > _first)
            {
                _second = _first;
                _first = z;
            }
            else if (z > _second)
            {
                _second = z;
            }

            _other = Math.Max(_other, detection.Score);
        }

        public readonly double Combine(Twin.Grains.Analytics.DetectorOptions o)
        {
            var low = o.ScoreLowZ;
            var a = Math.Max(0, _first - low);
            var b = Math.Max(0, _second - low);
            var z = low + Math.Sqrt((a * a) + (b * b));
            return Math.Max(_other, Twin.Grains.Analytics.SensorDetector.ScoreOf(z, o));
        }
    }

    /// <summary>
    /// Queues fault reports: every raised fault; paced evidence, saying why it is still open, while
    /// one stays active; and a clearing once a fault kind is over on every sensor of the machine.
    /// </summary>
    private static void Report(MachineState state, MachineMessage message, SensorReading reading, Twin.Grains.Analytics.Detection detection, MachineTwinOptions options)
    {
        var detector = state.Sensors[reading.Sensor].Detector;
        foreach (var kind in detection.Raised)
        {
            var evidence = new Twin.Maintenance.FaultEvidence(message.Timestamp, reading.Sensor, reading.Value, detection.Score, Twin.Grains.Analytics.SensorDetector.Explain(detector, kind, options.Analytics));
            Enqueue(state, new Twin.Maintenance.FaultReport($"{reading.Sensor}:{kind}:{MessageId(state, message)}", "", kind, evidence), options);
            (state.LastEvidence ??= new(StringComparer.Ordinal))[$"{reading.Sensor}.{kind}"] = message.Timestamp;
        }

        foreach (var kind in detection.Cleared)
        {
            if (state.Sensors.Any(s => s.Value.Detector.IsActive(kind)))
            {
                continue;
            }

            if (!options.ResolveTicketsOnClear)
            {
                continue;
            }

            var note = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{kind} on {reading.Sensor} is over (score {detection.Score:0.00}, departure {detection.Departure:+0.0;-0.0} robust SD)");
            var evidence = new Twin.Maintenance.FaultEvidence(message.Timestamp, reading.Sensor, reading.Value, detection.Score, note);
            Enqueue(state, new Twin.Maintenance.FaultReport($"{reading.Sensor}:{kind}:cleared:{MessageId(state, message)}", "", kind, evidence, Cleared: true), options);
        }

        if (detection.Score < 0.5 || detector.Active == 0)
        {
            return;
        }

        foreach (var kind in Enum.GetValues<FaultKind>())
        {
            var key = $"{reading.Sensor}.{kind}";
            if (!detector.IsActive(kind) || detection.Raised.Contains(kind))
            {
                continue;
            }

            state.LastEvidence ??= new(StringComparer.Ordinal);
            if (!state.LastEvidence.TryGetValue(key, out var last) || message.Timestamp - last >= options.EvidenceInterval)
            {
                state.LastEvidence[key] = message.Timestamp;
                var evidence = new Twin.Maintenance.FaultEvidence(message.Timestamp, reading.Sensor, reading.Value, detection.Score, Twin.Grains.Analytics.SensorDetector.Explain(detector, kind, options.Analytics));
                Enqueue(state, new Twin.Maintenance.FaultReport($"{reading.Sensor}:{kind}:{MessageId(state, message)}", "", kind, evidence), options);
            }
        }
    }

    private static void Enqueue(MachineState state, Twin.Maintenance.FaultReport report, MachineTwinOptions options) =>
        OutboxRules.Add(state.Outbox, report.ReportId, new FaultMessage(report), report.Evidence.Time);

    /// <summary>
    /// Moves what a twin saved before the one outbox (separate fault and production lists) into
    /// <see cref="MachineState.Outbox"/>, production first as it was delivered; true when anything moved.
    /// </summary>
    public static bool Upgrade(MachineState state)
    {
        var faults = state.EarlierFaultOutbox;
        var production = state.EarlierProductionOutbox;
        var orders = state.EarlierProductionOrders;
        state.EarlierFaultOutbox = null;
        state.EarlierProductionOutbox = null;
        state.EarlierProductionOrders = null;
        if ((faults?.Count ?? 0) == 0 && (production?.Count ?? 0) == 0)
        {
            return false;
        }

        var earlier = new List<OutboxEntry>();
        for (var i = 0; production is not null && orders is not null && i < production.Count && i < orders.Count; i++)
        {
            var report = production[i];
            OutboxRules.Add(earlier, ProductionId(report), new ProductionMessage(orders[i], report), report.At);
        }

        foreach (var report in faults ?? [])
        {
            OutboxRules.Add(earlier, report.ReportId, new FaultMessage(report), report.Evidence.Time);
        }

        OutboxRules.Prepend(state.Outbox, earlier);
        return true;
    }

    private static string ProductionId(Twin.WorkOrders.ProductionReport report) => $"parts:{report.ReportId}";

    /// <summary>
    /// Checks every sensor for a lost signal (timer); true when any report was queued. Judged on
    /// event time: a sensor is missing when the machine's newest event time (any reading or
    /// message) has moved on without it, so a replay of history that ends is not a lost signal.
    /// </summary>
    public static bool CheckMissingSignals(MachineState state, DateTimeOffset now, MachineTwinOptions options)
    {
        _ = now;
        var eventTime = state.Sequence.LatestEventTime;
        foreach (var (_, sensor) in state.Sensors)
        {
            if (sensor.Detector.Count > 0 && sensor.Detector.LastTime > eventTime)
            {
                eventTime = sensor.Detector.LastTime;
            }
        }

        var queued = false;
        foreach (var (name, sensor) in state.Sensors)
        {
            SensorLimit? limit = null;
            state.Definition?.Sensors.TryGetValue(name, out limit);
            if (Twin.Grains.Analytics.SensorDetector.CheckMissing(sensor.Detector, eventTime, limit, options.Analytics))
            {
                var evidence = new Twin.Maintenance.FaultEvidence(eventTime, name, sensor.Value, 1, Twin.Grains.Analytics.SensorDetector.Explain(sensor.Detector, FaultKind.MissingSignal, options.Analytics));
                Enqueue(state, new Twin.Maintenance.FaultReport($"{name}:{FaultKind.MissingSignal}:{eventTime.UtcTicks}", "", FaultKind.MissingSignal, evidence), options);
                state.Version++;
                queued = true;
            }
        }

        return queued;
    }

    /// <summary>By sensor name, and in <see cref="FaultKind"/> order within a sensor. Part of every snapshot, so nothing is allocated when no fault is active.</summary>
    public static ImmutableArray<ActiveFault> ActiveFaults(MachineState state)
    {
        List<ActiveFault>? faults = null;
        foreach (var (sensor, value) in state.Sensors)
        {
            foreach (var kind in FaultKinds)
            {
                if (value.Detector.IsActive(kind))
                {
                    (faults ??= []).Add(new ActiveFault(sensor, kind, state.LastEvidence?.GetValueOrDefault($"{sensor}.{kind}") ?? value.Timestamp, value.Value));
                }
            }
        }

        // OrderBy is stable: the kinds of one sensor keep their order.
        return faults is null ? [] : [.. faults.OrderBy(f => f.Sensor, StringComparer.Ordinal)];
    }

    private static void ApplyStatus(MachineState state, StatusMessage message, string id, bool late)
    {
        if (state.RunStateTimestamp is { } current && (message.Timestamp < current || (message.Timestamp == current && late)))
        {
            return;
        }

        (state.Oee ??= new OeeLedger()).Status(message.Timestamp, message.State);
        if (state.RunState != message.State)
        {
            state.StatusSince = message.Timestamp;

            // Going down or coming back changes what the factory can make: its planner re-plans.
            var wasDown = state.RunState == MachineRunState.Down;
            var isDown = message.State == MachineRunState.Down;
            if (wasDown != isDown)
            {
                var signal = new Twin.Scheduling.PlanningSignal(
                    $"machine:{id}:{(isDown ? "down" : "up")}:{message.Timestamp.UtcTicks}",
                    isDown ? Twin.Scheduling.PlanningSignalKind.MachineDown : Twin.Scheduling.PlanningSignalKind.MachineUp,
                    "",
                    message.Timestamp,
                    isDown ? "machine down" : $"machine back ({message.State.ToString().ToLowerInvariant()})");
                OutboxRules.Add(state.Outbox, $"planning:{signal.Id}", new PlanningMessage(signal), message.Timestamp);
            }
        }

        state.RunState = message.State;
        state.RunStateTimestamp = message.Timestamp;
    }

    /// <summary>Most MES inspection ids a machine remembers, to apply each once.</summary>
    public const int InspectionsRemembered = 1000;

    /// <summary>
    /// Applies an inspection the MES sent (not numbered by the device): once per <paramref name="id"/>.
    /// False when it was applied before.
    /// </summary>
    public static bool Inspect(MachineState state, string id, Twin.Quality.QualityMessage message, MachineTwinOptions options)
    {
        state.SeenInspections ??= [];
        if (!SeenIds.Remember(state.SeenInspections, id, InspectionsRemembered))
        {
            return false;
        }

        state.Version++;
        ApplyQuality(state, message, id, options);
        return true;
    }

    /// <summary>
    /// An inspection: its record goes to the machine's inspection log, each measurement to its
    /// characteristic's control chart, through the outbox. The part's window on the machine starts
    /// at the message's <c>start</c>, else at the previous inspection (when near), else
    /// <see cref="MachineTwinOptions.PartWindow"/> before it.
    /// </summary>
    private static void ApplyQuality(MachineState state, Twin.Quality.QualityMessage message, string id, MachineTwinOptions options)
    {
        var record = Twin.Grains.Quality.InspectionRules.Record(
            id, "", message, state.LastInspection, state.Definition?.Calendar, state.CurrentWorkOrder, options.PartWindow, options.MaxPartWindow);
        if (state.LastInspection is null || message.Timestamp > state.LastInspection)
        {
            state.LastInspection = message.Timestamp;
        }

        OutboxRules.Add(state.Outbox, $"inspection:{id}", new InspectionMessage(record), message.Timestamp);
        foreach (var measurement in message.Measurements)
        {
            var sample = new Twin.Quality.SpcSample(id, message.Timestamp, measurement.Value, measurement.Spec, message.Part ?? message.Batch);
            OutboxRules.Add(state.Outbox, $"spc:{id}:{measurement.Characteristic}", new SpcMessage(measurement.Characteristic, sample), message.Timestamp);
        }
    }

    private static void ApplyCounts(MachineState state, CountsMessage message, MachineTwinOptions options, bool late)
    {
        state.Good += message.Good;
        state.Scrap += message.Scrap;
        (state.Oee ??= new OeeLedger()).Parts(message.Timestamp, message.Good, message.Scrap);
        Twin.Grains.Effects.EffectRules.CountParts(state.EffectWatches, message.Timestamp, message.Good, message.Scrap);
        (state.GoodRate ??= new()).Add(message.Timestamp, message.Good, options.ThroughputBucketWidth, options.ThroughputBuckets);
        if (message.WorkOrder is not null
            && (state.CurrentWorkOrderTimestamp is not { } since || message.Timestamp > since || (message.Timestamp == since && !late)))
        {
            state.CurrentWorkOrder = message.WorkOrder;
            state.CurrentWorkOrderTimestamp = message.Timestamp;
        }

        // Only counts that name their work order advance it: the machine whose parts finish an
        // order (usually the line's last) names it; the others may leave it out.
        if (message.WorkOrder is { } order && message.Good + message.Scrap > 0)
        {
            QueueProduction(state, order, new Twin.WorkOrders.ProductionReport($"{MessageId(state, message)}", "", message.Good, message.Scrap, message.Timestamp), options);
        }
    }

    /// <summary>
    /// Queues parts for their work order. With <see cref="MachineTwinOptions.MaxOutbox"/> messages
    /// waiting (the order unreachable for a long time) the parts are added to the newest queued
    /// report of the same order instead, so the order's count and backflush stay whole and the
    /// outbox does not grow. Only a report never tried is changed: one that was sent may have
    /// arrived, and its receiver drops a repeat of its id.
    /// </summary>
    private static void QueueProduction(MachineState state, string order, Twin.WorkOrders.ProductionReport report, MachineTwinOptions options)
    {
        if (state.Outbox.Count >= options.MaxOutbox)
        {
            for (var i = state.Outbox.Count - 1; i >= 0; i--)
            {
                var entry = state.Outbox[i];
                if (entry.Message is ProductionMessage queued && queued.WorkOrder == order)
                {
                    if (entry.Attempts == 0 && !entry.Sending)
                    {
                        var parts = queued.Report;
                        entry.Message = queued with { Report = parts with { Good = parts.Good + report.Good, Scrap = parts.Scrap + report.Scrap, At = report.At > parts.At ? report.At : parts.At } };
                        return;
                    }

                    break;
                }
            }
        }

        OutboxRules.Add(state.Outbox, ProductionId(report), new ProductionMessage(order, report), report.At);
    }

    /// <summary>Records that the device was heard from now (processing time).</summary>
    /// <returns>True when this brought the machine back from offline.</returns>
    public static bool Heard(MachineState state, DateTimeOffset now)
    {
        state.LastSeen = now;
        if (state.OfflineMarked)
        {
            state.OfflineMarked = false;
            state.Version++;
            return true;
        }

        return false;
    }

    /// <summary>Records a batch that ended with the device's death: heard from now, but offline until heard again.</summary>
    public static void Departed(MachineState state, DateTimeOffset now)
    {
        state.LastSeen = now;
        state.OfflineMarked = true;
    }

    /// <summary>The status to show at <paramref name="now"/>: offline once the heartbeat is lost.</summary>
    public static MachineStatus EffectiveStatus(MachineState state, DateTimeOffset now, MachineTwinOptions options)
    {
        if (state.LastSeen is not { } lastSeen)
        {
            return MachineStatus.Unknown;
        }

        if (state.OfflineMarked || now - lastSeen > options.OfflineAfter)
        {
            return MachineStatus.Offline;
        }

        return state.RunState switch
        {
            MachineRunState.Running => MachineStatus.Running,
            MachineRunState.Idle => MachineStatus.Idle,
            MachineRunState.Down => MachineStatus.Down,
            _ => MachineStatus.Unknown,
        };
    }

    /// <summary>
    /// UTC ticks of the first moment <see cref="CheckHeartbeat"/> marks the machine offline if
    /// nothing is heard before; <see cref="long.MaxValue"/> when it is offline already or was never heard.
    /// </summary>
    public static long OfflineDue(MachineState state, MachineTwinOptions options) =>
        state.OfflineMarked || state.LastSeen is not { } lastSeen || lastSeen.UtcTicks > DateTimeOffset.MaxValue.UtcTicks - options.OfflineAfter.Ticks - 1
            ? long.MaxValue
            : lastSeen.UtcTicks + options.OfflineAfter.Ticks + 1;

    /// <summary>Marks the machine offline when its heartbeat is lost; true when that changed the state.</summary>
    public static bool CheckHeartbeat(MachineState state, DateTimeOffset now, MachineTwinOptions options)
    {
        if (state.OfflineMarked || state.LastSeen is not { } lastSeen || now - lastSeen <= options.OfflineAfter)
        {
            return false;
        }

        state.OfflineMarked = true;
        state.Version++;
        return true;
    }

    public static double GoodPerMinute(MachineState state, MachineTwinOptions options)
    {
        if (state.GoodRate is not { } goodRate)
        {
            return 0;
        }

        var stats = goodRate.Compute(options.ThroughputBucketWidth);
        return stats.Count == 0 ? 0 : stats.Sum / stats.Span.TotalMinutes;
    }

    public static MachineSnapshot ToSnapshot(string factory, string id, MachineState state, DateTimeOffset now, MachineTwinOptions options)
    {
        var sensors = ImmutableArray.CreateBuilder<SensorSnapshot>(state.Sensors.Count);
        foreach (var (name, sensor) in state.Sensors.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            var s = sensor.ComputeStatistics(options.StatisticsBucketWidth);
            sensors.Add(new SensorSnapshot(
                name,
                sensor.Value,
                sensor.Unit,
                sensor.Timestamp,
                sensor.Quality,
                new SensorStatistics(s.Count, Finite(s.Mean), Finite(s.Min), Finite(s.Max), Finite(s.StdDev), options.StatisticsWindow),
                sensor.Score));
        }

        return new MachineSnapshot(
            factory,
            id,
            state.Version,
            EffectiveStatus(state, now, options),
            state.StatusSince,
            state.LastSeen,
            state.Sequence.Highest,
            sensors.MoveToImmutable(),
            new PartCounts(state.Good, state.Scrap, GoodPerMinute(state, options)),
            state.CurrentWorkOrder,
            state.Line,
            new IngestCounters(state.Applied, state.Late, state.Duplicates, state.TooOld, state.SequenceRestarts),
            ActiveFaults(state),
            state.Definition?.Name);
    }

    public static MachineOee ToOee(string factory, string id, MachineState state, DateTimeOffset now, MachineTwinOptions options) =>
        new(factory, id, state.Definition?.IdealCycleTime, OeeMath.Windows(state.Oee ?? new OeeLedger(), state.Definition?.Calendar, state.Definition?.IdealCycleTime, now, options.OfflineAfter));

    public static MachineSummary ToSummary(string id, MachineState state, DateTimeOffset now, MachineTwinOptions options) =>
        new(
            id,
            state.Version,
            EffectiveStatus(state, now, options),
            state.LastSeen,
            state.Good,
            state.Scrap,
            GoodPerMinute(state, options),
            state.Sensors.Count,
            state.Line);

    // JSON has no NaN: an empty window reports 0 with Count = 0.
    private static double Finite(double value) => double.IsFinite(value) ? value : 0;
}
