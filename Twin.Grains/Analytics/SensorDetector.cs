using Twin.Machines;

namespace Twin.Grains.Analytics;

/// <summary>Settings of the adaptive detector, shared by all sensors (<c>Twin:Machine:Analytics</c>).</summary>
public sealed class DetectorOptions
{
    /// <summary>Readings learned before the adaptive detector scores or alarms (limits, rate, flatline and missing signal work from the first).</summary>
    [SettingRange(0, 1_000_000)]
    public int WarmUp { get; set; } = 30;

    /// <summary>
    /// Memory of the learned normal in readings: level and scales follow the signal with this
    /// time constant while it behaves (outliers only clipped), so slow wander is normal and a
    /// fault that builds up faster than this stands out.
    /// </summary>
    [SettingRange(2, 10_000_000)]
    public int BaselineReadings { get; set; } = 1000;

    /// <summary>Readings in the short-term mean whose departure from the learned level catches small sustained shifts and drifts.</summary>
    [SettingRange(1, 1_000_000)]
    public int FastReadings { get; set; } = 10;

    /// <summary>Departure (robust standard deviations) below which the score is 0.</summary>
    [SettingRange(0.0, 1000.0)]
    public double ScoreLowZ { get; set; } = 3;

    /// <summary>Departure (robust standard deviations) from which the score is 1; halfway between the two it is 0.5.</summary>
    [SettingRange(0.0, 1000.0)]
    public double ScoreHighZ { get; set; } = 6;

    /// <summary>A departure fault (level shift or drift) is raised after this many readings in a row score at least <see cref="RaiseScore"/>.</summary>
    [SettingRange(1, 1_000_000)]
    public int ConfirmReadings { get; set; } = 3;

    /// <summary>Score at which readings count towards raising a departure fault.</summary>
    [SettingRange(0.0, 1.0)]
    public double RaiseScore { get; set; } = 0.9;

    /// <summary>A departure fault clears after this many readings in a row score below <see cref="ClearScore"/>.</summary>
    [SettingRange(1, 1_000_000)]
    public int ClearReadings { get; set; } = 5;

    /// <summary>Score below which readings count towards clearing a departure fault.</summary>
    [SettingRange(0.0, 1.0)]
    public double ClearScore { get; set; } = 0.3;

    /// <summary>
    /// The bound on an alarm: a departure that is still abnormal after this many readings (fault
    /// active, or score above 0.5 without one) is learned as the new normal and its fault clears.
    /// While a fault is active the model already moves towards the new behaviour, a quarter of
    /// this as time constant, so the score decays before the bound in most cases.
    /// </summary>
    [SettingRange(1, 10_000_000)]
    public int RelearnReadings { get; set; } = 60;

    /// <summary>A single reading this many robust standard deviations away that is followed by a normal one is a spike.</summary>
    [SettingRange(0.0, 1000.0)]
    public double SpikeZ { get; set; } = 8;

