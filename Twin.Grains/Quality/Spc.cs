using Twin.Quality;

namespace Twin.Grains.Quality;

/// <summary>
/// The control chart constants for subgroups of 2 to 10 (ASTM STP 15D; Montgomery, Introduction
/// to Statistical Quality Control, Appendix VI). Individuals use n = 2 for their moving ranges.
/// </summary>
public static class SpcConstants
{
    public const int MaxSubgroupSize = 10;

    private static readonly double[] A2Table = [double.NaN, double.NaN, 1.880, 1.023, 0.729, 0.577, 0.483, 0.419, 0.373, 0.337, 0.308];
    private static readonly double[] D3Table = [double.NaN, double.NaN, 0, 0, 0, 0, 0, 0.076, 0.136, 0.184, 0.223];
    private static readonly double[] D4Table = [double.NaN, double.NaN, 3.267, 2.574, 2.282, 2.114, 2.004, 1.924, 1.864, 1.816, 1.777];
    private static readonly double[] D2Table = [double.NaN, double.NaN, 1.128, 1.693, 2.059, 2.326, 2.534, 2.704, 2.847, 2.970, 3.078];

    public static double A2(int n) => A2Table[Check(n)];

    public static double D3(int n) => D3Table[Check(n)];

    public static double D4(int n) => D4Table[Check(n)];

    public static double SmallD2(int n) => D2Table[Check(n)];

    private static int Check(int n) => n is >= 2 and <= MaxSubgroupSize ? n : throw new ArgumentOutOfRangeException(nameof(n), n, "subgroups have 2 to 10 measurements");
}

/// <summary>
/// The eight Nelson rules over the points of a chart, oldest first, the newest last: which rules
/// fire at the newest point. Zones are multiples of <c>sigma</c> (the plotted statistic's) from the
/// centre line. Pure.
/// </summary>
/// <remarks>
/// Each rule looks at the run that ends at the newest point: rule 1 one point beyond 3σ; rule 2
/// nine in a row on one side; rule 3 six in a row strictly increasing or decreasing; rule 4
/// fourteen in a row alternating up and down; rule 5 two of three beyond 2σ on one side and
/// rule 6 four of five beyond 1σ on one side (the newest point among them); rule 7 fifteen in a
/// row within 1σ; rule 8 eight in a row beyond 1σ with points on both sides. A point exactly on
/// the centre line is on neither side; an equal neighbour breaks a trend or an alternation.
/// </remarks>
public static class NelsonRules
{
    /// <summary>Most points any rule looks back over (rule 7).</summary>
    public const int Window = 15;

    /// <summary>The rules that fire at the newest of <paramref name="values"/>: bit r−1 for rule r; 0 when sigma is not positive.</summary>
    public static int Evaluate(IReadOnlyList<double> values, double center, double sigma)
    {
        var n = values.Count;
        if (n == 0 || !(sigma > 0))
        {
            return 0;
        }

        double Z(int i) => (values[i] - center) / sigma;
        var mask = 0;
        var last = Z(n - 1);

        if (Math.Abs(last) > 3)
        {
            mask |= 1 << 0;
        }

        if (n >= 9 && (All(n - 9, n, i => Z(i) > 0) || All(n - 9, n, i => Z(i) < 0)))
        {
            mask |= 1 << 1;
        }

        if (n >= 6 && (All(n - 5, n, i => values[i] > values[i - 1]) || All(n - 5, n, i => values[i] < values[i - 1])))
        {
            mask |= 1 << 2;
        }

        if (n >= 14 && All(n - 13, n, i => values[i] != values[i - 1])
            && All(n - 12, n, i => Math.Sign(values[i] - values[i - 1]) == -Math.Sign(values[i - 1] - values[i - 2])))
        {
            mask |= 1 << 3;
        }

        if (n >= 3 && ((last > 2 && Count(n - 3, n, i => Z(i) > 2) >= 2) || (last < -2 && Count(n - 3, n, i => Z(i) < -2) >= 2)))
        {
            mask |= 1 << 4;
        }

        if (n >= 5 && ((last > 1 && Count(n - 5, n, i => Z(i) > 1) >= 4) || (last < -1 && Count(n - 5, n, i => Z(i) < -1) >= 4)))
        {
            mask |= 1 << 5;
        }

        if (n >= 15 && All(n - 15, n, i => Math.Abs(Z(i)) < 1))
        {
            mask |= 1 << 6;
        }

        if (n >= 8 && All(n - 8, n, i => Math.Abs(Z(i)) > 1) && Count(n - 8, n, i => Z(i) > 1) > 0 && Count(n - 8, n, i => Z(i) < -1) > 0)
        {
            mask |= 1 << 7;
        }

        return mask;
    }

