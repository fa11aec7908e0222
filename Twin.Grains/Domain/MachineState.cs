using Twin.Machines;

namespace Twin.Grains.Domain;

/// <summary>Latest value and rolling statistics of one sensor.</summary>
[GenerateSerializer, Alias("twin.SensorState")]
public sealed class SensorState
{
    [Id(0)] public double Value { get; set; }
    [Id(1)] public string? Unit { get; set; }
    [Id(2)] public DateTimeOffset Timestamp { get; set; }
    [Id(3)] public ReadingQuality Quality { get; set; }
    [Id(4)] public RollingStatistics Statistics { get; set; } = new();
    [Id(5)] public Twin.Grains.Analytics.SensorDetectorState Detector { get; set; } = new();
    [Id(6)] public double Score { get; set; }

    /// <summary>Degradation trend for predictive maintenance (sensors with limits only).</summary>
    [Id(7)] public Twin.Grains.Analytics.TrendState? Trend { get; set; }
}

/// <summary>The persisted state of a machine twin.</summary>
[GenerateSerializer, Alias("twin.MachineState")]
public sealed class MachineState
{
    [Id(0)] public long Version { get; set; }
    [Id(1)] public SequenceWindow Sequence { get; set; } = new();
    [Id(2)] public Dictionary<string, SensorState> Sensors { get; set; } = new(StringComparer.Ordinal);
    [Id(3)] public MachineRunState? RunState { get; set; }
    [Id(4)] public DateTimeOffset? RunStateTimestamp { get; set; }
    [Id(5)] public DateTimeOffset? StatusSince { get; set; }
    [Id(6)] public long Good { get; set; }
    [Id(7)] public long Scrap { get; set; }
    [Id(8)] public RollingStatistics GoodRate { get; set; } = new();
    [Id(9)] public string? CurrentWorkOrder { get; set; }
    [Id(10)] public DateTimeOffset? CurrentWorkOrderTimestamp { get; set; }
    [Id(11)] public string? Line { get; set; }
    [Id(12)] public DateTimeOffset? LastSeen { get; set; }
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

    /// <summary>Fault reports not yet taken by their ticket desk (a persisted outbox).</summary>
    [Id(22)] public List<Twin.Maintenance.FaultReport> Outbox { get; set; } = [];

    /// <summary>Event time of the last evidence sent per "sensor.kind", to pace repeats.</summary>
    [Id(23)] public Dictionary<string, DateTimeOffset>? LastEvidence { get; set; }

    /// <summary>Part counts not yet taken by their work order (a persisted outbox).</summary>
    [Id(24)] public List<Twin.WorkOrders.ProductionReport> ProductionOutbox { get; set; } = [];

    /// <summary>The work order of each queued production report, in the same order.</summary>
    [Id(25)] public List<string> ProductionOutboxOrders { get; set; } = [];

    /// <summary>Time by run state and parts, for OEE; created by the first status or counts message.</summary>
    [Id(26)] public OeeLedger? Oee { get; set; }
}