    /// <summary>
    /// The hour-of-day profile (daily and shift patterns) is learned from the first warm reading
    /// and used in the expected value once it has seen this much event time.
    /// </summary>
    [SettingRange(typeof(TimeSpan), "00:00:00", "36500.00:00:00")]
    public TimeSpan SeasonalAfter { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// How much one day of readings moves the learned hour-of-day profile (spread over that
    /// hour's readings): 2 learns 86% of a daily pattern in one day.
    /// </summary>
    [SettingRange(0.0, 1000.0)]
    public double SeasonalBeta { get; set; } = 2.0;

    /// <summary>Identical readings in a row that make a varying sensor "stuck" when no FlatlineAfter is set.</summary>
    [SettingRange(1, 10_000_000)]
    public int FlatlineReadings { get; set; } = 120;

    /// <summary>
    /// How often a sensor's value must have changed from one reading to the next (before the run
    /// of identical values) for the run to count as stuck: a status channel that is mostly constant
    /// is never "stuck".
    /// </summary>
    [SettingRange(0.0, 1.0)]
    public double FlatlineMinChangeRate { get; set; } = 0.5;

    /// <summary>
    /// Identical readings after a flatline was raised before the constant value is taken as the
    /// new normal and the fault clears (the sensor must vary again before another one).
    /// </summary>
    [SettingRange(1, 10_000_000)]
    public int FlatlineRelearnReadings { get; set; } = 240;

    /// <summary>Missing signal after this many expected intervals without a reading while the machine's other readings go on (event time).</summary>
    [SettingRange(0.0, 1_000_000.0)]
    public double MissingIntervals { get; set; } = 5;
}

/// <summary>What the detectors make of one reading.</summary>
/// <param name="Score">Anomaly score in [0, 1]: how far this reading departs from what was normal (0 normal, 1 certainly abnormal).</param>
/// <param name="Raised">Faults that became active with this reading.</param>
/// <param name="Cleared">Faults that ended with this reading.</param>
/// <param name="Departure">The reading's departure from the expected value in robust standard deviations (signed, after tail calibration).</param>
public readonly record struct Detection(double Score, IReadOnlyList<FaultKind> Raised, IReadOnlyList<FaultKind> Cleared, double Departure = 0);

/// <summary>The learned model and alarm state of one sensor. Persisted with the machine twin.</summary>
/// <remarks>
/// Every sensor of every active twin holds one, so the instants are kept as UTC ticks (8 bytes)
/// rather than <see cref="DateTimeOffset"/> (16): the detector only compares and subtracts them,
/// which the offset does not change. They are still persisted as <see cref="DateTimeOffset"/>.
/// Ids 2 and 4–6 held the model before the robust detector (successive-difference variance,
/// CUSUM); they are still read: <see cref="Variance"/> seeds <see cref="Scale"/> once (and takes
/// no field of its own), the CUSUM is dropped.
/// </remarks>
[GenerateSerializer, Alias("twin.SensorDetectorState")]
public sealed class SensorDetectorState
{
    private const long NoTime = -1;

    [NonSerialized] private long _lastTime;
    [NonSerialized] private long _breachSince = NoTime;
    [NonSerialized] private long _sameSince;
    [NonSerialized] private long _firstTime;
    [NonSerialized] private long _faultSince = NoTime;

    // The active faults' bits and two flags in one word, and the earlier model's variance in the
    // sign of the scale (below): every sensor of every active twin holds one of these.
    [NonSerialized] private int _flags;
    [NonSerialized] private double _scale;

    private const int FaultBits = (1 << 29) - 1;
    private const int CounterFlag = 1 << 29;
    private const int HasVariedFlag = 1 << 30;

    [Id(0)] public long Count { get; set; }
    [Id(1)] public double Level { get; set; }

    /// <summary>The earlier model's noise variance (successive differences): read to seed <see cref="Scale"/>, then 0.</summary>
    /// <remarks>Held as a negative <see cref="Scale"/> until then: a scale is never negative.</remarks>
    [Id(2)]
    public double Variance
    {
        get => _scale < 0 ? -_scale : 0;
        set
        {
            if (value > 0)
            {
                _scale = _scale <= 0 ? -value : _scale;
            }
            else if (_scale < 0)
            {
                _scale = 0;
            }
        }
    }

    [Id(3)] public float[]? Seasonal { get; set; }