    private static bool All(int from, int to, Func<int, bool> test)
    {
        for (var i = from; i < to; i++)
        {
            if (!test(i))
            {
                return false;
            }
        }

        return true;
    }

    private static int Count(int from, int to, Func<int, bool> test)
    {
        var count = 0;
        for (var i = from; i < to; i++)
        {
            if (test(i))
            {
                count++;
            }
        }

        return count;
    }
}

/// <summary>Cp and Cpk against specification limits. Pure.</summary>
public static class CapabilityMath
{
    /// <summary>
    /// Cp = (USL − LSL) / 6σ (both limits needed); Cpk = min(USL − μ, μ − LSL) / 3σ over the limits
    /// given. Null figures when σ is not positive or no limit is given.
    /// </summary>
    public static (double? Cp, double? Cpk) Compute(double mean, double sigma, double? lsl, double? usl)
    {
        if (!(sigma > 0) || (lsl is null && usl is null))
        {
            return (null, null);
        }

        double? cp = lsl is { } l && usl is { } u ? (u - l) / (6 * sigma) : null;
        var upper = usl is { } high ? (high - mean) / (3 * sigma) : double.PositiveInfinity;
        var lower = lsl is { } low ? (mean - low) / (3 * sigma) : double.PositiveInfinity;
        return (cp, Math.Min(upper, lower));
    }
}

/// <summary>A control chart as a twin keeps it.</summary>
[GenerateSerializer, Alias("twin.SpcState")]
public sealed class SpcState
{
    [Id(0)] public int SubgroupSize { get; set; } = 1;
    [Id(1)] public int BaselineSubgroups { get; set; } = 25;

    /// <summary>Measurements of the subgroup being filled.</summary>
    [Id(2)] public List<double> Pending { get; set; } = [];

    /// <summary>The first part of the subgroup being filled.</summary>
    [Id(3)] public string? PendingPart { get; set; }

    /// <summary>Phase-I points collected towards the baseline (while there are no limits).</summary>
    [Id(4)] public List<SpcPoint> Baseline { get; set; } = [];

    [Id(5)] public SpcLimits? Limits { get; set; }

    /// <summary>The latest points, oldest first (at most the chart's kept points).</summary>
    [Id(6)] public List<SpcPoint> Points { get; set; } = [];

    /// <summary>Points made so far (the number of the latest).</summary>
    [Id(7)] public long Number { get; set; }

    /// <summary>The previous individual, for the moving range (n = 1).</summary>
    [Id(8)] public double? LastIndividual { get; set; }

    /// <summary>Rules that fired at the latest monitored point (bit r−1 for rule r).</summary>
    [Id(9)] public int Firing { get; set; }

    [Id(10)] public SpecLimits? Spec { get; set; }
    [Id(11)] public long Readings { get; set; }
    [Id(12)] public long OutOfSpec { get; set; }

    /// <summary>Event time from which measurements count, after a re-baseline: earlier ones (late arrivals of the old process) are counted but not charted.</summary>
    [Id(13)] public DateTimeOffset? From { get; set; }

    /// <summary>Measurements left off the chart as older than <see cref="From"/>.</summary>
    [Id(14)] public long BeforeRebaseline { get; set; }
}

/// <summary>What one measurement did to a chart.</summary>
/// <param name="Point">The point it completed (null while its subgroup is still filling).</param>
/// <param name="Started">Rules that fire at this point and did not at the one before: a new signal each (bit r−1 for rule r).</param>
public readonly record struct SpcStep(SpcPoint? Point, int Started, bool Learned);

