using System.Collections.Immutable;
using System.Globalization;
using Microsoft.Extensions.Options;
using Twin.Effects;
using Twin.History;
using Twin.Machines;
using Twin.Grains.Quality;
using Twin.Quality;

namespace Twin.Grains.Effects;

/// <summary>Settings of action effect reports (<c>Twin:Effects</c>).</summary>
public sealed class EffectOptions : ITwinOptions
{
    public const string Section = "Twin:Effects";

    static string ITwinOptions.Section => Section;

    /// <summary>
    /// Length of each compared window: before is [t − Window, t), after is [t, t + Window) of event
    /// time. At most 12 h, since a machine's OEE buckets hold the last 24 h.
    /// </summary>
    [SettingRange(typeof(TimeSpan), "00:00:10", "12:00:00")]
    public TimeSpan Window { get; set; } = TimeSpan.FromHours(8);

    /// <summary>How often an active effects grain asks its machines whether their event time has passed an open action's window.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// A machine that falls silent would keep its action open for ever: once processing time passes
    /// t + Window + this, the report is made with the data there is ("not enough data" where none).
    /// </summary>
    [SettingRange(typeof(TimeSpan), "00:00:00", "7.00:00:00")]
    public TimeSpan MaxWait { get; set; } = TimeSpan.FromHours(1);

    /// <summary>A reading counts as anomalous from this anomaly score on (the detector raises a departure fault from 0.9).</summary>
    [SettingRange(0.01, 1.0)]
    public double AnomalyScore { get; set; } = 0.9;

    /// <summary>Actions a factory keeps (the oldest verified ones go first).</summary>
    [SettingRange(10, 100_000)]
    public int ActionsKept { get; set; } = 500;
}

[OptionsValidator]
public sealed partial class EffectOptionsValidator : IValidateOptions<EffectOptions>;

/// <summary>Parts a machine counts for one action's "after" window [From, To) of event time.</summary>
[GenerateSerializer, Alias("twin.EffectWatch")]
public sealed class EffectWatch
{
    [Id(0)] public required string Action { get; set; }
    [Id(1)] public DateTimeOffset From { get; set; }
    [Id(2)] public DateTimeOffset To { get; set; }
    [Id(3)] public long Good { get; set; }
    [Id(4)] public long Scrap { get; set; }

    /// <summary>The latest part count's event time (a counts-only machine is heard by its counts).</summary>
    [Id(5)] public DateTimeOffset? CountedUntil { get; set; }
}

/// <summary>Readings of one window for the anomaly rate: how many were usable, how many scored as anomalous.</summary>
public readonly record struct ReadingCount(long Readings, long Anomalous);

/// <summary>The pure comparison of an action's windows, and the machine's part watches. No I/O.</summary>
public static class EffectRules
{
    /// <summary>Most actions one machine watches at a time (the oldest watch gives way).</summary>
    public const int WatchesPerMachine = 16;

    public const string NotEnoughData = "not enough data";

    /// <summary>Starts a watch (idempotent by action id); the oldest goes past <see cref="WatchesPerMachine"/>.</summary>
    public static EffectWatch Watch(List<EffectWatch> watches, string action, DateTimeOffset from, DateTimeOffset to)
    {
        if (watches.Find(w => w.Action == action) is { } existing)
        {
            return existing;
        }

        var watch = new EffectWatch { Action = action, From = from, To = to };
        watches.Add(watch);
        if (watches.Count > WatchesPerMachine)
        {
            watches.RemoveAt(0);
        }

        return watch;
    }

    /// <summary>Counts parts at event time <paramref name="t"/> into every watch whose window holds it.</summary>
    public static void CountParts(List<EffectWatch>? watches, DateTimeOffset t, long good, long scrap)
    {
        if (watches is null)
        {
            return;
        }

        foreach (var w in watches)
        {
            if (w.CountedUntil is null || t > w.CountedUntil)
            {
                w.CountedUntil = t;
            }

            if (w.From <= t && t < w.To)
            {
                w.Good += good;
                w.Scrap += scrap;
            }
        }
    }

