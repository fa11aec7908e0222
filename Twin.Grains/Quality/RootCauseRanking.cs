using System.Collections.Immutable;
using System.Globalization;
using Twin.Quality;

namespace Twin.Grains.Quality;

/// <summary>One candidate cause: a value per part (null where the part has none, e.g. it was made on another machine).</summary>
/// <param name="Kind"><c>parameter</c> for a measured value; a category (<c>machine</c>, <c>workOrder</c>, <c>material</c>) has 1 where the part had it, 0 where not.</param>
public sealed record RootCauseCandidate(string Kind, string Name, string? Machine, string? Sensor, string? Statistic, IReadOnlyList<double?> Values);

/// <summary>The separation of bad and good values of one factor. Pure maths.</summary>
public readonly record struct Separation(
    int Bad, int Good, double Auc, double AucStandardError, double PValue, double MeanBad, double MeanGood, double? Hedges, double? HedgesStandardError);

/// <summary>
/// Ranks candidate causes by how strongly they separate bad parts from good ones: the area under
/// the ROC curve (the Mann–Whitney U over n₁·n₀) with its DeLong standard error, the two-sided
/// Mann–Whitney p-value (normal approximation, ties corrected) adjusted by Holm over every factor
/// ranked, Hedges' g with its interval, and the best threshold (Youden's J). A factor needs at
/// least the minimum of bad and of good parts with a value, else it is listed as skipped. Pure.
/// </summary>
public static class RootCauseRanking
{
    private const double Z95 = 1.959963984540054;

    /// <summary>The Holm-adjusted p-value below which a factor's summary says the bad parts follow it.</summary>
    public const double ClearSeparation = 0.05;

    /// <summary>Ranks <paramref name="candidates"/> for the parts labelled in <paramref name="bad"/> (true: bad).</summary>
    public static (ImmutableArray<RootCauseFactor> Factors, ImmutableArray<RootCauseSkipped> Skipped) Rank(IReadOnlyList<bool> bad, IEnumerable<RootCauseCandidate> candidates, int minPerGroup)
    {
        var ranked = new List<(RootCauseCandidate Candidate, Separation S, double[] BadValues, double[] GoodValues)>();
        var skipped = new List<RootCauseSkipped>();
        foreach (var candidate in candidates)
        {
            var badValues = new List<double>();
            var goodValues = new List<double>();
            for (var i = 0; i < bad.Count; i++)
            {
                if (candidate.Values[i] is { } v && double.IsFinite(v))
                {
                    (bad[i] ? badValues : goodValues).Add(v);
                }
            }

            if (badValues.Count < minPerGroup || goodValues.Count < minPerGroup)
            {
                skipped.Add(new RootCauseSkipped(candidate.Name, badValues.Count, goodValues.Count, $"not enough data: needs {minPerGroup} bad and {minPerGroup} good parts with a value"));
                continue;
            }

            if (badValues.Concat(goodValues).Distinct().Count() < 2)
            {
                skipped.Add(new RootCauseSkipped(candidate.Name, badValues.Count, goodValues.Count, "no variation: every part has the same value"));
                continue;
            }

            ranked.Add((candidate, Separate(badValues, goodValues), [.. badValues], [.. goodValues]));
        }

        var adjusted = Holm([.. ranked.Select(r => r.S.PValue)]);

        var factors = Enumerable.Range(0, ranked.Count)
            .OrderByDescending(i => Math.Abs(ranked[i].S.Auc - 0.5))
            .ThenBy(i => ranked[i].S.PValue)
            .ThenBy(i => ranked[i].Candidate.Name, StringComparer.Ordinal)
            .Select(i => Factor(ranked[i].Candidate, ranked[i].S, adjusted[i], ranked[i].BadValues, ranked[i].GoodValues))
            .ToImmutableArray();
        return (factors, [.. skipped]);
    }

    /// <summary>Holm's step-down adjustment: the k-th smallest p-value times (m − k + 1), never below the one before, at most 1.</summary>
    public static double[] Holm(IReadOnlyList<double> pValues)
    {
        var adjusted = new double[pValues.Count];
        var byP = Enumerable.Range(0, pValues.Count).OrderBy(i => pValues[i]).ToList();
        var running = 0.0;
        for (var k = 0; k < byP.Count; k++)
        {
            running = Math.Max(running, Math.Min(1, (byP.Count - k) * pValues[byP[k]]));
            adjusted[byP[k]] = running;
        }

        return adjusted;
    }

