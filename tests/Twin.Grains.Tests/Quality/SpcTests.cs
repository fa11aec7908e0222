using Twin.Grains.Quality;
using Twin.Machines;
using Twin.Quality;

namespace Twin.Grains.Tests.Quality;

/// <summary>Control limits, capability and the Nelson rules against hand calculations.</summary>
public class SpcTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);
    private static readonly SpecLimits NoSpec = new(null, null);

    private static SpcPoint Point(long number, double value, double? range, int size) => new(number, T0.AddMinutes(number), value, range, size, 0, true, null);

    [Fact]
    public void Xbar_r_limits_come_from_the_grand_mean_and_the_mean_range_with_the_table_constants()
    {
        // Subgroups of 2: (10,12) (11,11) (9,13) (10,10) (12,10): means 11 11 11 10 11, ranges 2 0 4 0 2.
        // X̄̄ = 54/5 = 10.8, R̄ = 8/5 = 1.6; A2 = 1.880 → 10.8 ± 3.008; D4 = 3.267 → UCL_R 5.2272; D3 = 0.
        var state = new SpcState { SubgroupSize = 2, BaselineSubgroups = 5 };
        double[][] subgroups = [[10, 12], [11, 11], [9, 13], [10, 10], [12, 10]];
        var learned = false;
        foreach (var subgroup in subgroups)
        {
            foreach (var value in subgroup)
            {
                learned |= SpcChart.Add(state, value, T0, new SpecLimits(6, 16), null, T0, 100).Learned;
            }
        }

        Assert.True(learned);
        var limits = state.Limits!;
        Assert.Equal(10.8, limits.Center, 9);
        Assert.Equal(1.6, limits.RangeCenter, 9);
        Assert.Equal(13.808, limits.Upper, 9);
        Assert.Equal(7.792, limits.Lower, 9);
        Assert.Equal(5.2272, limits.RangeUpper, 9);
        Assert.Equal(0, limits.RangeLower, 9);
        Assert.Equal(1.6 / 1.128, limits.SigmaWithin, 9);
        Assert.Equal(1.880 * 1.6 / 3, limits.Sigma, 9);
        Assert.Equal((5, 0), (limits.Subgroups, limits.Excluded));
        Assert.Equal(5L, limits.UntilPoint);

        // Cp = (16 − 6) / (6 · 1.6/1.128) = 1.175; Cpk = (10.8 − 6) / (3 · 1.6/1.128) = 1.128.
        var capability = SpcChart.Capability(state, 25)!;
        Assert.Equal(10.8, capability.Mean, 9);
        Assert.Equal(1.175, capability.Cp!.Value, 9);
        Assert.Equal(1.128, capability.Cpk!.Value, 9);
        Assert.Equal(5, capability.Points);
    }

    [Fact]
    public void Individuals_limits_use_the_mean_moving_range_over_1_128()
    {
        // 10 12 11 13 12 11: mean 69/6 = 11.5; moving ranges 2 1 2 1 1, MR̄ = 1.4.
        var points = new[] { 10.0, 12, 11, 13, 12, 11 }.Select((v, i) => Point(i + 1, v, i == 0 ? null : Math.Abs(v - new[] { 10.0, 12, 11, 13, 12, 11 }[i - 1]), 1)).ToList();
        var limits = SpcChart.Learn(points, 1, T0);
        Assert.Equal(11.5, limits.Center, 9);
        Assert.Equal(1.4, limits.RangeCenter, 9);
        Assert.Equal(1.4 / 1.128, limits.Sigma, 9);
        Assert.Equal(11.5 + (3 * 1.4 / 1.128), limits.Upper, 9);
        Assert.Equal(11.5 - (3 * 1.4 / 1.128), limits.Lower, 9);
        Assert.Equal(3.267 * 1.4, limits.RangeUpper, 9);
    }

    [Fact]
    public void A_baseline_point_beyond_the_trial_limits_is_left_out_and_the_limits_are_learned_again()
    {
        // Trial: mean 12.2, MR̄ = 43.5/9, UCL 25.05: the 30 is beyond. Without it (and the two moving
        // ranges it is part of): mean 92/9, MR̄ 0.5, limits 92/9 ± 3·0.5/1.128.
        double[] values = [10, 10.5, 10, 10.5, 10, 10.5, 10, 30, 10, 10.5];
        var points = values.Select((v, i) => Point(i + 1, v, i == 0 ? null : Math.Abs(v - values[i - 1]), 1)).ToList();
        var limits = SpcChart.Learn(points, 1, T0);
        Assert.Equal((9, 1), (limits.Subgroups, limits.Excluded));
        Assert.Equal(92.0 / 9, limits.Center, 9);
        Assert.Equal(0.5, limits.RangeCenter, 9);
        Assert.Equal((92.0 / 9) + (1.5 / 1.128), limits.Upper, 9);
    }

    [Fact]
    public void Cp_needs_both_limits_and_cpk_takes_the_nearer_one()
    {
        // (6 − 3) / (6 · 0.5) = 1; min(6 − 5.25, 5.25 − 3) / (3 · 0.5) = 0.75 / 1.5 = 0.5.
        var (cp, cpk) = CapabilityMath.Compute(mean: 5.25, sigma: 0.5, lsl: 3, usl: 6);
        Assert.Equal(1.0, cp!.Value, 9);
        Assert.Equal(0.5, cpk!.Value, 9);
        var (oneSidedCp, oneSidedCpk) = CapabilityMath.Compute(10, 2, null, 16);
        Assert.Null(oneSidedCp);
        Assert.Equal(1.0, oneSidedCpk!.Value, 9);
        Assert.Equal((null, null), CapabilityMath.Compute(10, 0, 5, 15));
    }

    public static TheoryData<int, double[]> RuleCases => new()
    {
        { 1, [0.5, 3.1] },
        { 1, [-3.5] },
        { 2, [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5] },
        { 3, [0, 0.1, 0.2, 0.3, 0.4, 0.5] },
        { 3, [0.5, 0.4, 0.3, 0.2, 0.1, 0] },
        { 4, [0.1, -0.1, 0.1, -0.1, 0.1, -0.1, 0.1, -0.1, 0.1, -0.1, 0.1, -0.1, 0.1, -0.1] },
        { 5, [0, 2.5, 0.5, 2.1] },
        { 6, [1.5, 1.2, 0.5, 1.1, 1.3] },
        { 7, [0.1, 0.2, -0.3, -0.1, 0.4, 0.5, -0.2, -0.4, 0.3, 0.1, -0.5, -0.3, 0.2, 0.4, -0.1] },
        { 8, [1.5, -1.5, 1.2, -1.2, 1.5, -1.5, 1.2, -1.2] },
    };

    [Theory]
    [MemberData(nameof(RuleCases))]
    public void Each_rule_fires_alone_on_its_own_pattern(int rule, double[] values)
    {
        Assert.Equal(1 << (rule - 1), NelsonRules.Evaluate(values, 0, 1));
    }

    public static TheoryData<double[]> QuietCases => new()
    {
        new double[] { 3.0 }, // on the 3σ line is not beyond it
        new double[] { 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5 }, // eight on one side
        new double[] { 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0 }, // the centre line breaks the run
        new double[] { 0, 0.1, 0.2, 0.3, 0.4 }, // five increasing
        new double[] { 0, 0.1, 0.2, 0.2, 0.3, 0.4 }, // an equal neighbour breaks the trend
        new double[] { 0.1, -0.1, 0.1, -0.1, 0.1, -0.1, 0.1, -0.1, 0.1, -0.1, 0.1, -0.1, 0.1 }, // thirteen alternating
        new double[] { 2.5, 2.1, 0.5 }, // two beyond 2σ, but not the newest
        new double[] { 2.5, 0.5, -2.2 }, // beyond 2σ on different sides
        new double[] { 1.5, 1.2, 0.5, 0.3, 1.3 }, // three of five beyond 1σ
        new double[] { 0.1, 0.2, -0.3, -0.1, 0.4, 0.5, -0.2, -0.4, 0.3, 0.1, -0.5, -0.3, 0.2, 0.4 }, // fourteen within 1σ
    };

    [Theory]
    [MemberData(nameof(QuietCases))]
    public void Near_misses_fire_no_rule(double[] values)
    {
        Assert.Equal(0, NelsonRules.Evaluate(values, 0, 1));
    }

    [Fact]
    public void Eight_beyond_one_sigma_on_one_side_is_rule_6_not_rule_8()
    {
        var mask = NelsonRules.Evaluate([1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5], 0, 1);
        Assert.Equal(1 << 5, mask);
        Assert.Equal([FaultKind.Nelson6], SpcRules.Kinds(mask).ToArray());
    }

    [Fact]
    public void Zones_are_multiples_of_sigma_from_the_centre()
    {
        // Centre 10, σ 0.5: 11.6 is 3.2σ above.
        Assert.Equal(1, NelsonRules.Evaluate([10.2, 11.6], 10, 0.5));
        Assert.Equal(0, NelsonRules.Evaluate([10.2, 11.4], 10, 0.5));
        Assert.Equal(0, NelsonRules.Evaluate([100], 10, 0));
    }

    [Fact]
    public void A_drift_after_the_baseline_starts_rule_2_once_and_it_keeps_firing_without_starting_again()
    {
        // Baseline 10 12 11 13 12: mean 11.6, MR̄ 1.5, σ 1.5/1.128 = 1.33. Then 12s: 0.3σ above.
        var state = new SpcState { SubgroupSize = 1, BaselineSubgroups = 5 };
        foreach (var v in new[] { 10.0, 12, 11, 13, 12 })
        {
            Assert.Equal(0, SpcChart.Add(state, v, T0, NoSpec, null, T0, 100).Started);
        }

        Assert.Equal(11.6, state.Limits!.Center, 9);
        var started = new List<int>();
        for (var i = 0; i < 10; i++)
        {
            started.Add(SpcChart.Add(state, 12, T0, NoSpec, $"P-{i}", T0, 100).Started);
        }

        Assert.Equal([0, 0, 0, 0, 0, 0, 0, 0, 1 << 1, 0], started);
        Assert.Equal(1 << 1, state.Points[^1].Rules);
        Assert.False(state.Points[^1].Baseline);
        Assert.Equal("P-9", state.Points[^1].Part);

        // Back below the centre: the signal is over; the next run starts a new one.
        Assert.Equal(0, SpcChart.Add(state, 11, T0, NoSpec, null, T0, 100).Started);
        Assert.Equal(0, state.Firing);
    }

    [Fact]
    public void Subgroups_fill_before_they_become_a_point_and_rebaselining_learns_again()
    {
        var state = new SpcState { SubgroupSize = 3, BaselineSubgroups = 5 };
        Assert.Null(SpcChart.Add(state, 1, T0, NoSpec, "A", T0, 100).Point);
        Assert.Null(SpcChart.Add(state, 2, T0, NoSpec, "B", T0, 100).Point);
        var point = SpcChart.Add(state, 6, T0, NoSpec, "C", T0, 100).Point!;
        Assert.Equal((3.0, 5.0, 3, "A"), (point.Value, point.Range!.Value, point.Size, point.Part));
        Assert.True(point.Baseline);

        for (var i = 0; i < 12; i++)
        {
            SpcChart.Add(state, i % 3, T0, NoSpec, null, T0, 100);
        }

        Assert.NotNull(state.Limits);
        SpcChart.Rebaseline(state, new SpcSettings(1, 10), T0);
        Assert.Null(state.Limits);
        Assert.Equal((1, 10), (state.SubgroupSize, state.BaselineSubgroups));
        Assert.Equal(5, state.Points.Count);
        Assert.Throws<TwinRuleException>(() => SpcChart.Rebaseline(state, new SpcSettings(11, 25), T0));
        Assert.Throws<TwinRuleException>(() => SpcChart.Rebaseline(state, new SpcSettings(1, 4), T0));
    }

    [Fact]
    public void A_measurement_made_before_a_rebaseline_never_enters_the_new_baseline()
    {
        // Subgroups of 2, baseline of 5: learn limits, then re-baseline at T0 + 1 h.
        var state = new SpcState { SubgroupSize = 2, BaselineSubgroups = 5 };
        for (var i = 0; i < 10; i++)
        {
            SpcChart.Add(state, 10 + (i % 2), T0.AddMinutes(i), NoSpec, null, T0, 100);
        }

        Assert.NotNull(state.Limits);
        SpcChart.Add(state, 50, T0.AddMinutes(20), NoSpec, null, T0, 100);
        var cut = T0.AddHours(1);
        SpcChart.Rebaseline(state, null, cut);
        Assert.Empty(state.Pending);

        // Still on its way when the re-baseline came: measured at T0 + 30 min, it arrives after.
        var late = SpcChart.Add(state, 99, T0.AddMinutes(30), NoSpec, null, T0, 100);
        Assert.Null(late.Point);
        Assert.Empty(state.Pending);
        Assert.Equal(1, state.BeforeRebaseline);

        // The new process: subgroups (20, 22) x5 give X-double-bar 21 and R-bar 2, nothing of the old.
        for (var i = 0; i < 10; i++)
        {
            SpcChart.Add(state, i % 2 == 0 ? 20 : 22, cut.AddMinutes(i), NoSpec, null, T0, 100);
        }

        Assert.NotNull(state.Limits);
        Assert.Equal(21, state.Limits!.Center, 9);
        Assert.Equal(2, state.Limits.RangeCenter, 9);
        Assert.Equal(22, state.Readings);
    }

    [Fact]
    public void Readings_outside_the_specification_are_counted_and_the_latest_specification_kept()
    {
        var state = new SpcState { SubgroupSize = 1, BaselineSubgroups = 5 };
        SpcChart.Add(state, 40.06, T0, new SpecLimits(39.95, 40.05, 40, "mm"), null, T0, 100);
        SpcChart.Add(state, 40.00, T0, new SpecLimits(39.95, 40.05, 40, "mm"), null, T0, 100);
        SpcChart.Add(state, 39.90, T0, NoSpec, null, T0, 100);
        Assert.Equal((3L, 1L), (state.Readings, state.OutOfSpec)); // the last has no limits: not outside any
        Assert.Equal("mm", state.Spec!.Unit);
    }

    [Fact]
    public void The_chart_keeps_its_latest_points_only()
    {
        var state = new SpcState { SubgroupSize = 1, BaselineSubgroups = 5 };
        for (var i = 0; i < 30; i++)
        {
            SpcChart.Add(state, i, T0, NoSpec, null, T0, 20);
        }

        Assert.Equal(20, state.Points.Count);
        Assert.Equal(30, state.Points[^1].Number);
    }
}
