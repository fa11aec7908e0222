using Twin.Grains.Analytics;
using Twin.Machines;
using Xunit.Abstractions;

namespace Twin.Grains.Tests.Analytics;

/// <summary>
/// The detectors on synthetic signals with a known fault at a known time: each test reports the
/// detection delay and the false alarms, and asserts bounds on both.
/// </summary>
public class DetectorTests(ITestOutputHelper output)
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 0, 0, 0, TimeSpan.Zero);
    private readonly DetectorOptions _options = new();

    // The detector warms up in readings (WarmUp), not days: the 1 Hz signals use the defaults too.
    private readonly DetectorOptions _short = new();

    private sealed record Run(int FalseAlarms, int? Delay, List<(int Index, FaultKind Kind)> Alarms);

    /// <summary>Feeds the signal; alarms before <paramref name="faultAt"/> are false, the first after it gives the delay.</summary>
    private Run Feed(Func<int, double> signal, int count, int faultAt, TimeSpan step, FaultKind? expected, SensorLimit? limit = null, DetectorOptions? options = null)
    {
        options ??= _short;
        var state = new SensorDetectorState();
        var alarms = new List<(int, FaultKind)>();
        for (var i = 0; i < count; i++)
        {
            var detection = SensorDetector.Observe(state, T0 + (step * i), signal(i), limit, options);
            alarms.AddRange(detection.Raised.Select(k => (i, k)));
            Assert.InRange(detection.Score, 0, 1);
        }

        var falseAlarms = alarms.Count(a => a.Item1 < faultAt);
        int? delay = alarms.Where(a => a.Item1 >= faultAt && (expected is null || a.Item2 == expected)).Select(a => (int?)(a.Item1 - faultAt)).FirstOrDefault();
        output.WriteLine($"false alarms: {falseAlarms}; detection delay: {(delay is null ? "not detected" : $"{delay} readings")}; alarms: {string.Join(", ", alarms.Take(8).Select(a => $"{a.Item2}@{a.Item1}"))}");
        return new Run(falseAlarms, delay, alarms);
    }

    private static Func<int, double> Noise(int seed, double level = 50, double sigma = 1)
    {
        var random = new Random(seed);
        return _ =>
        {
            var u1 = 1.0 - random.NextDouble();
            var u2 = random.NextDouble();
            return level + (sigma * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Sin(2.0 * Math.PI * u2));
        };
    }

    [Fact]
    public void Seasonal_noise_with_no_fault_raises_almost_no_alarm()
    {
        // Five days, one reading a minute: a daily swing of ±8σ and a shift pattern of +3σ from
        // 06:00 to 22:00. Before the profile has a day, the bounded re-learning copes (a few
        // alarms in the first hours); from the second day on the profile knows the pattern.
        const int Day = 24 * 60;
        var noise = Noise(1);
        var total = 0;
        for (var seed = 0; seed < 5; seed++)
        {
            noise = Noise(seed);
            var run = Feed(
                i =>
                {
                    var hours = i / 60.0;
                    var shift = (hours % 24) is >= 6 and < 22 ? 3 : 0;
                    return noise(i) + (8 * Math.Sin(2 * Math.PI * hours / 24)) + shift;
                },
                5 * Day,
                int.MaxValue,
                TimeSpan.FromMinutes(1),
                null,
                options: _options);
            total += run.Alarms.Count(a => a.Index >= Day);
            Assert.True(run.Alarms.Count(a => a.Index < Day) <= 6, $"{run.Alarms.Count(a => a.Index < Day)} alarms on the first day");
        }

        output.WriteLine($"false alarms over 20 days with a learned profile (5 runs × 4 days): {total}");
        Assert.True(total <= 3, $"{total} false alarms in 20 days with a learned profile");
    }

    [Fact]
    public void A_spike_is_flagged_on_the_reading()
    {
        var noise = Noise(2);
        var state = new SensorDetectorState();
        for (var i = 0; i < 800; i++)
        {
            SensorDetector.Observe(state, T0.AddSeconds(i), noise(i), null, _short);
        }

        // The spike's own reading scores 1; it is a spike (not a shift) once the next reading is back.
        Assert.Equal(1, SensorDetector.Observe(state, T0.AddSeconds(800), 62, null, _short).Score);
        var run = Feed(i => i == 800 ? 62 : noise(i), 1000, 800, TimeSpan.FromSeconds(1), FaultKind.Spike);
        Assert.Equal(1, run.Delay);
        Assert.DoesNotContain(run.Alarms, a => a.Kind is FaultKind.LevelShift or FaultKind.Drift);
        Assert.Equal(0, run.FalseAlarms);
    }

    [Fact]
    public void A_level_shift_is_flagged_within_a_few_readings()
    {
        var noise = Noise(3);
        var run = Feed(i => noise(i) + (i >= 1500 ? 3 : 0), 2500, 1500, TimeSpan.FromSeconds(1), FaultKind.LevelShift);
        Assert.NotNull(run.Delay);
        Assert.InRange(run.Delay!.Value, 0, 15);
        Assert.Equal(0, run.FalseAlarms);
    }

    [Fact]
    public void A_slow_drift_is_flagged_before_it_reaches_five_sigma()
    {
        // 0.02σ per reading: the learned level follows slower wander (about 0.01σ per reading and
        // below) as normal, by design; trends towards limits are predictive maintenance's.
        var noise = Noise(4);
        var run = Feed(i => noise(i) + (i >= 1500 ? 0.02 * (i - 1500) : 0), 3500, 1500, TimeSpan.FromSeconds(1), null);
        Assert.NotNull(run.Delay);
        Assert.True(run.Delay!.Value * 0.02 < 5, $"drift flagged after {run.Delay} readings, at {run.Delay * 0.02:F2}σ");
        Assert.Contains(run.Alarms, a => a.Kind is FaultKind.Drift or FaultKind.LevelShift);
        Assert.Equal(0, run.FalseAlarms);
    }

    [Fact]
    public void A_stuck_sensor_is_flagged_after_the_flatline_readings()
    {
        var noise = Noise(5);
        var run = Feed(i => i >= 1000 ? 50.25 : noise(i), 1300, 1000, TimeSpan.FromSeconds(1), FaultKind.Flatline);
        Assert.Equal(_options.FlatlineReadings, run.Delay);
        Assert.Equal(0, run.FalseAlarms);
    }

    [Fact]
    public void Static_limits_need_the_minimum_duration_and_clear_with_hysteresis()
    {
        var limit = new SensorLimit(High: 90, Hysteresis: 2, MinDuration: TimeSpan.FromSeconds(30));
        var state = new SensorDetectorState();
        Detection Observe(int second, double value) => SensorDetector.Observe(state, T0.AddSeconds(second), value, limit, _options);

        Observe(0, 80);
        for (var s = 1; s <= 30; s++)
        {
            Assert.Empty(Observe(s, 91).Raised);
        }

        Assert.Equal([FaultKind.LimitHigh], Observe(31, 91).Raised);
        Assert.Empty(Observe(32, 89.5).Cleared);
        Assert.Equal(1, Observe(33, 89).Score);
        Assert.Equal([FaultKind.LimitHigh], Observe(34, 87).Cleared);

        // A short excursion resets the clock.
        Observe(40, 95);
        Observe(60, 85);
        Assert.Empty(Observe(75, 95).Raised);
        Assert.Empty(Observe(100, 95).Raised);
        Assert.Equal([FaultKind.LimitHigh], Observe(106, 95).Raised);
    }

    [Fact]
    public void Rate_of_change_and_missing_signal()
    {
        var limit = new SensorLimit(MaxRatePerSecond: 5);
        var state = new SensorDetectorState();
        SensorDetector.Observe(state, T0, 10, limit, _options);
        Assert.Empty(SensorDetector.Observe(state, T0.AddSeconds(1), 14, limit, _options).Raised);
        Assert.Equal([FaultKind.RateOfChange], SensorDetector.Observe(state, T0.AddSeconds(2), 30, limit, _options).Raised);
        Assert.Equal([FaultKind.RateOfChange], SensorDetector.Observe(state, T0.AddSeconds(3), 31, limit, _options).Cleared);

        Assert.False(SensorDetector.CheckMissing(state, T0.AddSeconds(6), limit, _options));
        Assert.True(SensorDetector.CheckMissing(state, T0.AddSeconds(10), limit, _options));
        Assert.False(SensorDetector.CheckMissing(state, T0.AddSeconds(11), limit, _options));
        Assert.Equal([FaultKind.MissingSignal], SensorDetector.Observe(state, T0.AddSeconds(12), 31, limit, _options).Cleared);
    }

    [Fact]
    public void An_out_of_order_reading_is_scored_but_does_not_teach_the_model()
    {
        var noise = Noise(6);
        var state = new SensorDetectorState();
        for (var i = 0; i < 400; i++)
        {
            SensorDetector.Observe(state, T0.AddSeconds(i), noise(i), null, _short);
        }

        var level = state.Level;
        var detection = SensorDetector.Observe(state, T0.AddSeconds(350), 80, null, _short);
        Assert.Equal(1, detection.Score);
        Assert.Equal(level, state.Level);
    }

    [Fact]
    public void The_state_keeps_each_instant_whatever_its_offset()
    {
        var local = new DateTimeOffset(2026, 11, 26, 9, 30, 15, TimeSpan.FromHours(2)).AddTicks(7);
        var state = new SensorDetectorState { LastTime = local, SameSince = local.AddHours(-1), FirstTime = local.AddDays(-2) };

        Assert.Null(state.BreachSince);
        Assert.Equal(local, state.LastTime); // the same instant
        Assert.Equal(local.UtcTicks, state.LastTime.UtcTicks);
        Assert.Equal(local.AddHours(-1), state.SameSince);
        Assert.Equal(local.AddDays(-2), state.FirstTime);

        state.BreachSince = DateTimeOffset.MinValue;
        Assert.Equal(DateTimeOffset.MinValue, state.BreachSince);
        state.BreachSince = null;
        Assert.Null(state.BreachSince);
    }

    [Fact]
    public void Readings_with_any_offset_are_judged_as_the_same_instants_in_utc()
    {
        var limit = new SensorLimit(High: 30, MinDuration: TimeSpan.FromSeconds(5), MaxRatePerSecond: 4);
        var utc = new SensorDetectorState();
        var local = new SensorDetectorState();
        for (var i = 0; i < 600; i++)
        {
            var at = T0.AddSeconds(i);
            var value = i is > 400 and < 420 ? 40 : 20 + Math.Sin(i / 7.0) + (i % 5 * 0.1);
            var a = SensorDetector.Observe(utc, at, value, limit, _short);
            var b = SensorDetector.Observe(local, at.ToOffset(TimeSpan.FromHours(-5)), value, limit, _short);
            Assert.Equal(a.Score, b.Score);
            Assert.Equal(a.Raised, b.Raised);
            Assert.Equal(a.Cleared, b.Cleared);
        }

        Assert.Equal(utc.Active, local.Active);
        Assert.NotEqual(0, utc.Count);
        Assert.Equal(utc.LastTime, local.LastTime);
    }
}
