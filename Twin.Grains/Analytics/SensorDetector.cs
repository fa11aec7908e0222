using Twin.Machines;

namespace Twin.Grains.Analytics;

/// <summary>Settings of the adaptive detector, shared by all sensors.</summary>
public sealed class DetectorOptions
{
    /// <summary>Readings learned before the adaptive detector may alarm.</summary>
    public int WarmUp { get; set; } = 60;

    /// <summary>
    /// Event time the adaptive detector learns (level, noise, daily pattern) before it alarms on
    /// spikes, level shifts and drifts. Static limits, rate of change, flatline and missing signal
    /// work from the first reading.
    /// </summary>
    public TimeSpan LearningPeriod { get; set; } = TimeSpan.FromHours(48);

    /// <summary>Weight of a new reading in the learned noise (per reading).</summary>
    public double Alpha { get; set; } = 0.02;

    /// <summary>
    /// Time constant of the learned level after warm-up (event time). Slow on purpose: a drift
    /// must not be followed as fast as it builds up; daily and shift patterns go to the
    /// hour-of-day profile instead.
    /// </summary>
    public TimeSpan LevelTimeConstant { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// How much one day of readings moves the learned hour-of-day profile (spread over that
    /// hour's readings): 2 learns 86% of a daily pattern in one day and cannot absorb a
    /// fault that develops within hours.
    /// </summary>
    public double SeasonalBeta { get; set; } = 2.0;

    /// <summary>A reading this many standard deviations from the expected value is a spike.</summary>
    public double SpikeZ { get; set; } = 6;

    /// <summary>CUSUM slack, in standard deviations.</summary>
    public double CusumK { get; set; } = 1.0;

    /// <summary>CUSUM alarm threshold, in standard deviations.</summary>
    public double CusumH { get; set; } = 20;

    /// <summary>Identical readings in a row that make a varying sensor "stuck" when no FlatlineAfter is set.</summary>
    public int FlatlineReadings { get; set; } = 120;

    /// <summary>Missing signal after this many expected intervals without a reading.</summary>
    public double MissingIntervals { get; set; } = 5;
}

/// <summary>What the detectors make of one reading.</summary>
/// <param name="Score">Anomaly score in [0, 1]: 0 normal, 1 certainly abnormal.</param>
/// <param name="Raised">Faults that became active with this reading.</param>
/// <param name="Cleared">Faults that ended with this reading.</param>
public readonly record struct Detection(double Score, IReadOnlyList<FaultKind> Raised, IReadOnlyList<FaultKind> Cleared);

/// <summary>The learned model and alarm state of one sensor. Persisted with the machine twin.</summary>
/// <remarks>
/// Every sensor of every active twin holds one, so the instants are kept as UTC ticks (8 bytes)
/// rather than <see cref="DateTimeOffset"/> (16): the detector only compares and subtracts them,
/// which the offset does not change. They are still persisted as <see cref="DateTimeOffset"/>.
/// </remarks>
[GenerateSerializer, Alias("twin.SensorDetectorState")]
public sealed class SensorDetectorState
{
    private const long NoTime = -1;

    [NonSerialized] private long _lastTime;
    [NonSerialized] private long _breachSince = NoTime;
    [NonSerialized] private long _sameSince;
    [NonSerialized] private long _firstTime;

    [Id(0)] public long Count { get; set; }
    [Id(1)] public double Level { get; set; }
    [Id(2)] public double Variance { get; set; }
    [Id(3)] public float[]? Seasonal { get; set; }
    [Id(4)] public double CusumHigh { get; set; }
    [Id(5)] public double CusumLow { get; set; }
    [Id(6)] public int CusumRun { get; set; }
    [Id(7)] public double LastValue { get; set; }

    [Id(8)]
    public DateTimeOffset LastTime
    {
        get => FromTicks(_lastTime);
        set => _lastTime = value.UtcTicks;
    }

    [Id(9)]
    public DateTimeOffset? BreachSince
    {
        get => _breachSince == NoTime ? null : FromTicks(_breachSince);
        set => _breachSince = value is { } t ? t.UtcTicks : NoTime;
    }