/// <summary>
/// The control chart rules: subgroups, the phase-I baseline and its limits, the Nelson rules on
/// every monitored point, capability. Pure.
/// </summary>
public static class SpcChart
{
    /// <summary>The moving range constant for individuals: d2 of n = 2.</summary>
    public const double MovingRangeD2 = 1.128;

    /// <summary>Most rounds of leaving out baseline points beyond the trial limits.</summary>
    public const int MaxExclusionRounds = 10;

    /// <summary>Adds one measurement; returns the point it completed and the rules that started firing there.</summary>
    public static SpcStep Add(SpcState state, double value, DateTimeOffset time, SpecLimits spec, string? part, DateTimeOffset now, int pointsKept)
    {
        state.Readings++;
        if (spec.IsOutside(value))
        {
            state.OutOfSpec++;
        }

        if (spec.Lsl is not null || spec.Usl is not null || spec.Nominal is not null)
        {
            state.Spec = spec;
        }

        if (state.From is { } from && time < from)
        {
            state.BeforeRebaseline++;
            return new SpcStep(null, 0, false);
        }

        if (state.Pending.Count == 0)
        {
            state.PendingPart = part;
        }

        state.Pending.Add(value);
        if (state.Pending.Count < state.SubgroupSize)
        {
            return new SpcStep(null, 0, false);
        }

        double mean;
        double? range;
        if (state.SubgroupSize == 1)
        {
            mean = value;
            range = state.LastIndividual is { } previous ? Math.Abs(value - previous) : null;
            state.LastIndividual = value;
        }
        else
        {
            mean = state.Pending.Average();
            range = state.Pending.Max() - state.Pending.Min();
        }

        var point = new SpcPoint(++state.Number, time, mean, range, state.Pending.Count, 0, state.Limits is null, state.PendingPart);
        state.Pending.Clear();
        state.PendingPart = null;
        var started = 0;
        var learned = false;
        if (state.Limits is null)
        {
            state.Baseline.Add(point);
            if (state.Baseline.Count >= state.BaselineSubgroups)
            {
                state.Limits = Learn(state.Baseline, state.SubgroupSize, now);
                state.Baseline.Clear();
                learned = true;
            }
        }
        else
        {
            var limits = state.Limits;
            var values = state.Points.Where(p => p.Number > limits.UntilPoint).TakeLast(NelsonRules.Window - 1).Select(p => p.Value).Append(mean).ToList();
            var fired = NelsonRules.Evaluate(values, limits.Center, limits.Sigma);
            point = point with { Rules = fired };
            started = fired & ~state.Firing;
            state.Firing = fired;
        }

        state.Points.Add(point);
        if (state.Points.Count > pointsKept)
        {
            state.Points.RemoveRange(0, state.Points.Count - pointsKept);
        }

        return new SpcStep(point, started, learned);
    }

    /// <summary>
    /// Learns the limits from phase-I points: trial limits from all of them, then points beyond the
    /// trial limits (of the mean, and for subgroups of the range) are left out and the limits
    /// computed again, until none is beyond (at most <see cref="MaxExclusionRounds"/> rounds, and
    /// never below half of the points).
    /// </summary>
    public static SpcLimits Learn(IReadOnlyList<SpcPoint> points, int subgroupSize, DateTimeOffset now)
    {
        if (points.Count < 2)
        {
            throw new ArgumentException("a baseline needs at least two points", nameof(points));
        }

        var included = Enumerable.Repeat(true, points.Count).ToArray();
        var limits = Compute(points, included, subgroupSize, now);
        for (var round = 0; round < MaxExclusionRounds; round++)
        {
            var beyond = new List<int>();
            for (var i = 0; i < points.Count; i++)
            {
                if (!included[i])
                {
                    continue;
                }

                var p = points[i];
                var outside = p.Value > limits.Upper || p.Value < limits.Lower
                    || (subgroupSize > 1 && p.Range is { } r && (r > limits.RangeUpper || r < limits.RangeLower));
                if (outside)
                {
                    beyond.Add(i);
                }
            }

            if (beyond.Count == 0 || included.Count(x => x) - beyond.Count < (points.Count + 1) / 2)
            {
                break;
            }

            foreach (var i in beyond)
            {
                included[i] = false;
            }

            limits = Compute(points, included, subgroupSize, now);
        }

        return limits;
    }

