using Twin.Grains.Domain;
using Twin.Machines;

namespace Twin.Grains.Tests.Domain;

public class MachineRulesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);
    private readonly MachineTwinOptions _options = new();

    private static TelemetryMessage Temp(long seq, int second, double value) =>
        new(seq, T0.AddSeconds(second), [new SensorReading("temperature", value, "degC")]);

    [Fact]
    public void An_older_reading_never_overwrites_a_newer_one_but_counts_in_statistics()
    {
        var state = new MachineState();
        MachineRules.Apply(state, Temp(2, 20, 75), _options);
        Assert.Equal(SequenceVerdict.Late, MachineRules.Apply(state, Temp(1, 10, 60), _options));

        var sensor = state.Sensors["temperature"];
        Assert.Equal(75, sensor.Value);
        Assert.Equal(T0.AddSeconds(20), sensor.Timestamp);
        Assert.Equal(2, sensor.ComputeStatistics(_options.StatisticsBucketWidth).Count);
        Assert.Equal(1, state.Late);
        Assert.Equal(1, state.Applied);
        Assert.Equal(2, state.Version);
    }

    [Fact]
    public void At_the_same_event_time_the_higher_sequence_number_wins_whatever_arrives_last()
    {
        var state = new MachineState();
        MachineRules.Apply(state, Temp(10, 20, 1), _options);
        Assert.Equal(SequenceVerdict.Late, MachineRules.Apply(state, Temp(5, 20, 2), _options));
        Assert.Equal(1, state.Sensors["temperature"].Value);

        Assert.Equal(SequenceVerdict.New, MachineRules.Apply(state, Temp(11, 20, 3), _options));
        Assert.Equal(3, state.Sensors["temperature"].Value);

        MachineRules.Apply(state, new StatusMessage(20, T0.AddSeconds(40), MachineRunState.Down), _options);
        MachineRules.Apply(state, new StatusMessage(15, T0.AddSeconds(40), MachineRunState.Running), _options);
        Assert.Equal(MachineRunState.Down, state.RunState);

        MachineRules.Apply(state, new CountsMessage(30, T0.AddSeconds(50), 1, 0, "WO-2"), _options);
        MachineRules.Apply(state, new CountsMessage(25, T0.AddSeconds(50), 1, 0, "WO-1"), _options);
        Assert.Equal("WO-2", state.CurrentWorkOrder);
        Assert.Equal(2, state.Good);
    }

    [Fact]
    public void Each_source_has_its_own_sequence_window()
    {
        var state = new MachineState();
        MachineRules.Apply(state, Temp(5000, 100, 25), _options);
        for (var seq = 1; seq <= 3; seq++)
        {
            Assert.Equal(SequenceVerdict.New, MachineRules.Apply(state, Temp(seq, 95 + seq, 10) with { Source = "csv" }, _options));
        }

        Assert.Equal(SequenceVerdict.Duplicate, MachineRules.Apply(state, Temp(2, 97, 10) with { Source = "csv" }, _options));
        Assert.Equal(25, state.Sensors["temperature"].Value);
        Assert.Equal(5000, state.Sequence.Highest);
        Assert.Equal(4, state.Sensors["temperature"].ComputeStatistics(_options.StatisticsBucketWidth).Count);

        for (var i = 1; i < MachineRules.MaxSources; i++)
        {
            MachineRules.Apply(state, Temp(1, 10 + i, 1) with { Source = $"s{i}" }, _options);
        }

        // A device that booted with a new source id more often than sources are kept is still heard:
        // the new source replaces the one heard from last (in event time), here "s1".
        Assert.Equal(SequenceVerdict.New, MachineRules.Apply(state, Temp(1, 200, 1) with { Source = "one-more" }, _options));
        Assert.Equal(MachineRules.MaxSources, state.Sources!.Count);
        Assert.DoesNotContain("s1", state.Sources.Keys);
        Assert.Contains("csv", state.Sources.Keys);
    }

    [Fact]
    public void Parts_counted_after_a_device_restart_are_a_new_report_and_a_redelivery_keeps_its_first_id()
    {
        var state = new MachineState();
        MachineRules.Apply(state, new CountsMessage(7, T0, 2, 0, "WO-1"), _options);

        // The device restarted its numbering: seq 7 again, but later, is new parts.
        Assert.Equal(SequenceVerdict.Restart, MachineRules.Apply(state, new CountsMessage(1, T0.AddMinutes(1), 1, 0, "WO-1"), _options));
        Assert.Equal(SequenceVerdict.New, MachineRules.Apply(state, new CountsMessage(7, T0.AddMinutes(2), 3, 0, "WO-1"), _options));

        // A redelivery of the first seq 7 is a duplicate and queues nothing.
        Assert.Equal(SequenceVerdict.Duplicate, MachineRules.Apply(state, new CountsMessage(7, T0, 2, 0, "WO-1"), _options));

        var reports = state.Outbox.Select(e => e.Message).OfType<Twin.Grains.Infrastructure.ProductionMessage>().Select(p => p.Report).ToList();
        Assert.Equal([":7", ":1:e1", ":7:e1"], reports.Select(r => r.ReportId));
        Assert.Equal([2L, 1, 3], reports.Select(r => r.Good));
        Assert.Equal(3, state.Outbox.Select(e => e.Id).Distinct().Count());
    }

    [Fact]
    public void A_message_without_readings_after_a_death_counts_as_heard_and_changes_no_sensor()
    {
        var state = new MachineState();
        MachineRules.Apply(state, Temp(1, 1, 20), _options);
        Assert.Equal(SequenceVerdict.New, MachineRules.Apply(state, new OfflineMessage(2, T0.AddSeconds(2), "sparkplug.ndeath"), _options));
        Assert.True(state.OfflineMarked);

        Assert.Equal(SequenceVerdict.New, MachineRules.Apply(state, new TelemetryMessage(3, T0.AddSeconds(3), []), _options));
        Assert.True(MachineRules.Heard(state, T0.AddSeconds(3)));
        Assert.False(state.OfflineMarked);
        Assert.Equal(20, state.Sensors["temperature"].Value);
    }

    [Fact]
    public void A_reading_too_old_to_judge_is_refused_with_a_reason_not_taken_silently()
    {
        var state = new MachineState();
        MachineRules.Apply(state, Temp(1, 1, 20), _options);
        for (var seq = 3; seq < 3 + (2 * (SequenceWindow.MaxGaps + 1)) + SequenceWindow.Size; seq += 2)
        {
            MachineRules.Apply(state, Temp(seq, seq, 20), _options);
        }

        // More gaps than kept: the oldest (seq 2) is forgotten.
        var verdict = MachineRules.Apply(state, Temp(2, 2, 20), _options, out var reason);
        Assert.Equal(SequenceVerdict.TooOld, verdict);
        Assert.StartsWith("sequence.too-old: seq 2", reason, StringComparison.Ordinal);
        Assert.Equal(1, state.TooOld);
    }

    [Fact]
    public void A_message_that_would_exceed_the_sensor_limit_is_rejected_and_not_remembered()
    {
        var options = new MachineTwinOptions { MaxSensors = 2 };
        var state = new MachineState();
        MachineRules.Apply(state, new TelemetryMessage(1, T0, [new SensorReading("a", 1, null), new SensorReading("b", 1, null)]), options);
        var verdict = MachineRules.Apply(state, new TelemetryMessage(2, T0.AddSeconds(1), [new SensorReading("a", 2, null), new SensorReading("c", 1, null)]), options, out var reason);
        Assert.Equal(SequenceVerdict.Rejected, verdict);
        Assert.StartsWith("sensors.too-many", reason, StringComparison.Ordinal);
        Assert.Equal(1, state.Sensors["a"].Value);
        Assert.Equal(1, state.Sequence.Highest);
        Assert.Equal(SequenceVerdict.New, MachineRules.Apply(state, new TelemetryMessage(2, T0.AddSeconds(1), [new SensorReading("a", 2, null)]), options));
    }

    [Fact]
    public void A_duplicate_changes_nothing_but_its_counter()
    {
        var state = new MachineState();
        MachineRules.Apply(state, Temp(1, 10, 60), _options);
        var version = state.Version;
        Assert.Equal(SequenceVerdict.Duplicate, MachineRules.Apply(state, Temp(1, 10, 99), _options));
        Assert.Equal(60, state.Sensors["temperature"].Value);
        Assert.Equal(version, state.Version);
        Assert.Equal(1, state.Duplicates);
    }

    [Fact]
    public void Bad_quality_is_kept_as_latest_but_excluded_from_statistics()
    {
        var state = new MachineState();
        MachineRules.Apply(state, Temp(1, 10, 60), _options);
        MachineRules.Apply(state, new TelemetryMessage(2, T0.AddSeconds(11), [new SensorReading("temperature", 9999, "degC", ReadingQuality.Bad)]), _options);
        var sensor = state.Sensors["temperature"];
        Assert.Equal(9999, sensor.Value);
        Assert.Equal(ReadingQuality.Bad, sensor.Quality);
        Assert.Equal(60, sensor.ComputeStatistics(_options.StatisticsBucketWidth).Max);
    }

    [Fact]
    public void Status_follows_event_time_and_since_marks_the_change()
    {
        var state = new MachineState();
        MachineRules.Apply(state, new StatusMessage(1, T0.AddSeconds(10), MachineRunState.Running), _options);
        MachineRules.Apply(state, new StatusMessage(3, T0.AddSeconds(30), MachineRunState.Down), _options);
        MachineRules.Apply(state, new StatusMessage(2, T0.AddSeconds(20), MachineRunState.Idle), _options);
        Assert.Equal(MachineRunState.Down, state.RunState);
        Assert.Equal(T0.AddSeconds(30), state.StatusSince);
        MachineRules.Heard(state, T0.AddSeconds(31));
        Assert.Equal(MachineStatus.Down, MachineRules.EffectiveStatus(state, T0.AddSeconds(31), _options));
    }

    [Fact]
    public void Counts_add_up_and_the_latest_work_order_wins()
    {
        var state = new MachineState();
        MachineRules.Apply(state, new CountsMessage(1, T0.AddSeconds(10), 3, 1, "WO-1"), _options);
        MachineRules.Apply(state, new CountsMessage(3, T0.AddSeconds(30), 2, 0, "WO-2"), _options);
        MachineRules.Apply(state, new CountsMessage(2, T0.AddSeconds(20), 4, 0, "WO-1"), _options);
        Assert.Equal(9, state.Good);
        Assert.Equal(1, state.Scrap);
        Assert.Equal("WO-2", state.CurrentWorkOrder);
        Assert.True(MachineRules.GoodPerMinute(state, _options) > 0);
    }

    [Fact]
    public void A_full_production_outbox_adds_parts_to_a_queued_report_instead_of_dropping_them()
    {
        var options = new MachineTwinOptions { MaxOutbox = 3 };
        var state = new MachineState();
        for (var seq = 1; seq <= 10; seq++)
        {
            MachineRules.Apply(state, new CountsMessage(seq, T0.AddSeconds(seq), 2, seq % 2, seq <= 2 ? "WO-1" : "WO-2"), options);
        }

        // Three reports (the limit); the head keeps what it had.
        Assert.Equal(["WO-1", "WO-1", "WO-2"], Production(state).Select(p => p.WorkOrder));
        Assert.Equal(2, Production(state)[0].Report.Good);
        Assert.Equal(20, Production(state).Sum(p => p.Report.Good));
        Assert.Equal(5, Production(state).Sum(p => p.Report.Scrap));
        Assert.Equal(T0.AddSeconds(10), Production(state)[2].Report.At);

        // An order with nothing else queued still gets its report, past the limit.
        MachineRules.Apply(state, new CountsMessage(11, T0.AddSeconds(11), 1, 0, "WO-3"), options);
        Assert.Equal("WO-3", Production(state)[^1].WorkOrder);
        Assert.Equal(21, Production(state).Sum(p => p.Report.Good));
    }

    [Fact]
    public void A_full_outbox_never_changes_a_report_that_was_tried_it_queues_a_new_one()
    {
        var options = new MachineTwinOptions { MaxOutbox = 2 };
        var state = new MachineState();
        MachineRules.Apply(state, new CountsMessage(1, T0.AddSeconds(1), 2, 0, "WO-1"), options);
        MachineRules.Apply(state, new CountsMessage(2, T0.AddSeconds(2), 3, 0, "WO-1"), options);

        // The order did not answer the last report: its outcome is unknown, it may have arrived.
        state.Outbox[^1].Attempts = 1;
        MachineRules.Apply(state, new CountsMessage(3, T0.AddSeconds(3), 4, 0, "WO-1"), options);

        Assert.Equal([2, 3, 4], Production(state).Select(p => p.Report.Good));
    }

    private static List<Twin.Grains.Infrastructure.ProductionMessage> Production(MachineState state) =>
        [.. state.Outbox.Select(e => e.Message).OfType<Twin.Grains.Infrastructure.ProductionMessage>()];

    [Fact]
    public void Heartbeat_loss_makes_the_machine_offline_until_it_is_heard_again()
    {
        var state = new MachineState();
        Assert.Equal(MachineStatus.Unknown, MachineRules.EffectiveStatus(state, T0, _options));
        MachineRules.Apply(state, new StatusMessage(1, T0, MachineRunState.Running), _options);
        MachineRules.Heard(state, T0);

        var later = T0 + _options.OfflineAfter + TimeSpan.FromSeconds(1);
        Assert.Equal(MachineStatus.Offline, MachineRules.EffectiveStatus(state, later, _options));
        Assert.False(MachineRules.CheckHeartbeat(state, T0.AddSeconds(1), _options));
        Assert.True(MachineRules.CheckHeartbeat(state, later, _options));
        Assert.False(MachineRules.CheckHeartbeat(state, later, _options));

        Assert.True(MachineRules.Heard(state, later));
        Assert.Equal(MachineStatus.Running, MachineRules.EffectiveStatus(state, later, _options));
    }

    [Fact]
    public void The_offline_moment_is_the_first_at_which_the_heartbeat_check_marks_it()
    {
        var state = new MachineState();
        Assert.Equal(long.MaxValue, MachineRules.OfflineDue(state, _options));
        MachineRules.Heard(state, T0);

        var due = new DateTimeOffset(MachineRules.OfflineDue(state, _options), TimeSpan.Zero);
        Assert.False(MachineRules.CheckHeartbeat(state, due.AddTicks(-1), _options));
        Assert.Equal(MachineStatus.Offline, MachineRules.EffectiveStatus(state, due, _options));
        Assert.True(MachineRules.CheckHeartbeat(state, due, _options));
        Assert.Equal(long.MaxValue, MachineRules.OfflineDue(state, _options));

        Assert.True(MachineRules.Heard(state, due));
        Assert.Equal((due + _options.OfflineAfter).UtcTicks + 1, MachineRules.OfflineDue(state, _options));
    }

    [Fact]
    public void Snapshot_lists_sensors_in_name_order_with_finite_numbers()
    {
        var state = new MachineState();
        MachineRules.Apply(state, new TelemetryMessage(1, T0, [new SensorReading("vibration", 2, "mm/s"), new SensorReading("current", 3, "A", ReadingQuality.Bad)]), _options);
        var snapshot = MachineRules.ToSnapshot("f", "m", state, T0, _options);
        Assert.Equal(["current", "vibration"], snapshot.Sensors.Select(s => s.Sensor));
        Assert.Equal(0, snapshot.Sensors[0].Statistics.Count);
        Assert.Equal(0, snapshot.Sensors[0].Statistics.Mean);
        Assert.Equal(1, snapshot.LastSeq);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(120)]
    [InlineData(-330)]
    [InlineData(840)]
    public void A_sensor_keeps_its_timestamp_with_its_offset(int offsetMinutes)
    {
        var at = new DateTimeOffset(2026, 11, 26, 8, 0, 0, TimeSpan.FromMinutes(offsetMinutes)).AddTicks(1234567);
        var sensor = new SensorState { Timestamp = at };
        Assert.Equal(at, sensor.Timestamp);
        Assert.Equal(at.Offset, sensor.Timestamp.Offset);
        Assert.Equal(DateTimeOffset.MinValue, new SensorState().Timestamp);
        sensor.Timestamp = DateTimeOffset.MaxValue;
        Assert.Equal(DateTimeOffset.MaxValue, sensor.Timestamp);
    }
}