    /// <summary>The earlier model's CUSUM: no longer used, so read and dropped (always 0).</summary>
    [Id(4)]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "A member of the persisted layout, read by the serializer.")]
    public double CusumHigh
    {
        get => 0;
        set { }
    }

    /// <summary>The earlier model's CUSUM: no longer used, so read and dropped (always 0).</summary>
    [Id(5)]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "A member of the persisted layout, read by the serializer.")]
    public double CusumLow
    {
        get => 0;
        set { }
    }

    /// <summary>The earlier model's CUSUM: no longer used, so read and dropped (always 0).</summary>
    [Id(6)]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "A member of the persisted layout, read by the serializer.")]
    public int CusumRun
    {
        get => 0;
        set { }
    }
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

    [Id(10)]
    public int Active
    {
        get => _flags & FaultBits;
        set => _flags = (_flags & ~FaultBits) | (value & FaultBits);
    }
    [Id(11)] public int SameCount { get; set; }

    [Id(12)]
    public DateTimeOffset SameSince
    {
        get => FromTicks(_sameSince);
        set => _sameSince = value.UtcTicks;
    }

    [Id(13)] public double MeanInterval { get; set; }
    [Id(14)]
    public bool HasVaried
    {
        get => (_flags & HasVariedFlag) != 0;
        set => _flags = value ? _flags | HasVariedFlag : _flags & ~HasVariedFlag;
    }

    [Id(15)]
    public DateTimeOffset FirstTime
    {
        get => FromTicks(_firstTime);
        set => _firstTime = value.UtcTicks;
    }

    /// <summary>Robust scale of a reading's residual (mean absolute residual × √(π/2), outliers clipped).</summary>
    [Id(16)]
    public double Scale
    {
        get => _scale > 0 ? _scale : 0;
        set => _scale = value == 0 && _scale < 0 ? _scale : value;
    }

    /// <summary>Short-term (exponential) mean of the residuals.</summary>
    [Id(17)] public double Fast { get; set; }

    /// <summary>Robust scale of the short-term mean while the signal behaves (learned, so autocorrelation is accounted for).</summary>
    [Id(18)] public double FastScale { get; set; }

    /// <summary>Smallest non-zero change seen: a quantised sensor's resolution, the floor of its scale.</summary>
    [Id(19)] public double Quantum { get; set; }

    /// <summary>Learned 99th percentile of the point departure (heavy tails raise it and so calibrate the score).</summary>
    [Id(20)] public double TailPoint { get; set; }

    /// <summary>Learned 99th percentile of the short-term departure.</summary>
    [Id(21)] public double TailFast { get; set; }

    /// <summary>Readings in a row scoring at least <see cref="DetectorOptions.RaiseScore"/> (raising) or below <see cref="DetectorOptions.ClearScore"/> (clearing).</summary>
    [Id(22)] public int Run { get; set; }

    /// <summary>Readings the current abnormal stretch has lasted (score ≥ 0.5 or departure fault active): bounded by <see cref="DetectorOptions.RelearnReadings"/>.</summary>
    [Id(23)] public int Abnormal { get; set; }

    /// <summary>Point departure of the previous reading (signed robust standard deviations), for deciding a spike on the next one.</summary>
    [Id(24)] public double LastDeparture { get; set; }

    /// <summary>Counter detection during warm-up: non-decreasing steps, increasing steps; -1 once decided it is not a counter, -2 once it is.</summary>
    [Id(25)] public int Rising { get; set; }

    /// <summary>True when the sensor is a counter (never decreased, mostly increased during warm-up): its rate per second is analysed, not its value.</summary>
    [Id(26)]
    public bool Counter
    {
        get => (_flags & CounterFlag) != 0;
        set => _flags = value ? _flags | CounterFlag : _flags & ~CounterFlag;
    }

    /// <summary>Event time the active departure fault was raised.</summary>
    [Id(27)]
    public DateTimeOffset? FaultSince
    {
        get => _faultSince == NoTime ? null : FromTicks(_faultSince);
        set => _faultSince = value is { } t ? t.UtcTicks : NoTime;
    }

    /// <summary>The highest score of the active departure fault.</summary>
    [Id(28)] public double FaultPeak { get; set; }

    /// <summary>How often the value changes from one reading to the next (moving average over about 100 readings).</summary>
    [Id(29)] public float ChangeRate { get; set; }

    /// <summary><see cref="ChangeRate"/> when the current run of identical values began: a stuck sensor is one that used to change.</summary>
    [Id(30)] public float RunStartChangeRate { get; set; }

    /// <summary>Identical readings since the active flatline was raised.</summary>
    [Id(31)] public int FlatlineFor { get; set; }

    public bool IsActive(FaultKind kind) => (Active & (1 << (int)kind)) != 0;

    public void Set(FaultKind kind, bool on) => Active = on ? Active | (1 << (int)kind) : Active & ~(1 << (int)kind);

    internal bool Departed => (Active & DepartureMask) != 0;

    internal const int DepartureMask = (1 << (int)FaultKind.LevelShift) | (1 << (int)FaultKind.Drift);

    private static DateTimeOffset FromTicks(long utcTicks) => new(utcTicks, TimeSpan.Zero);
}