    private static SpcLimits Compute(IReadOnlyList<SpcPoint> points, bool[] included, int n, DateTimeOffset now)
    {
        var kept = Enumerable.Range(0, points.Count).Where(i => included[i]).ToList();
        var center = kept.Average(i => points[i].Value);
        var until = points[^1].Number;
        if (n == 1)
        {
            // Moving ranges between neighbours that are both kept.
            var ranges = kept.Where(i => i > 0 && included[i - 1] && points[i].Range is not null).Select(i => points[i].Range!.Value).ToList();
            var mrBar = ranges.Count > 0 ? ranges.Average() : 0;
            var sigma = mrBar / MovingRangeD2;
            return new SpcLimits(1, center, center + (3 * sigma), center - (3 * sigma), sigma, mrBar, SpcConstants.D4(2) * mrBar, 0, sigma, kept.Count, points.Count - kept.Count, until, now);
        }

        var rBar = kept.Average(i => points[i].Range ?? 0);
        var a2 = SpcConstants.A2(n);
        var within = rBar / SpcConstants.SmallD2(n);
        return new SpcLimits(n, center, center + (a2 * rBar), center - (a2 * rBar), a2 * rBar / 3, rBar, SpcConstants.D4(n) * rBar, SpcConstants.D3(n) * rBar, within, kept.Count, points.Count - kept.Count, until, now);
    }

    /// <summary>
    /// Capability over the latest <paramref name="window"/> points: μ their mean, σ within their
    /// subgroups (R̄/d2, or MR̄/1.128 for individuals). Null with fewer than two points (or moving ranges), or without specification limits.
    /// </summary>
    public static Capability? Capability(SpcState state, int window)
    {
        if (state.Spec is not { } spec || (spec.Lsl is null && spec.Usl is null))
        {
            return null;
        }

        var recent = state.Points.TakeLast(window).ToList();
        var ranges = recent.Select(p => p.Range).OfType<double>().ToList();
        if (recent.Count < 2 || ranges.Count < (state.SubgroupSize == 1 ? 2 : 1))
        {
            return null;
        }

        var mean = recent.Average(p => p.Value);
        var n = recent[^1].Size;
        var sigma = n == 1 ? ranges.Average() / MovingRangeD2 : ranges.Average() / SpcConstants.SmallD2(n);
        var (cp, cpk) = CapabilityMath.Compute(mean, sigma, spec.Lsl, spec.Usl);
        return new Capability(mean, sigma, recent.Count, cp, cpk);
    }

    /// <summary>
    /// Phase I again: no limits, an empty baseline, the next points learn new ones (with new settings
    /// when given). Measurements made before <paramref name="from"/> no longer enter the chart.
    /// </summary>
    public static void Rebaseline(SpcState state, SpcSettings? settings, DateTimeOffset from)
    {
        if (settings is not null)
        {
            Validate(settings);
            state.SubgroupSize = settings.SubgroupSize;
            state.BaselineSubgroups = settings.BaselineSubgroups;
        }

        state.Limits = null;
        state.From = from;
        state.Baseline.Clear();
        state.Pending.Clear();
        state.PendingPart = null;
        state.LastIndividual = null;
        state.Firing = 0;
    }

    /// <summary>Refuses settings out of range with <see cref="TwinRuleException"/> (<c>spc.settings</c>).</summary>
    public static void Validate(SpcSettings settings)
    {
        if (settings.SubgroupSize is < 1 or > SpcConstants.MaxSubgroupSize)
        {
            throw new TwinRuleException("spc.settings", $"subgroupSize must be from 1 to {SpcConstants.MaxSubgroupSize}; it is {settings.SubgroupSize}.");
        }

        if (settings.BaselineSubgroups is < 5 or > 1000)
        {
            throw new TwinRuleException("spc.settings", $"baselineSubgroups must be from 5 to 1000; it is {settings.BaselineSubgroups}.");
        }
    }
}