    /// <summary>AUC, its DeLong standard error, the Mann–Whitney p-value, the means and Hedges' g of two samples.</summary>
    public static Separation Separate(IReadOnlyList<double> bad, IReadOnlyList<double> good)
    {
        int n1 = bad.Count, n0 = good.Count, n = n1 + n0;
        var all = bad.Concat(good).ToArray();
        var rankAll = MidRanks(all);
        var rankBad = MidRanks([.. bad]);
        var rankGood = MidRanks([.. good]);

        var r1 = 0.0;
        for (var i = 0; i < n1; i++)
        {
            r1 += rankAll[i];
        }

        var u = r1 - (n1 * (n1 + 1) / 2.0);
        var auc = u / ((double)n1 * n0);

        // DeLong: placement values of each bad part among the good ones, and of each good part among the bad.
        var v10 = new double[n1];
        for (var i = 0; i < n1; i++)
        {
            v10[i] = (rankAll[i] - rankBad[i]) / n0;
        }

        var v01 = new double[n0];
        for (var j = 0; j < n0; j++)
        {
            v01[j] = 1 - ((rankAll[n1 + j] - rankGood[j]) / n1);
        }

        var se = Math.Sqrt((Variance(v10) / n1) + (Variance(v01) / n0));

        // Mann–Whitney with the tie correction.
        var ties = all.GroupBy(x => x).Sum(g => Math.Pow(g.Count(), 3) - g.Count());
        var sigmaU = Math.Sqrt(n1 * (double)n0 / 12 * ((n + 1) - (ties / (n * (n - 1.0)))));
        var p = sigmaU > 0 ? Erfc(Math.Abs(u - (n1 * (double)n0 / 2)) / sigmaU / Math.Sqrt(2)) : 1;

        var meanBad = bad.Average();
        var meanGood = good.Average();
        var pooled = Math.Sqrt((((n1 - 1) * Variance(bad)) + ((n0 - 1) * Variance(good))) / (n - 2));
        double? g = null, gse = null;
        if (pooled > 0 && n > 3)
        {
            var correction = 1 - (3.0 / ((4 * n) - 9));
            g = correction * (meanBad - meanGood) / pooled;
            gse = Math.Sqrt((n / ((double)n1 * n0)) + (g.Value * g.Value / (2.0 * n)));
        }

        return new Separation(n1, n0, auc, se, Math.Min(1, p), meanBad, meanGood, g, gse);
    }

    /// <summary>The cut between neighbouring values with the largest TPR − FPR, bad parts on the side <paramref name="above"/> says.</summary>
    public static (double Threshold, int BadBeyond, int GoodBeyond) BestThreshold(IReadOnlyList<double> bad, IReadOnlyList<double> good, bool above)
    {
        var values = bad.Concat(good).Distinct().OrderBy(v => v).ToArray();
        var best = (Threshold: values[0], BadBeyond: 0, GoodBeyond: 0, J: double.NegativeInfinity);
        for (var k = 0; k + 1 < values.Length; k++)
        {
            var cut = (values[k] + values[k + 1]) / 2;
            var badBeyond = bad.Count(v => above ? v > cut : v < cut);
            var goodBeyond = good.Count(v => above ? v > cut : v < cut);
            var j = ((double)badBeyond / bad.Count) - ((double)goodBeyond / good.Count);
            if (j > best.J)
            {
                best = (cut, badBeyond, goodBeyond, j);
            }
        }

        return (best.Threshold, best.BadBeyond, best.GoodBeyond);
    }

