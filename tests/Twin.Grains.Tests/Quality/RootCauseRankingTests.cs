using Twin.Grains.Quality;
using Twin.History;
using Twin.Machines;

namespace Twin.Grains.Tests.Quality;

/// <summary>The separation statistics against hand calculations, and the ranking's rules.</summary>
public class RootCauseRankingTests
{
    [Fact]
    public void Auc_delong_error_mann_whitney_p_and_hedges_g_match_a_hand_calculation()
    {
        // Bad 3 4 5, good 1 2 3. Pairs bad > good: 2.5 + 3 + 3 = 8.5 of 9 → AUC 17/18.
        // DeLong placements: bad 5/6 1 1, good 1 1 5/6 → variances 1/108 each → SE² = 2/108/3 = 1/162.
        // Mann–Whitney: U 8.5, mean 4.5, σ² = 9/12 · (7 − 6/30) = 5.1 → z 1.7712, p 0.07652.
        // Hedges: means 4 and 2, pooled SD 1, d 2, J = 1 − 3/15 = 0.8 → g 1.6, SE √(6/9 + 1.6²/12) = √0.88.
        var s = RootCauseRanking.Separate([3, 4, 5], [1, 2, 3]);
        Assert.Equal(17.0 / 18, s.Auc, 12);
        Assert.Equal(1 / Math.Sqrt(162), s.AucStandardError, 12);
        Assert.Equal(0.0765225, s.PValue, 5);
        Assert.Equal((4.0, 2.0), (s.MeanBad, s.MeanGood));
        Assert.Equal(1.6, s.Hedges!.Value, 12);
        Assert.Equal(Math.Sqrt(0.88), s.HedgesStandardError!.Value, 12);
        Assert.Equal((3, 3), (s.Bad, s.Good));
    }

    [Fact]
    public void The_best_threshold_maximises_true_minus_false_positive_rate()
    {
        // Cuts: 1.5 → J 1 − 2/3; 2.5 → 1 − 1/3; 3.5 → 2/3 − 0; 4.5 → 1/3. The first best is kept.
        Assert.Equal((2.5, 3, 1), RootCauseRanking.BestThreshold([3, 4, 5], [1, 2, 3], above: true));
        Assert.Equal((2.5, 2, 0), RootCauseRanking.BestThreshold([1, 2], [3, 4, 5], above: false));
    }

    [Fact]
    public void Holm_multiplies_the_kth_smallest_p_by_m_minus_k_plus_1_and_keeps_the_order()
    {
        Assert.Equal([0.03, 0.06, 0.06], RootCauseRanking.Holm([0.01, 0.04, 0.03]).Select(p => Math.Round(p, 12)));
        Assert.Equal([1.0, 1.0], RootCauseRanking.Holm([0.6, 0.9]));
    }

    [Fact]
    public void Mid_ranks_share_the_mean_rank_of_ties_and_erfc_is_accurate()
    {
        Assert.Equal([3.5, 5, 6, 1, 2, 3.5], RootCauseRanking.MidRanks([3, 4, 5, 1, 2, 3]));
        Assert.Equal(0.0455003, RootCauseRanking.Erfc(2 / Math.Sqrt(2)), 6); // two-sided p of z = 2
        Assert.Equal(2 - 0.0455003, RootCauseRanking.Erfc(-2 / Math.Sqrt(2)), 6);
    }

    [Fact]
    public void The_causal_parameter_ranks_first_and_a_factor_with_too_few_parts_is_skipped_not_ranked()
    {
        var random = new Random(5);
        var temperature = new double?[40];
        var noise = new double?[40];
        var bad = new bool[40];
        for (var i = 0; i < 40; i++)
        {
            temperature[i] = 55 + (14 * random.NextDouble());
            noise[i] = random.NextDouble();
            bad[i] = temperature[i] > 62;
        }

        var sparse = Enumerable.Range(0, 40).Select(i => i < 5 ? (double?)i : null).ToList();
        var constant = Enumerable.Range(0, 40).Select(_ => (double?)1).ToList();
        var (factors, skipped) = RootCauseRanking.Rank(
            bad,
            [
                new RootCauseCandidate("parameter", "noise", "m", "noise", "mean", noise),
                new RootCauseCandidate("parameter", "temperature", "m", "temperature", "mean", temperature),
                new RootCauseCandidate("parameter", "sparse", "m", "sparse", "mean", sparse),
                new RootCauseCandidate("material", "material steel", null, null, null, constant),
            ],
            minPerGroup: 8);

        Assert.Equal(["temperature", "noise"], factors.Select(f => f.Name));
        var top = factors[0];
        Assert.Equal(1.0, top.Auc);
        Assert.Equal("above", top.Direction);
        Assert.InRange(top.Threshold!.Value, 61, 63);
        Assert.Equal((1.0, 0.0), (top.BadRateBeyond!.Value, top.BadRateWithin!.Value));
        Assert.True(top.AdjustedPValue < 1e-4);
        Assert.StartsWith("bad parts follow temperature > ", top.Summary, StringComparison.Ordinal);
        Assert.StartsWith("no clear separation by noise", factors[1].Summary, StringComparison.Ordinal);
        Assert.Equal(["sparse", "material steel"], skipped.Select(s => s.Name));
        Assert.StartsWith("not enough data", skipped[0].Reason, StringComparison.Ordinal);
        Assert.StartsWith("no variation", skipped[1].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_category_reports_the_bad_rate_with_and_without_it()
    {
        // 10 parts from lot A (6 bad), 10 from lot B (1 bad).
        var bad = Enumerable.Range(0, 20).Select(i => i < 10 ? i < 6 : i == 10).ToArray();
        var lotA = Enumerable.Range(0, 20).Select(i => (double?)(i < 10 ? 1 : 0)).ToList();
        var (factors, _) = RootCauseRanking.Rank(bad, [new RootCauseCandidate("material", "material lot A", null, null, null, lotA)], minPerGroup: 5);
        var lot = Assert.Single(factors);
        Assert.Equal("present", lot.Direction);
        Assert.Equal((0.6, 0.1), (lot.BadRateBeyond!.Value, lot.BadRateWithin!.Value));

        // AUC of a 0/1 factor: (TPR + 1 − FPR) / 2 = (6/7 + 1 − 4/13) / 2.
        Assert.Equal(((6.0 / 7) + 1 - (4.0 / 13)) / 2, lot.Auc, 12);
        Assert.Null(lot.Threshold);
    }

    [Fact]
    public void Window_statistics_take_the_readings_in_the_window_that_are_not_bad()
    {
        var t0 = new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);
        var points = new List<HistoryRawPoint>
        {
            new(t0.AddSeconds(-1), 100, ReadingQuality.Good, 0),
            new(t0, 2, ReadingQuality.Good, 0),
            new(t0.AddSeconds(10), 4, ReadingQuality.Uncertain, 0),
            new(t0.AddSeconds(20), 1000, ReadingQuality.Bad, 0),
            new(t0.AddSeconds(30), 6, ReadingQuality.Good, 0),
            new(t0.AddSeconds(60), 100, ReadingQuality.Good, 0),
        };
        var summary = SensorWindowStatistics.Summarise(points, t0, t0.AddSeconds(60))!.Value;
        Assert.Equal((3, 4.0, 2.0, 6.0), (summary.Count, summary.Mean, summary.Min, summary.Max));
        Assert.Equal(2.0, summary.StdDev, 12);
        Assert.Null(SensorWindowStatistics.Summarise(points, t0.AddSeconds(40), t0.AddSeconds(50)));
    }
}