    [Id(10)] public int Active { get; set; }
    [Id(11)] public int SameCount { get; set; }

    [Id(12)]
    public DateTimeOffset SameSince
    {
        get => FromTicks(_sameSince);
        set => _sameSince = value.UtcTicks;
    }

    [Id(13)] public double MeanInterval { get; set; }
    [Id(14)] public bool HasVaried { get; set; }

    [Id(15)]
    public DateTimeOffset FirstTime
    {
        get => FromTicks(_firstTime);
        set => _firstTime = value.UtcTicks;
    }

    public bool IsActive(FaultKind kind) => (Active & (1 << (int)kind)) != 0;

    public void Set(FaultKind kind, bool on) => Active = on ? Active | (1 << (int)kind) : Active & ~(1 << (int)kind);

    private static DateTimeOffset FromTicks(long utcTicks) => new(utcTicks, TimeSpan.Zero);
}

/// <summary>
/// Streaming anomaly detection for one sensor, on event time, in constant memory:
/// <list type="bullet">
/// <item>static limits from master data, with hysteresis and a minimum duration;</item>
/// <item>an adaptive model — exponentially weighted level and noise, plus an hour-of-day profile
/// for daily and shift patterns — that flags spikes (a large standardised residual) and, through a
/// two-sided CUSUM on the residuals, level shifts (fast) and drifts (slow);</item>
/// <item>rate of change, stuck sensor (flatline) and missing signal (checked by the twin's timer).</item>
/// </list>
/// Outliers update the model only clipped to ±3σ, so one spike does not teach it a new normal.
/// </summary>
public static class SensorDetector
{
    private const double MinSigma = 1e-9;

    public static Detection Observe(SensorDetectorState s, DateTimeOffset time, double value, SensorLimit? limit, DetectorOptions o)
    {
        var raised = new List<FaultKind>(2);
        var cleared = new List<FaultKind>(2);
        double score = 0;

        // An older reading (out of order) is scored against the model but does not teach it.
        var inOrder = s.Count == 0 || time >= s.LastTime;

        if (limit is not null)
        {
            score = Math.Max(score, Limits(s, time, value, limit, raised, cleared));
            if (inOrder && s.Count > 0 && limit.MaxRatePerSecond is { } maxRate)
            {
                var seconds = (time - s.LastTime).TotalSeconds;
                var rate = seconds > 0 ? Math.Abs(value - s.LastValue) / seconds : 0;
                score = Math.Max(score, Toggle(s, FaultKind.RateOfChange, rate > maxRate, rate <= maxRate, raised, cleared) ? 1 : Math.Clamp(rate / maxRate - 0.5, 0, 0.99));
            }
        }

        score = Math.Max(score, Adaptive(s, time, value, o, learn: inOrder, raised, cleared));

        if (inOrder)
        {
            score = Math.Max(score, Flatline(s, time, value, limit, o, raised, cleared));
            if (s.Count > 1)
            {
                var interval = (time - s.LastTime).TotalSeconds;
                s.MeanInterval = s.MeanInterval == 0 ? interval : s.MeanInterval + (0.05 * (interval - s.MeanInterval));
            }

            if (s.IsActive(FaultKind.MissingSignal))
            {
                s.Set(FaultKind.MissingSignal, false);
                cleared.Add(FaultKind.MissingSignal);
            }

            s.LastValue = value;
            s.LastTime = time;
        }

        return new Detection(Math.Clamp(score, 0, 1), raised, cleared);
    }

    /// <summary>Checked by the twin's timer: true when the sensor's signal just went missing.</summary>
    public static bool CheckMissing(SensorDetectorState s, DateTimeOffset now, SensorLimit? limit, DetectorOptions o)
    {
        if (s.Count < 3 || s.IsActive(FaultKind.MissingSignal))
        {
            return false;
        }

        var interval = limit?.ExpectedInterval?.TotalSeconds ?? s.MeanInterval;
        if (interval <= 0 || (now - s.LastTime).TotalSeconds <= Math.Max(o.MissingIntervals * interval, 5))
        {
            return false;
        }

        s.Set(FaultKind.MissingSignal, true);
        return true;
    }

