using Twin.Machines;

namespace Twin.Grains.Domain;

/// <summary>Latest value and rolling statistics of one sensor.</summary>
/// <remarks>
/// Every sensor of every active twin holds one, so it is kept lean: the statistics buckets sit
/// here directly (no <see cref="RollingStatistics"/> object per sensor) and the timestamp as local
/// ticks and offset (10 bytes, not a padded 16), still persisted as a <see cref="DateTimeOffset"/>.
/// </remarks>
[GenerateSerializer, Alias("twin.SensorState")]
public sealed class SensorState
{
    [NonSerialized] private long _timestampTicks;
    [NonSerialized] private short _timestampOffsetMinutes;
    [NonSerialized] private StatBucket[] _statistics = [];

    [Id(0)] public double Value { get; set; }
    [Id(1)] public string? Unit { get; set; }

    [Id(2)]
    public DateTimeOffset Timestamp
    {
        get => new(_timestampTicks, TimeSpan.FromMinutes(_timestampOffsetMinutes));
        set
        {
            _timestampTicks = value.Ticks;
            _timestampOffsetMinutes = (short)value.TotalOffsetMinutes;
        }
    }

    [Id(3)] public ReadingQuality Quality { get; set; }

    /// <summary>The statistics as state saved before <see cref="StatisticsBuckets"/> has them: read, never written.</summary>
    [Id(4)]
    public RollingStatistics? LegacyStatistics
    {
        get => null;
        set
        {
            if (value is not null)
            {
                _statistics = value.Buckets;
            }
        }
    }

    [Id(5)] public Twin.Grains.Analytics.SensorDetectorState Detector { get; set; } = new();
    [Id(6)] public double Score { get; set; }

    /// <summary>Degradation trend for predictive maintenance (sensors with limits only).</summary>
    [Id(7)] public Twin.Grains.Analytics.TrendState? Trend { get; set; }

    /// <summary>The rolling statistics' buckets, oldest first (see <see cref="RollingStatistics"/>).</summary>
    [Id(8)]
    public StatBucket[] StatisticsBuckets
    {
        get => _statistics;
        set => _statistics = value;
    }

    /// <summary>Counts a value in the rolling statistics; false when it is older than the window.</summary>
    public bool AddToStatistics(DateTimeOffset eventTime, double value, TimeSpan bucketWidth, int bucketCount) =>
        RollingStatistics.Add(ref _statistics, eventTime, value, bucketWidth, bucketCount);

    /// <summary>The rolling statistics over the window.</summary>
    public WindowStatistics ComputeStatistics(TimeSpan bucketWidth) => RollingStatistics.Compute(_statistics, bucketWidth);
}

/// <summary>The persisted state of a machine twin.</summary>
[GenerateSerializer, Alias("twin.MachineState")]
public sealed class MachineState : Twin.Grains.Infrastructure.IRegisteredState
{
    /// <summary>The machine score last written to the history and its event time (ticks): the series' deadband. Not persisted: after a reactivation the next score is written.</summary>
    [NonSerialized] internal float LastMachineScore = -1;
    [NonSerialized] internal long LastMachineScoreTicks;

    // The optional times below as local ticks and offset (10 bytes each, not a padded 24 for a
    // DateTimeOffset?): every active twin holds them. Still persisted as DateTimeOffset?.
    private const long NoTime = -1;
    [NonSerialized] private long _runStateTimestampTicks = NoTime;
    [NonSerialized] private short _runStateTimestampOffset;
    [NonSerialized] private long _statusSinceTicks = NoTime;
    [NonSerialized] private short _statusSinceOffset;
    [NonSerialized] private long _currentWorkOrderTimestampTicks = NoTime;
    [NonSerialized] private short _currentWorkOrderTimestampOffset;
    [NonSerialized] private long _lastSeenTicks = NoTime;
    [NonSerialized] private short _lastSeenOffset;
    [NonSerialized] private long _lastInspectionTicks = NoTime;
    [NonSerialized] private short _lastInspectionOffset;

    [Id(0)] public long Version { get; set; }
    [Id(1)] public SequenceWindow Sequence { get; set; } = new();
    [Id(2)] public Dictionary<string, SensorState> Sensors { get; set; } = new(StringComparer.Ordinal);
    [Id(3)] public MachineRunState? RunState { get; set; }
    [Id(4)]
    public DateTimeOffset? RunStateTimestamp
    {
        get => Unpack(_runStateTimestampTicks, _runStateTimestampOffset);
        set => Pack(value, out _runStateTimestampTicks, out _runStateTimestampOffset);
    }

