using Twin.Effects;
using Twin.Grains.Effects;
using Twin.History;
using Twin.Machines;
using Twin.Quality;

namespace Twin.Grains.Tests.Effects;

/// <summary>The before/after comparison of an action: windows, sample sizes, "not enough data", hand-checked figures.</summary>
public class EffectRulesTests
{
    private static readonly DateTimeOffset T = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan W = TimeSpan.FromHours(1);

    [Fact]
    public void Scrap_rate_is_scrap_over_parts_with_the_counts_and_none_without_parts()
    {
        var before = EffectRules.ScrapSide(good: 6, scrap: 2);
        Assert.Equal((0.25, 8L, 2L, "parts"), (before.Value!.Value, before.Samples, before.Hits!.Value, before.SampleUnit));

        var empty = EffectRules.ScrapSide(0, 0);
        Assert.Null(empty.Value);
        Assert.Equal(0, empty.Samples);
        Assert.NotNull(empty.Note);

        var figure = EffectRules.Compare("scrapRate", "m1", before, EffectRules.ScrapSide(10, 0));
        Assert.Equal(("better", -0.25), (figure.Verdict, figure.Change!.Value));
        Assert.Equal(EffectRules.NotEnoughData, EffectRules.Compare("scrapRate", "m1", before, empty).Verdict);
        Assert.Null(EffectRules.Compare("scrapRate", "m1", before, empty).Change);
    }

    [Fact]
    public void Verdicts_follow_the_direction_of_each_kpi()
    {
        EffectSide Of(double v) => new(v, 10, "x");
        Assert.Equal("better", EffectRules.Compare("oee", "m", Of(0.5), Of(0.6)).Verdict);
        Assert.Equal("worse", EffectRules.Compare("cpk", "m/c", Of(1.5), Of(1.0)).Verdict);
        Assert.Equal("worse", EffectRules.Compare("anomalyRate", "m", Of(0.1), Of(0.2)).Verdict);
        Assert.Equal("better", EffectRules.Compare("mtbfHours", "m", Of(2), Of(4)).Verdict);
        Assert.Equal("unchanged", EffectRules.Compare("failures", "m", Of(1), Of(1)).Verdict);
        Assert.Equal("open", EffectRules.Compare("oee", "m", Of(0.5), null).Verdict);
    }

    [Fact]
    public void Readings_count_in_half_open_windows_without_bad_ones()
    {
        HistoryRawPoint P(double minutes, double score, ReadingQuality q = ReadingQuality.Good) => new(T.AddMinutes(minutes), 1, q, score);
        var points = new[] { P(-61, 1), P(-60, 0.95), P(-30, 0.1), P(-1, 0.9, ReadingQuality.Bad), P(0, 0.2), P(30, 0.89), P(59.9, 0.1), P(60, 1) };

        var before = EffectRules.CountReadings(points, T - W, T, 0.9);
        var after = EffectRules.CountReadings(points, T, T + W, 0.9);

        // Before: −60 (0.95, anomalous) and −30; −61 is outside, −1 is bad. After: 0, 30 (0.89 < 0.9), 59.9; 60 is outside.
        Assert.Equal(new ReadingCount(2, 1), before);
        Assert.Equal(new ReadingCount(3, 0), after);
        var side = EffectRules.AnomalySide(before, null);
        Assert.Equal((0.5, 2L, 1L), (side.Value!.Value, side.Samples, side.Hits!.Value));
        Assert.Null(EffectRules.AnomalySide(new ReadingCount(0, 0), null).Value);
        Assert.Equal("history off", EffectRules.AnomalySide(null, "history off").Note);
    }

    [Fact]
    public void Cpk_uses_only_the_points_and_ranges_inside_the_window()
    {
        // Individuals 10.0, 10.2, 9.8, 10.0 within; the first point's moving range reaches back out of the window.
        SpcPoint P(int minutes, double value, double? range) => new(minutes, T.AddMinutes(minutes), value, range, 1, 0, false, null);
        var points = new[] { P(-70, 12.0, 0.1), P(-50, 10.0, 2.0), P(-40, 10.2, 0.2), P(-30, 9.8, 0.4), P(-20, 10.0, 0.2), P(10, 10.0, 0.2) };

        var before = EffectRules.CpkSide(points, new SpecLimits(9.0, 11.0), T - W, T);

        // Mean 10.0; MR̄ = (0.2 + 0.4 + 0.2) / 3; σ = MR̄ / 1.128; Cpk = 1 / 3σ = 1.128 / 0.8 = 1.41.
        Assert.Equal(1.41, before.Value!.Value, 9);
        Assert.Equal((4L, "subgroups"), (before.Samples, before.SampleUnit));

        var after = EffectRules.CpkSide(points, new SpecLimits(9.0, 11.0), T, T + W);
        Assert.Null(after.Value);
        Assert.Equal(1, after.Samples);
        Assert.Null(EffectRules.CpkSide(points, null, T - W, T).Value);
    }