/// <summary>
/// Streaming anomaly detection for one sensor, on event time, in constant memory and without
/// look-ahead:
/// <list type="bullet">
/// <item>static limits from master data, with hysteresis and a minimum duration;</item>
/// <item>a robust adaptive model — level with clipped updates, a robust scale (mean absolute
/// residual, floored by the sensor's resolution), a short-term mean, learned tail percentiles and,
/// once a day is seen, an hour-of-day profile — whose departure gives the score;</item>
/// <item>departure faults (level shift, drift) with their own raise and clear rules, bounded by
/// re-learning; spikes; rate of change, stuck sensor (flatline) and missing signal.</item>
/// </list>
/// </summary>
public static class SensorDetector
{
    private const double MinScale = 1e-9;

    // Mean absolute deviation × √(π/2) is the standard deviation of a normal distribution.
    private const double MadToSigma = 1.2533141373155;

    // The 99th percentile of |z| for a normal distribution: tails at or below it change nothing.
    private const double NormalTail = 2.5758;

    private static readonly FaultKind[] NoFaults = [];

    public static Detection Observe(SensorDetectorState s, DateTimeOffset time, double value, SensorLimit? limit, DetectorOptions o)
    {
        List<FaultKind>? raised = null;
        List<FaultKind>? cleared = null;
        double score = 0;

        // An older reading (out of order) is scored against the model but does not teach it.
        var inOrder = s.Count == 0 || time >= s.LastTime;

        if (limit is not null)
        {
            score = Math.Max(score, Limits(s, time, value, limit, ref raised, ref cleared));
            if (inOrder && s.Count > 0 && limit.MaxRatePerSecond is { } maxRate)
            {
                var seconds = (time - s.LastTime).TotalSeconds;
                var rate = seconds > 0 ? Math.Abs(value - s.LastValue) / seconds : 0;
                score = Math.Max(score, Toggle(s, FaultKind.RateOfChange, rate > maxRate, rate <= maxRate, ref raised, ref cleared) ? 1 : Math.Clamp(rate / maxRate - 0.5, 0, 0.99));
            }
        }

        // A value beyond a configured limit is that limit's to report: the adaptive model still
        // scores and re-learns it, but raises no level shift or drift of its own (one problem, one ticket).
        var ownedByLimit = limit is not null
            && ((limit.High is { } high && value > high) || (limit.Low is { } low && value < low)
                || s.IsActive(FaultKind.LimitHigh) || s.IsActive(FaultKind.LimitLow));
        var (adaptive, departure) = Adaptive(s, time, value, o, inOrder, ownedByLimit, ref raised, ref cleared);
        score = Math.Max(score, adaptive);

        if (inOrder)
        {
            score = Math.Max(score, Flatline(s, time, value, limit, o, ref raised, ref cleared));
            if (s.Count > 1)
            {
                var interval = (time - s.LastTime).TotalSeconds;
                s.MeanInterval = s.MeanInterval == 0 ? interval : s.MeanInterval + (0.05 * (interval - s.MeanInterval));
            }

            if (s.IsActive(FaultKind.MissingSignal))
            {
                s.Set(FaultKind.MissingSignal, false);
                (cleared ??= new(1)).Add(FaultKind.MissingSignal);
            }

            s.LastValue = value;
            s.LastTime = time;
        }

        return new Detection(Math.Clamp(score, 0, 1), (IReadOnlyList<FaultKind>?)raised ?? NoFaults, (IReadOnlyList<FaultKind>?)cleared ?? NoFaults, departure);
    }

    /// <summary>
    /// Checked by the twin's timer against the machine's own event-time progress
    /// (<paramref name="eventTime"/>: the newest event time of any of its readings): true when this
    /// sensor's signal just went missing. A replay that stops is not a missing signal: its event
    /// time stops with it.
    /// </summary>
    public static bool CheckMissing(SensorDetectorState s, DateTimeOffset eventTime, SensorLimit? limit, DetectorOptions o)
    {
        if (s.Count < 3 || s.IsActive(FaultKind.MissingSignal))
        {
            return false;
        }

        var interval = limit?.ExpectedInterval?.TotalSeconds ?? s.MeanInterval;
        if (interval <= 0 || (eventTime - s.LastTime).TotalSeconds <= Math.Max(o.MissingIntervals * interval, 5))
        {
            return false;
        }

        s.Set(FaultKind.MissingSignal, true);
        return true;
    }