    [Id(5)]
    public DateTimeOffset? StatusSince
    {
        get => Unpack(_statusSinceTicks, _statusSinceOffset);
        set => Pack(value, out _statusSinceTicks, out _statusSinceOffset);
    }

    [Id(6)] public long Good { get; set; }
    [Id(7)] public long Scrap { get; set; }
    /// <summary>Good parts over the throughput window; created by the first counts message.</summary>
    [Id(8)] public RollingStatistics? GoodRate { get; set; }
    [Id(9)] public string? CurrentWorkOrder { get; set; }
    [Id(10)]
    public DateTimeOffset? CurrentWorkOrderTimestamp
    {
        get => Unpack(_currentWorkOrderTimestampTicks, _currentWorkOrderTimestampOffset);
        set => Pack(value, out _currentWorkOrderTimestampTicks, out _currentWorkOrderTimestampOffset);
    }

    [Id(11)] public string? Line { get; set; }
    [Id(12)]
    public DateTimeOffset? LastSeen
    {
        get => Unpack(_lastSeenTicks, _lastSeenOffset);
        set => Pack(value, out _lastSeenTicks, out _lastSeenOffset);
    }

    [Id(13)] public bool OfflineMarked { get; set; }
    [Id(14)] public long Applied { get; set; }
    [Id(15)] public long Late { get; set; }
    [Id(16)] public long Duplicates { get; set; }
    [Id(17)] public long TooOld { get; set; }
    [Id(18)] public long SequenceRestarts { get; set; }
    [Id(19)] public bool Registered { get; set; }

    /// <summary>Sequence windows of other sources than the device (backfills, extra PLCs).</summary>
    [Id(20)] public Dictionary<string, SequenceWindow>? Sources { get; set; }

    [Id(21)] public MachineDefinition? Definition { get; set; }

    /// <summary>Fault reports waiting for their desk, as saved before the one outbox: moved into <see cref="Outbox"/> on load.</summary>
    [Id(22)] public List<Twin.Maintenance.FaultReport>? EarlierFaultOutbox { get; set; }

    /// <summary>Event time of the last evidence sent per "sensor.kind", to pace repeats.</summary>
    [Id(23)] public Dictionary<string, DateTimeOffset>? LastEvidence { get; set; }

    /// <summary>Part counts waiting for their work order, as saved before the one outbox: moved into <see cref="Outbox"/> on load.</summary>
    [Id(24)] public List<Twin.WorkOrders.ProductionReport>? EarlierProductionOutbox { get; set; }

    /// <summary>The work order of each report in <see cref="EarlierProductionOutbox"/>.</summary>
    [Id(25)] public List<string>? EarlierProductionOrders { get; set; }

    /// <summary>Time by run state and parts, for OEE; created by the first status or counts message.</summary>
    [Id(26)] public OeeLedger? Oee { get; set; }

    /// <summary>Fault reports for the ticket desks and part counts for work orders, not yet taken (the twin's persisted outbox).</summary>
    [Id(27)] public List<Twin.Grains.Infrastructure.OutboxEntry> Outbox { get; set; } = [];

    /// <summary>
    /// Readings applied (and acknowledged) whose history rows are not yet known to be written, in
    /// order; written with the state, so history is derived from durable state and cannot miss them.
    /// </summary>
    [Id(28)] public List<Twin.Grains.Infrastructure.HistoryPoint>? HistoryPending { get; set; }

    /// <summary>Event time of the latest inspection on the machine: where the next part's window starts.</summary>
    [Id(29)]
    public DateTimeOffset? LastInspection
    {
        get => Unpack(_lastInspectionTicks, _lastInspectionOffset);
        set => Pack(value, out _lastInspectionTicks, out _lastInspectionOffset);
    }

    /// <summary>Ids of the MES inspection events applied (the latest <see cref="MachineRules.InspectionsRemembered"/>).</summary>
    [Id(30)] public List<string>? SeenInspections { get; set; }

    /// <summary>Actions whose effect is being verified: parts with event time in each one's "after" window, counted exactly.</summary>
    [Id(35)] public List<Twin.Grains.Effects.EffectWatch>? EffectWatches { get; set; }

    private static DateTimeOffset? Unpack(long ticks, short offsetMinutes) =>
        ticks == NoTime ? null : new DateTimeOffset(ticks, TimeSpan.FromMinutes(offsetMinutes));

    private static void Pack(DateTimeOffset? value, out long ticks, out short offsetMinutes)
    {
        ticks = value?.Ticks ?? NoTime;
        offsetMinutes = (short)(value?.TotalOffsetMinutes ?? 0);
    }
}