    /// <summary>Counts the usable readings (quality not bad) in [from, to) and those scoring at least <paramref name="threshold"/>.</summary>
    public static ReadingCount CountReadings(IEnumerable<HistoryRawPoint> points, DateTimeOffset from, DateTimeOffset to, double threshold)
    {
        long readings = 0, anomalous = 0;
        foreach (var p in points)
        {
            if (p.Time < from || p.Time >= to || p.Quality == ReadingQuality.Bad)
            {
                continue;
            }

            readings++;
            if (p.AnomalyScore >= threshold)
            {
                anomalous++;
            }
        }

        return new ReadingCount(readings, anomalous);
    }

    /// <summary>Scrap rate = scrap / (good + scrap), on the parts counted in each window.</summary>
    public static EffectSide ScrapSide(long good, long scrap) =>
        good + scrap > 0
            ? new EffectSide((double)scrap / (good + scrap), good + scrap, "parts", scrap)
            : new EffectSide(null, 0, "parts", 0, "no parts counted in the window");

    /// <summary>Anomaly rate = anomalous readings / usable readings.</summary>
    public static EffectSide AnomalySide(ReadingCount? count, string? unavailable) =>
        count is not { } c ? new EffectSide(null, 0, "readings", null, unavailable ?? "history not readable")
        : c.Readings > 0 ? new EffectSide((double)c.Anomalous / c.Readings, c.Readings, "readings", c.Anomalous)
        : new EffectSide(null, 0, "readings", 0, "no readings stored in the window");

    /// <summary>OEE of the window (ISO 22400, planned time excludes planned downtime); samples are the planned seconds.</summary>
    public static EffectSide OeeSide(OeeFigures f)
    {
        var planned = (long)Math.Round(f.PlannedSeconds);
        if (f.Oee is { } oee)
        {
            return new EffectSide(oee, planned, "seconds planned", f.Good + f.Scrap);
        }

        var why = f.RunSeconds + f.DownSeconds + f.IdleSeconds <= 0 ? "no run state timed in the window"
            : f.Performance is null && f.RunSeconds > 0 && f.Good + f.Scrap > 0 ? "no ideal cycle time in the machine's master data"
            : f.Good + f.Scrap == 0 ? "no parts counted in the window"
            : "no planned or run time in the window";
        return new EffectSide(null, planned, "seconds planned", f.Good + f.Scrap, why);
    }

    /// <summary>Failures = tickets opened for machine faults in the window; exposure is the run time.</summary>
    public static EffectSide FailureSide(int failures, double runSeconds) =>
        runSeconds > 0 || failures > 0
            ? new EffectSide(failures, (long)Math.Round(runSeconds), "seconds run", failures)
            : new EffectSide(null, 0, "seconds run", failures, "the machine was not timed in the window");

    /// <summary>MTBF = run time / failures, in hours; none without a failure (the run time is the lower bound).</summary>
    public static EffectSide MtbfSide(int failures, double runSeconds) =>
        failures > 0 && runSeconds > 0
            ? new EffectSide(runSeconds / 3600 / failures, (long)Math.Round(runSeconds), "seconds run", failures)
            : new EffectSide(null, (long)Math.Round(runSeconds), "seconds run", failures,
                failures == 0 ? "no failure in the window" : "no run time in the window");