    private static double Limits(SensorDetectorState s, DateTimeOffset time, double value, SensorLimit limit, List<FaultKind> raised, List<FaultKind> cleared)
    {
        double score = 0;
        foreach (var (kind, breached, back) in new[]
        {
            (FaultKind.LimitHigh, limit.High is { } h && value > h, limit.High is not { } h2 || value < h2 - limit.Hysteresis),
            (FaultKind.LimitLow, limit.Low is { } l && value < l, limit.Low is not { } l2 || value > l2 + limit.Hysteresis),
        })
        {
            if (s.IsActive(kind))
            {
                if (back)
                {
                    s.Set(kind, false);
                    cleared.Add(kind);
                }
                else
                {
                    score = 1;
                }

                continue;
            }

            if (!breached)
            {
                continue;
            }

            s.BreachSince ??= time;
            var held = time - s.BreachSince.Value;
            if (held >= limit.MinDuration)
            {
                s.Set(kind, true);
                raised.Add(kind);
                s.BreachSince = null;
                score = 1;
            }
            else
            {
                score = Math.Max(score, 0.5 + (0.49 * held.TotalSeconds / Math.Max(limit.MinDuration.TotalSeconds, 1e-9)));
            }
        }

        if (!(limit.High is { } hi && value > hi) && !(limit.Low is { } lo && value < lo))
        {
            s.BreachSince = null;
        }

        return score;
    }

