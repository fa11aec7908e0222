using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Twin.Grains.Infrastructure;
using Twin.Grains.Domain;
using Twin.Machines;

namespace Twin.Grains.Tests.Domain;

/// <summary>
/// A machine twin's history that touches every part of <see cref="MachineState"/>: ten sensors
/// (two with limits, so trends and limit faults), a gap filled late, a second source, status and
/// counts (OEE ledger, throughput, production outbox), faults (outbox, evidence), event times
/// with a non-UTC offset.
/// </summary>
public static class StateScenario
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.FromHours(2));

    public static readonly MachineDefinition Definition = new(
        "Press 7",
        ImmutableDictionary<string, SensorLimit>.Empty
            .Add("s0", new SensorLimit(High: 100, Low: 0, Hysteresis: 2, MinDuration: TimeSpan.FromSeconds(5)))
            .Add("s1", new SensorLimit(High: 80, MaxRatePerSecond: 5)),
        TimeSpan.FromSeconds(2));

    /// <summary>The messages before the state is saved.</summary>
    public static IEnumerable<MachineMessage> Before()
    {
        for (var seq = 1; seq <= 150; seq++)
        {
            if (seq != 100)
            {
                yield return Telemetry(seq);
            }
        }

        yield return Telemetry(100); // late
        yield return new StatusMessage(151, T0.AddSeconds(151), MachineRunState.Running);
        yield return new CountsMessage(152, T0.AddSeconds(152), 12, 1, "WO-1");
        yield return Telemetry(3) with { Source = "csv" };
    }

    /// <summary>The messages after the state was loaded again.</summary>
    public static IEnumerable<MachineMessage> After()
    {
        yield return Telemetry(140); // duplicate
        for (var seq = 153; seq <= 220; seq++)
        {
            yield return seq switch
            {
                180 => new StatusMessage(seq, T0.AddSeconds(seq), MachineRunState.Idle),
                190 => new CountsMessage(seq, T0.AddSeconds(seq), 5, 0, "WO-1"),
                200 => new StatusMessage(seq, T0.AddSeconds(seq), MachineRunState.Running),
                _ => Telemetry(seq),
            };
        }

        yield return Telemetry(4) with { Source = "csv" };
    }

    public static TelemetryMessage Telemetry(long seq) => new(
        seq,
        T0.AddSeconds(seq),
        [.. Enumerable.Range(0, 10).Select(s => new SensorReading($"s{s}", Value(s, seq), s % 2 == 0 ? "bar" : "degC"))]);

    private static double Value(int sensor, long seq) => sensor switch
    {
        0 => seq is >= 120 and < 130 ? 105 : 50 + (0.2 * seq),       // climbs, breaches its high limit for 10 s
        1 => seq == 60 ? 70 : 20 + Math.Sin(seq / 5.0),                // one jump faster than its rate limit
        2 => 7,                                                         // never varies
        _ => (sensor * 10) + Math.Sin((seq + sensor) / 3.0) + (seq % 7 * 0.01),
    };

    public static MachineState Run(IEnumerable<MachineMessage> messages, MachineTwinOptions options, MachineState? state = null)
    {
        state ??= new MachineState { Definition = Definition };
        foreach (var message in messages)
        {
            MachineRules.Apply(state, message, options);
        }

        return state;
    }

    /// <summary>Everything the twin shows or decides from its state, as text to compare.</summary>
    public static string Describe(MachineState state, MachineTwinOptions options)
    {
        var now = T0.AddSeconds(225);
        var json = new JsonSerializerOptions { WriteIndented = true };
        var text = new StringBuilder();
        text.AppendLine(JsonSerializer.Serialize(MachineRules.ToSnapshot("f", "m", state, now, options), json));
        text.AppendLine(JsonSerializer.Serialize(MachineRules.ToOee("f", "m", state, now, options), json));
        var messages = state.Outbox.Select(e => e.Message).ToList();
        text.AppendLine(JsonSerializer.Serialize(messages.OfType<FaultMessage>().Select(f => f.Report).ToList(), json));
        text.AppendLine(JsonSerializer.Serialize(messages.OfType<ProductionMessage>().Select(p => p.Report).ToList(), json));
        text.AppendLine(string.Join(",", messages.OfType<ProductionMessage>().Select(p => p.WorkOrder)));
        text.AppendLine(JsonSerializer.Serialize(state.LastEvidence?.OrderBy(e => e.Key, StringComparer.Ordinal).ToList(), json));
        foreach (var (name, sensor) in state.Sensors.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            var d = sensor.Detector;
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"{name}: {d.Count} {d.Level:R} {d.Variance:R} {d.CusumHigh:R} {d.CusumLow:R} {d.CusumRun} {d.LastValue:R} {d.LastTime.UtcTicks} {d.BreachSince?.UtcTicks} {d.Active} {d.SameCount} {d.SameSince.UtcTicks} {d.MeanInterval:R} {d.HasVaried} {d.FirstTime.UtcTicks} [{string.Join(" ", d.Seasonal ?? [])}]"));
            if (sensor.Trend is { } trend)
            {
                text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"{name} trend: {trend.Slot} {trend.Sum:R} {trend.Count} [{string.Join(" ", trend.Times)}] [{string.Join(" ", trend.Means)}] {trend.Raised}"));
            }
        }

        var rate = (state.GoodRate ?? new RollingStatistics()).Compute(options.ThroughputBucketWidth);
        text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"good rate: {rate}"));
        text.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"sequence: {state.Sequence.Highest} {state.Sequence.LatestEventTime:O} {state.Sequence.EpochStart:O}; sources: {string.Join(",", state.Sources?.Keys.Order(StringComparer.Ordinal) ?? Enumerable.Empty<string>())}"));
        return text.ToString();
    }
}