    private static RootCauseFactor Factor(RootCauseCandidate c, Separation s, double adjusted, double[] badValues, double[] goodValues)
    {
        var low = Math.Clamp(s.Auc - (Z95 * s.AucStandardError), 0, 1);
        var high = Math.Clamp(s.Auc + (Z95 * s.AucStandardError), 0, 1);
        var interval = string.Create(CultureInfo.InvariantCulture, $"AUC {s.Auc:0.00} (95 % {low:0.00}–{high:0.00}), p {s.PValue:0.##E+0} (Holm {adjusted:0.##E+0}), {s.Bad} bad / {s.Good} good");
        if (c.Kind != "parameter")
        {
            var present = s.Auc >= 0.5;
            var badWith = badValues.Count(v => v == 1);
            var goodWith = goodValues.Count(v => v == 1);
            var withRate = badWith + goodWith > 0 ? (double)badWith / (badWith + goodWith) : (double?)null;
            var withoutCount = (badValues.Length - badWith) + (goodValues.Length - goodWith);
            var withoutRate = withoutCount > 0 ? (double)(badValues.Length - badWith) / withoutCount : (double?)null;
            var summary = adjusted < ClearSeparation
                ? string.Create(CultureInfo.InvariantCulture, $"bad parts {(present ? "follow" : "avoid")} {c.Name}: {Percent(withRate)} bad with it, {Percent(withoutRate)} without; {interval}")
                : string.Create(CultureInfo.InvariantCulture, $"no clear separation by {c.Name}: {Percent(withRate)} bad with it, {Percent(withoutRate)} without; {interval}");
            return new RootCauseFactor(c.Kind, c.Name, c.Machine, c.Sensor, c.Statistic, s.Bad, s.Good, null, null, s.Auc, low, high, null, null, null, s.PValue, adjusted, null, present ? "present" : "absent", withRate, withoutRate, summary);
        }

        var above = s.Auc >= 0.5;
        var (threshold, badBeyond, goodBeyond) = BestThreshold(badValues, goodValues, above);
        var beyond = badBeyond + goodBeyond;
        var within = badValues.Length + goodValues.Length - beyond;
        double? rateBeyond = beyond > 0 ? (double)badBeyond / beyond : null;
        double? rateWithin = within > 0 ? (double)(badValues.Length - badBeyond) / within : null;
        var g = s.Hedges is { } h ? string.Create(CultureInfo.InvariantCulture, $", g {h:0.00} (95 % {h - (Z95 * s.HedgesStandardError!.Value):0.00}–{h + (Z95 * s.HedgesStandardError.Value):0.00})") : "";
        // A cut can always be found; it is worth a sentence only when the separation is unlikely to be chance.
        var text = adjusted < ClearSeparation
            ? string.Create(CultureInfo.InvariantCulture, $"bad parts follow {c.Name} {(above ? ">" : "<")} {threshold:G4}: {Percent(rateBeyond)} bad beyond, {Percent(rateWithin)} within; {interval}{g}")
            : string.Create(CultureInfo.InvariantCulture, $"no clear separation by {c.Name}: {interval}{g}");
        return new RootCauseFactor(
            c.Kind, c.Name, c.Machine, c.Sensor, c.Statistic, s.Bad, s.Good, s.MeanBad, s.MeanGood, s.Auc, low, high,
            s.Hedges, s.Hedges - (Z95 * s.HedgesStandardError), s.Hedges + (Z95 * s.HedgesStandardError),
            s.PValue, adjusted, threshold, above ? "above" : "below", rateBeyond, rateWithin, text);
    }

    private static string Percent(double? rate) => rate is { } r ? string.Create(CultureInfo.InvariantCulture, $"{r * 100:0} %") : "–";

    /// <summary>Ranks 1..n with ties given the mean of the ranks they span.</summary>
    public static double[] MidRanks(double[] values)
    {
        var order = Enumerable.Range(0, values.Length).OrderBy(i => values[i]).ToArray();
        var ranks = new double[values.Length];
        for (var k = 0; k < order.Length;)
        {
            var end = k;
            while (end + 1 < order.Length && values[order[end + 1]] == values[order[k]])
            {
                end++;
            }

            var rank = ((k + 1) + (end + 1)) / 2.0;
            for (var t = k; t <= end; t++)
            {
                ranks[order[t]] = rank;
            }

            k = end + 1;
        }

        return ranks;
    }

    private static double Variance(IReadOnlyList<double> values)
    {
        if (values.Count < 2)
        {
            return 0;
        }

        var mean = values.Average();
        return values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1);
    }

    /// <summary>The complementary error function (Numerical Recipes' erfcc: fractional error below 1.2e-7).</summary>
    public static double Erfc(double x)
    {
        var z = Math.Abs(x);
        var t = 1 / (1 + (0.5 * z));
        double[] c = [-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277];
        var poly = 0.0;
        for (var i = c.Length - 1; i >= 0; i--)
        {
            poly = c[i] + (t * poly);
        }

        var r = t * Math.Exp((-z * z) + poly);
        return x >= 0 ? r : 2 - r;
    }
}