    private static double Adaptive(SensorDetectorState s, DateTimeOffset time, double value, DetectorOptions o, bool learn, List<FaultKind> raised, List<FaultKind> cleared)
    {
        if (s.Count == 0)
        {
            s.Level = value;
            s.Variance = 0;
            s.Count = 1;
            s.FirstTime = time;
            return 0;
        }

        // The hour-of-day profile: each bucket is the middle of its hour, interpolated between
        // neighbours so a smooth daily curve fits and a shift change ramps over one hour only.
        var hours = (time.UtcDateTime.TimeOfDay.TotalHours + 23.5) % 24;
        var hour = (int)hours;
        var next = (hour + 1) % 24;
        var fraction = hours - hour;
        var seasonal = s.Seasonal is { } profile ? ((1 - fraction) * profile[hour]) + (fraction * profile[next]) : 0;
        var residual = value - (s.Level + seasonal);
        var sigma = Math.Sqrt(Math.Max(s.Variance, MinSigma * MinSigma));
        var z = residual / sigma;
        double score = 0;

        var warm = s.Count >= o.WarmUp && s.Variance > MinSigma * MinSigma;
        var learned = warm && time - s.FirstTime >= o.LearningPeriod;
        if (learned)
        {
            // Spike: one reading far from what the model expects.
            var spike = Math.Abs(z) >= o.SpikeZ;
            score = Toggle(s, FaultKind.Spike, spike, !spike, raised, cleared) ? 1 : Math.Clamp((Math.Abs(z) - 3) / (o.SpikeZ - 3), 0, 0.99);
        }

        if (learned && learn)
        {
            // CUSUM on clipped residuals: sustained small departures add up.
            var zc = Math.Clamp(z, -4, 4);
            var wasZero = s.CusumHigh == 0 && s.CusumLow == 0;
            s.CusumHigh = Math.Max(0, s.CusumHigh + zc - o.CusumK);
            s.CusumLow = Math.Max(0, s.CusumLow - zc - o.CusumK);
            s.CusumRun = s.CusumHigh == 0 && s.CusumLow == 0 ? 0 : wasZero ? 1 : s.CusumRun + 1;
            var cusum = Math.Max(s.CusumHigh, s.CusumLow);
            var shifting = s.IsActive(FaultKind.LevelShift) || s.IsActive(FaultKind.Drift);
            if (!shifting && cusum > o.CusumH)
            {
                // A fast rise (large mean residual per reading) is a level shift, a slow one a drift.
                var perReading = (cusum / Math.Max(s.CusumRun, 1)) + o.CusumK;
                var kind = perReading >= 1.5 ? FaultKind.LevelShift : FaultKind.Drift;
                s.Set(kind, true);
                raised.Add(kind);
            }
            else if (shifting && cusum < o.CusumH / 4)
            {
                foreach (var kind in new[] { FaultKind.LevelShift, FaultKind.Drift })
                {
                    if (s.IsActive(kind))
                    {
                        s.Set(kind, false);
                        cleared.Add(kind);
                    }
                }
            }

            score = Math.Max(score, s.IsActive(FaultKind.LevelShift) || s.IsActive(FaultKind.Drift) ? 1 : Math.Clamp(cusum / o.CusumH, 0, 0.99) * 0.9);
        }

        if (!learn)
        {
            return score;
        }

        // Noise from successive differences: blind to level shifts and drifts, which must not
        // widen the idea of normal noise. Level and profile learn from clipped residuals, and hold
        // still while a departure builds up, so a drift cannot hide by being followed.
        var step = Math.Clamp(value - s.LastValue, -3 * Math.Sqrt(2) * sigma, 3 * Math.Sqrt(2) * sigma);
        var warmingUp = s.Count < o.WarmUp;
        var noiseAlpha = warmingUp ? 1.0 / s.Count : o.Alpha;
        var stepVariance = warmingUp ? (value - s.LastValue) * (value - s.LastValue) / 2 : step * step / 2;
        s.Variance = ((1 - noiseAlpha) * s.Variance) + (noiseAlpha * stepVariance);

        var clipped = warmingUp ? residual : Math.Clamp(residual, -3 * sigma, 3 * sigma);
        var interval = s.MeanInterval > 0 ? s.MeanInterval : 1;
        var levelAlpha = warmingUp ? 1.0 / (s.Count + 1) : Math.Min(0.5, interval / o.LevelTimeConstant.TotalSeconds);
        var suspicious = learned && Math.Max(s.CusumHigh, s.CusumLow) > o.CusumH / 3 && !(s.IsActive(FaultKind.LevelShift) || s.IsActive(FaultKind.Drift));
        if (!suspicious)
        {
            s.Level += levelAlpha * clipped;
            if (warm)
            {
                s.Seasonal ??= new float[24];
                var readingsPerHour = s.MeanInterval > 0 ? Math.Max(1, 3600 / s.MeanInterval) : 60;
                var share = o.SeasonalBeta / readingsPerHour * clipped;
                s.Seasonal[hour] += (float)((1 - fraction) * share);
                s.Seasonal[next] += (float)(fraction * share);
            }
        }

        s.Count++;
        return score;
    }

    private static double Flatline(SensorDetectorState s, DateTimeOffset time, double value, SensorLimit? limit, DetectorOptions o, List<FaultKind> raised, List<FaultKind> cleared)
    {
        if (s.Count <= 1 || value != s.LastValue)
        {
            if (s.Count > 1 && value != s.LastValue)
            {
                s.HasVaried = true;
            }

            s.SameCount = 0;
            s.SameSince = time;
            Toggle(s, FaultKind.Flatline, false, true, raised, cleared);
            return 0;
        }

        s.SameCount++;
        var stuck = s.HasVaried && (limit?.FlatlineAfter is { } after ? time - s.SameSince >= after : s.SameCount >= o.FlatlineReadings);
        return Toggle(s, FaultKind.Flatline, stuck, false, raised, cleared) ? 1 : 0;
    }

    /// <summary>Raises or clears one fault; returns whether it is active now.</summary>
    private static bool Toggle(SensorDetectorState s, FaultKind kind, bool on, bool off, List<FaultKind> raised, List<FaultKind> cleared)
    {
        if (!s.IsActive(kind) && on)
        {
            s.Set(kind, true);
            raised.Add(kind);
        }
        else if (s.IsActive(kind) && off)
        {
            s.Set(kind, false);
            cleared.Add(kind);
        }

        return s.IsActive(kind);
    }
}