    /// <summary>
    /// Cpk of the chart points with event time in [from, to): μ their mean, σ within (R̄/d2, or MR̄/1.128
    /// for individuals), as <see cref="SpcChart.Capability"/> does; samples are the points (subgroups).
    /// </summary>
    public static EffectSide CpkSide(IReadOnlyList<SpcPoint> points, SpecLimits? spec, DateTimeOffset from, DateTimeOffset to)
    {
        var inWindow = points.Where(p => p.Time >= from && p.Time < to).ToList();
        if (spec is null || (spec.Lsl is null && spec.Usl is null))
        {
            return new EffectSide(null, inWindow.Count, "subgroups", null, "no specification limits");
        }

        // The first point of a window has a range reaching back into the previous one: only ranges within count.
        var ranges = inWindow.Skip(inWindow.Count > 0 && inWindow[0].Size == 1 ? 1 : 0).Select(p => p.Range).OfType<double>().ToList();
        var n = inWindow.Count > 0 ? inWindow[^1].Size : 1;
        if (inWindow.Count < 2 || ranges.Count < 1)
        {
            return new EffectSide(null, inWindow.Count, "subgroups", null, "fewer than two subgroups in the window");
        }

        var mean = inWindow.Average(p => p.Value);
        var sigma = n == 1 ? ranges.Average() / SpcChart.MovingRangeD2 : ranges.Average() / SpcConstants.SmallD2(n);
        var (_, cpk) = CapabilityMath.Compute(mean, sigma, spec.Lsl, spec.Usl);
        return cpk is { } value && double.IsFinite(value)
            ? new EffectSide(value, inWindow.Count, "subgroups")
            : new EffectSide(null, inWindow.Count, "subgroups", null, "no spread within subgroups");
    }

    /// <summary>Puts both sides together: the change and a plain verdict (by the KPI's direction: higher or lower is better).</summary>
    public static EffectFigure Compare(string kpi, string of, EffectSide before, EffectSide? after)
    {
        if (after is null)
        {
            return new EffectFigure(kpi, of, before, null, null, "open");
        }

        if (before.Value is not { } b || after.Value is not { } a)
        {
            return new EffectFigure(kpi, of, before, after, null, NotEnoughData);
        }

        var change = a - b;
        var higherIsBetter = kpi is "oee" or "mtbfHours" or "cpk";
        var verdict = Math.Abs(change) < 1e-9 ? "unchanged" : (change > 0) == higherIsBetter ? "better" : "worse";
        return new EffectFigure(kpi, of, before, after, change, verdict);
    }

    /// <summary>True when the action's "after" window has passed: in the machine's event time, or (a silent machine) in processing time after <see cref="EffectOptions.MaxWait"/>.</summary>
    public static bool IsDue(DateTimeOffset at, TimeSpan window, DateTimeOffset? heardUntil, DateTimeOffset now, TimeSpan maxWait) =>
        (heardUntil is { } heard && heard >= at + window) || now >= at + window + maxWait;

    /// <summary>One line for the dashboard: the verdicts of the figures with data, or what is still awaited.</summary>
    public static string Summary(ActionStatus status, IReadOnlyList<EffectFigure> figures, DateTimeOffset due)
    {
        if (status == ActionStatus.Open)
        {
            return string.Create(CultureInfo.InvariantCulture, $"open: after-window ends {due:yyyy-MM-dd HH:mm:ss}Z (event time)");
        }

        var parts = figures.Where(f => f.Verdict != NotEnoughData && f.Kpi is not "failures").Select(Short).ToList();
        return parts.Count == 0 ? "verified: not enough data in either window" : "verified: " + string.Join("; ", parts);
    }

    private static string Short(EffectFigure f)
    {
        var (scale, unit) = f.Kpi is "scrapRate" or "anomalyRate" or "oee" ? (100.0, "%") : (1.0, "");
        var name = f.Kpi switch { "scrapRate" => "scrap", "anomalyRate" => "anomalies", "mtbfHours" => "MTBF h", _ => f.Kpi };
        return string.Create(CultureInfo.InvariantCulture, $"{name} {f.Before.Value * scale:0.##}{unit} → {f.After!.Value * scale:0.##}{unit} ({f.Verdict}, n={f.Before.Samples}/{f.After.Samples})");
    }

    /// <summary>The OEE figures of the "after" window with the exactly counted parts in place of the bucketed ones.</summary>
    public static OeeFigures WithParts(OeeFigures f, long good, long scrap, TimeSpan? idealCycleTime) =>
        Twin.Grains.Domain.OeeMath.Figures(f.Window, f.From, f.To, new Twin.Grains.Domain.LedgerTotals(f.RunSeconds, f.DownSeconds, f.IdleSeconds, good, scrap), f.PlannedSeconds, idealCycleTime);

    public static ImmutableArray<EffectFigure> Open(IEnumerable<EffectFigure> before) => [.. before.Select(f => f with { After = null, Change = null, Verdict = "open" })];
}