    /// <summary>Why a fault of this sensor is (still) active, for the ticket's evidence.</summary>
    public static string Explain(SensorDetectorState s, FaultKind kind, DetectorOptions o) => kind switch
    {
        FaultKind.LevelShift or FaultKind.Drift => string.Create(
            System.Globalization.CultureInfo.InvariantCulture,
            $"{kind}: {s.LastDeparture:+0.0;-0.0} robust SD from the learned level {s.Level:G6} (scale {s.Scale:G3}); abnormal for {s.Abnormal} readings since {s.FaultSince:O}, peak score {s.FaultPeak:0.00}; clears after {o.ClearReadings} readings below score {o.ClearScore}, or re-learns the new behaviour as normal after {o.RelearnReadings} readings ({Math.Max(0, o.RelearnReadings - s.Abnormal)} to go)"),
        FaultKind.Spike => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"Spike: one reading {s.LastDeparture:+0.0;-0.0} robust SD from the learned level {s.Level:G6}, the next one normal again"),
        FaultKind.Flatline => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"Flatline: the same value {s.LastValue:G6} {s.SameCount} times in a row since {s.SameSince:O}; clears with the next different value, or takes the constant as normal after {o.FlatlineRelearnReadings} more readings"),
        FaultKind.MissingSignal => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"MissingSignal: no reading since {s.LastTime:O} while the machine's other readings went on; clears with the next reading"),
        FaultKind.LimitHigh or FaultKind.LimitLow => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{kind}: {s.LastValue:G6} beyond the limit; clears once back inside by the hysteresis"),
        FaultKind.RateOfChange => "RateOfChange: changing faster than the maximum rate; clears once the rate is back within it",
        _ => kind.ToString(),
    };

    private static double Limits(SensorDetectorState s, DateTimeOffset time, double value, SensorLimit limit, ref List<FaultKind>? raised, ref List<FaultKind>? cleared)
    {
        var score = Limit(s, FaultKind.LimitHigh, time, limit, limit.High is { } h && value > h, limit.High is not { } h2 || value < h2 - limit.Hysteresis, ref raised, ref cleared);
        score = Math.Max(score, Limit(s, FaultKind.LimitLow, time, limit, limit.Low is { } l && value < l, limit.Low is not { } l2 || value > l2 + limit.Hysteresis, ref raised, ref cleared));
        if (!(limit.High is { } hi && value > hi) && !(limit.Low is { } lo && value < lo))
        {
            s.BreachSince = null;
        }

        return score;
    }

    private static double Limit(SensorDetectorState s, FaultKind kind, DateTimeOffset time, SensorLimit limit, bool breached, bool back, ref List<FaultKind>? raised, ref List<FaultKind>? cleared)
    {
        if (s.IsActive(kind))
        {
            if (back)
            {
                s.Set(kind, false);
                (cleared ??= new(2)).Add(kind);
                return 0;
            }

            return 1;
        }

        if (!breached)
        {
            return 0;
        }

        s.BreachSince ??= time;
        var held = time - s.BreachSince.Value;
        if (held >= limit.MinDuration)
        {
            s.Set(kind, true);
            (raised ??= new(2)).Add(kind);
            s.BreachSince = null;
            return 1;
        }

        return 0.5 + (0.49 * held.TotalSeconds / Math.Max(limit.MinDuration.TotalSeconds, 1e-9));
    }

    /// <summary>Maps a departure in robust standard deviations to a score: 0 below <c>ScoreLowZ</c>, 1 from <c>ScoreHighZ</c>, smooth between.</summary>
    public static double ScoreOf(double z, DetectorOptions o)
    {
        var t = Math.Clamp((Math.Abs(z) - o.ScoreLowZ) / Math.Max(o.ScoreHighZ - o.ScoreLowZ, 1e-9), 0, 1);
        return t * t * (3 - (2 * t));
    }

    private static (double Score, double Departure) Adaptive(SensorDetectorState s, DateTimeOffset time, double raw, DetectorOptions o, bool learn, bool ownedByLimit, ref List<FaultKind>? raised, ref List<FaultKind>? cleared)
    {
        if (s.Count == 0)
        {
            s.Level = raw;
            s.Count = 1;
            s.FirstTime = time;
            return (0, 0);
        }

        if (s.Scale == 0 && s.Variance > 0)
        {
            // State saved by the earlier model: its noise estimate is a fair first scale.
            s.Scale = Math.Sqrt(s.Variance);
            s.Variance = 0;
        }

        var step = raw - s.LastValue;
        if (learn && step != 0 && (s.Quantum == 0 || Math.Abs(step) < s.Quantum))
        {
            s.Quantum = Math.Abs(step);
        }

        // A counter is judged by its rate; a reset (a decrease) is only noted.
        var value = raw;
        if (s.Counter)
        {
            var seconds = (time - s.LastTime).TotalSeconds;
            if (!learn || step < 0 || seconds <= 0)
            {
                return (0, 0);
            }

            value = step / seconds;
        }

        // The hour-of-day profile: each bucket is the middle of its hour, interpolated between
        // neighbours so a smooth daily curve fits and a shift change ramps over one hour only.
        var hours = (time.UtcDateTime.TimeOfDay.TotalHours + 23.5) % 24;
        var hour = (int)hours;
        var next = (hour + 1) % 24;
        var fraction = hours - hour;
        var seasonalReady = s.Seasonal is not null && time - s.FirstTime >= o.SeasonalAfter;
        var seasonal = seasonalReady ? ((1 - fraction) * s.Seasonal![hour]) + (fraction * s.Seasonal[next]) : 0;
        var residual = value - (s.Level + seasonal);

        if (s.Counter && s.Count == 1)
        {
            s.Level = value;
            s.Count = 2;
            return (0, 0);
        }

        var warm = s.Count >= o.WarmUp;
        var scale = Math.Max(Math.Max(s.Scale, s.Quantum), MinScale * Math.Max(1, Math.Abs(s.Level)));
        var fastAlpha = 1.0 / Math.Max(1, o.FastReadings);
        // A single glitch must not read as a level shift: what one reading adds to the short-term
        // mean is clipped at the spike threshold (a real step shows in the point departure anyway).
        var bounded = Math.Clamp(residual, -o.SpikeZ * scale, o.SpikeZ * scale);
        var fast = s.Fast + (fastAlpha * (bounded - s.Fast));

        // The short-term mean of pure noise has sd √(α/(2−α)) of the reading's: its learned scale is never below that.
        var fastFloor = scale * Math.Sqrt(fastAlpha / (2 - fastAlpha));
        var fastScale = Math.Max(s.FastScale, fastFloor);
        var zPoint = residual / scale;
        var zFast = fast / fastScale;

        // Learned tails: a heavy-tailed signal's departures are scaled down to what a normal one's would be.
        var zp = zPoint * NormalTail / Math.Clamp(s.TailPoint, NormalTail, 4 * NormalTail);
        var zf = zFast * NormalTail / Math.Clamp(s.TailFast, NormalTail, 4 * NormalTail);
        var departure = Math.Abs(zp) >= Math.Abs(zf) ? zp : zf;
        var score = warm ? ScoreOf(departure, o) : 0;

        if (!learn)
        {
            return warm ? (score, departure) : (0, 0);
        }

        if (!warm)
        {
            WarmUp(s, value, raw, residual, fast, o);
            return (0, 0);
        }

        var departed = s.Departed;
        var abnormal = departed || score >= 0.5;
        s.Abnormal = abnormal ? s.Abnormal + 1 : 0;

        // A spike: the previous reading was far off and this one is back.
        if (!departed && Math.Abs(s.LastDeparture) >= o.SpikeZ && Math.Abs(zp) < o.ScoreLowZ)
        {
            (raised ??= new(2)).Add(FaultKind.Spike);
            (cleared ??= new(2)).Add(FaultKind.Spike);
        }

        if (!departed)
        {
            s.Run = score >= o.RaiseScore && !ownedByLimit ? s.Run + 1 : 0;
            if (s.Run >= o.ConfirmReadings)
            {
                // Fast to abnormal is a level shift; a slow build-up is a drift.
                var kind = s.Abnormal <= o.ConfirmReadings + 2 ? FaultKind.LevelShift : FaultKind.Drift;
                s.Set(kind, true);
                (raised ??= new(2)).Add(kind);
                s.FaultSince = time;
                s.FaultPeak = score;
                s.Run = 0;
                departed = true;
            }
        }
        else
        {
            s.FaultPeak = Math.Max(s.FaultPeak, score);
            s.Run = score < o.ClearScore ? s.Run + 1 : 0;
            if (s.Run >= o.ClearReadings)
            {
                ClearDeparture(s, ref cleared);
                departed = false;
            }
        }

        if (s.Abnormal >= o.RelearnReadings && !departed && !ownedByLimit)
        {
            // Abnormal all along without ever scoring high enough to confirm: a drift. Its fault
            // opens now and is bounded like any other from here.
            s.Set(FaultKind.Drift, true);
            (raised ??= new(2)).Add(FaultKind.Drift);
            s.FaultSince = time;
            s.FaultPeak = score;
            s.Abnormal = 0;
            s.Run = 0;
            departed = true;
        }
        else if (s.Abnormal >= o.RelearnReadings)
        {
            // The bound: what has stayed abnormal this long is the new normal.
            s.Level += fast;
            residual -= fast;
            fast = 0;
            s.Scale = Math.Max(s.Scale, Math.Abs(residual) * MadToSigma);
            s.Abnormal = 0;
            s.Run = 0;
            if (departed)
            {
                ClearDeparture(s, ref cleared);
                departed = false;
            }

            zp = 0;
        }

        s.LastDeparture = zp;
        s.Fast = fast;
        var baseAlpha = 1.0 / Math.Max(2, o.BaselineReadings);
        if (departed)
        {
            // While the fault is open the model moves to the new behaviour, so the score decays
            // as it becomes normal; scales and tails hold still so the fault does not teach them.
            s.Level += residual * 4.0 / Math.Max(4, o.RelearnReadings);
        }
        else
        {
            var clip = 3 * scale;
            var clipped = Math.Clamp(residual, -clip, clip);
            s.Level += baseAlpha * clipped;
            if (score < 0.5)
            {
                // Scales learn from normal readings only, so a departure never widens them.
                s.Scale += baseAlpha * ((Math.Min(Math.Abs(residual), 4 * scale) * MadToSigma) - s.Scale);
                s.FastScale += baseAlpha * ((Math.Min(Math.Abs(fast), 4 * fastScale) * MadToSigma) - s.FastScale);
            }

            if (s.Abnormal < o.ConfirmReadings)
            {
                // Tails learn from isolated outliers too (that is what heavy tails are), but not
                // from a sustained departure, which must not calibrate itself away.
                // Stochastic-approximation percentiles: up by 0.99 of a step (0.03) when exceeded, down by 0.01 of it otherwise.
                s.TailPoint += Math.Abs(zPoint) > s.TailPoint ? 0.0297 : -0.0003;
                s.TailFast += Math.Abs(zFast) > s.TailFast ? 0.0297 : -0.0003;
                s.TailPoint = Math.Clamp(s.TailPoint, NormalTail, 4 * NormalTail);
                s.TailFast = Math.Clamp(s.TailFast, NormalTail, 4 * NormalTail);
            }

            s.Seasonal ??= new float[24];
            var readingsPerHour = s.MeanInterval > 0 ? Math.Max(1, 3600 / s.MeanInterval) : 60;
            var share = o.SeasonalBeta / readingsPerHour * clipped;
            s.Seasonal[hour] += (float)((1 - fraction) * share);
            s.Seasonal[next] += (float)(fraction * share);
        }

        s.Count++;
        return (score, departure);
    }

    /// <summary>Warm-up: plain running mean and mean absolute deviation; decides whether the sensor is a counter.</summary>
    private static void WarmUp(SensorDetectorState s, double value, double raw, double residual, double fast, DetectorOptions o)
    {
        var n = s.Count;
        s.Level += residual / (n + 1);
        s.Scale += ((Math.Abs(residual) * MadToSigma) - s.Scale) / n;
        s.Fast = fast;
        s.FastScale += ((Math.Abs(fast) * MadToSigma) - s.FastScale) / n;
        s.TailPoint = NormalTail;
        s.TailFast = NormalTail;
        s.LastDeparture = 0;
        s.Count++;

        if (s.Rising >= 0 && !s.Counter)
        {
            var step = raw - s.LastValue;
            s.Rising = step < 0 ? -1 : s.Rising + (step > 0 ? 1 : 0);
            if (s.Rising >= 0 && s.Count >= o.WarmUp)
            {
                // Never decreased and rose most of the time: a counter. Learn its rate from here.
                if (s.Rising >= 0.8 * (s.Count - 1))
                {
                    s.Counter = true;
                    s.Count = 1;
                    s.Level = 0;
                    s.Scale = 0;
                    s.Fast = 0;
                    s.FastScale = 0;
                    s.Seasonal = null;
                }

                s.Rising = -1;
            }
        }
    }

    private static void ClearDeparture(SensorDetectorState s, ref List<FaultKind>? cleared)
    {
        foreach (var kind in (ReadOnlySpan<FaultKind>)[FaultKind.LevelShift, FaultKind.Drift])
        {
            if (s.IsActive(kind))
            {
                s.Set(kind, false);
                (cleared ??= new(2)).Add(kind);
            }
        }

        s.FaultSince = null;
        s.Run = 0;
    }

    private static double Flatline(SensorDetectorState s, DateTimeOffset time, double value, SensorLimit? limit, DetectorOptions o, ref List<FaultKind>? raised, ref List<FaultKind>? cleared)
    {
        const float ChangeAlpha = 0.01f;
        if (s.Count <= 1 || value != s.LastValue)
        {
            if (s.Count > 1 && value != s.LastValue)
            {
                s.HasVaried = true;
                s.ChangeRate += ChangeAlpha * (1 - s.ChangeRate);
            }

            s.SameCount = 0;
            s.SameSince = time;
            Toggle(s, FaultKind.Flatline, false, true, ref raised, ref cleared);
            return 0;
        }

        if (s.SameCount == 0)
        {
            s.RunStartChangeRate = s.ChangeRate;
        }

        s.SameCount++;
        s.ChangeRate -= ChangeAlpha * s.ChangeRate;
        var threshold = limit?.FlatlineAfter is null ? o.FlatlineReadings : (int?)null;
        var stuck = s.HasVaried
            && (limit?.FlatlineAfter is { } after ? time - s.SameSince >= after : s.SameCount >= o.FlatlineReadings)
            && (limit?.FlatlineAfter is not null || s.RunStartChangeRate >= o.FlatlineMinChangeRate);
        if (s.IsActive(FaultKind.Flatline))
        {
            s.FlatlineFor++;
            if (s.FlatlineFor >= o.FlatlineRelearnReadings)
            {
                // Bounded: the constant value is the new normal; the sensor must vary again first.
                Toggle(s, FaultKind.Flatline, false, true, ref raised, ref cleared);
                s.HasVaried = false;
                s.FlatlineFor = 0;
                return 0;
            }

            // Not a departure of the value: the score marks the moment it froze and decays.
            return Math.Max(0, 0.9 * (1 - ((double)s.FlatlineFor / Math.Max(1, Math.Min(o.FlatlineRelearnReadings, threshold ?? o.FlatlineRelearnReadings)))));
        }

        if (Toggle(s, FaultKind.Flatline, stuck, false, ref raised, ref cleared))
        {
            s.FlatlineFor = 0;
            return 0.9;
        }

        return 0;
    }

    /// <summary>Raises or clears one fault; returns whether it is active now.</summary>
    private static bool Toggle(SensorDetectorState s, FaultKind kind, bool on, bool off, ref List<FaultKind>? raised, ref List<FaultKind>? cleared)
    {
        if (!s.IsActive(kind) && on)
        {
            s.Set(kind, true);
            (raised ??= new(2)).Add(kind);
        }
        else if (s.IsActive(kind) && off)
        {
            s.Set(kind, false);
            (cleared ??= new(2)).Add(kind);
        }

        return s.IsActive(kind);
    }
}