    [Fact]
    public void Mtbf_is_run_time_per_failure_and_none_without_a_failure()
    {
        var two = EffectRules.MtbfSide(2, 7200);
        Assert.Equal((1.0, 7200L, 2L), (two.Value!.Value, two.Samples, two.Hits!.Value));
        var none = EffectRules.MtbfSide(0, 7200);
        Assert.Null(none.Value);
        Assert.Equal(7200, none.Samples);
        Assert.Equal(0.0, EffectRules.FailureSide(0, 3600).Value);
        Assert.Null(EffectRules.FailureSide(0, 0).Value);
    }

    [Fact]
    public void A_report_is_due_when_the_machines_event_time_passes_the_window_or_a_silent_machine_waited_long_enough()
    {
        var maxWait = TimeSpan.FromMinutes(30);
        Assert.False(EffectRules.IsDue(T, W, T + W - TimeSpan.FromSeconds(1), T + W, maxWait));
        Assert.True(EffectRules.IsDue(T, W, T + W, T, maxWait));
        Assert.False(EffectRules.IsDue(T, W, null, T + W + maxWait - TimeSpan.FromSeconds(1), maxWait));
        Assert.True(EffectRules.IsDue(T, W, T, T + W + maxWait, maxWait));
    }

    [Fact]
    public void A_watch_counts_parts_of_its_after_window_only_and_is_started_once()
    {
        var watches = new List<EffectWatch>();
        var watch = EffectRules.Watch(watches, "a1", T, T + W);
        Assert.Same(watch, EffectRules.Watch(watches, "a1", T, T + W));

        EffectRules.CountParts(watches, T - TimeSpan.FromSeconds(1), 5, 5);
        EffectRules.CountParts(watches, T, 3, 1);
        EffectRules.CountParts(watches, T + W - TimeSpan.FromSeconds(1), 2, 0);
        EffectRules.CountParts(watches, T + W, 7, 7);
        Assert.Equal((5L, 1L), (watch.Good, watch.Scrap));

        for (var i = 0; i < EffectRules.WatchesPerMachine; i++)
        {
            EffectRules.Watch(watches, $"b{i}", T, T + W);
        }

        Assert.Equal(EffectRules.WatchesPerMachine, watches.Count);
        Assert.DoesNotContain(watches, w => w.Action == "a1");
    }

    [Fact]
    public void Oee_side_says_why_it_has_no_figure()
    {
        var noTime = new OeeFigures("before", T - W, T, 3600, 0, 0, 0, 0, 0, 1, null, null, null);
        Assert.Equal("no run state timed in the window", EffectRules.OeeSide(noTime).Note);

        // 1 h planned, 45 min running, 30 s ideal cycle: 80 parts, 72 good → A 0.75 × P (30 × 80 / 2700) × Q 0.9 = 0.6.
        var figures = EffectRules.WithParts(new OeeFigures("after", T, T + W, 3600, 2700, 900, 0, 0, 0, null, null, null, null), 72, 8, TimeSpan.FromSeconds(30));
        var side = EffectRules.OeeSide(figures);
        Assert.Equal(0.6, side.Value!.Value, 9);
        Assert.Equal((3600L, 80L), (side.Samples, side.Hits!.Value));
    }

    [Fact]
    public void Summary_names_the_figures_with_data_and_their_sample_sizes()
    {
        var figures = new[]
        {
            EffectRules.Compare("scrapRate", "m1", EffectRules.ScrapSide(8, 2), EffectRules.ScrapSide(10, 0)),
            EffectRules.Compare("oee", "m1", new EffectSide(null, 0, "seconds planned"), new EffectSide(0.5, 10, "seconds planned")),
        };
        Assert.Equal("verified: scrap 20% → 0% (better, n=10/10)", EffectRules.Summary(ActionStatus.Verified, figures, T));
        Assert.StartsWith("open: after-window ends 2026-12-01 09:00:00Z", EffectRules.Summary(ActionStatus.Open, figures, T + W));
    }
}
