using Twin.Grains.Domain;

namespace Twin.Grains.Tests.Domain;

public class SequenceWindowTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);

    private static SequenceVerdict Offer(SequenceWindow w, long seq, int second)
    {
        var ts = T0.AddSeconds(second);
        var verdict = w.Check(seq, ts);
        if (verdict is SequenceVerdict.New or SequenceVerdict.Late or SequenceVerdict.Restart)
        {
            w.Mark(seq, ts, verdict);
        }

        return verdict;
    }

    [Fact]
    public void In_order_sequence_is_new_and_a_repeat_is_a_duplicate()
    {
        var w = new SequenceWindow();
        Assert.Equal(SequenceVerdict.New, Offer(w, 1, 1));
        Assert.Equal(SequenceVerdict.New, Offer(w, 2, 2));
        Assert.Equal(SequenceVerdict.Duplicate, Offer(w, 2, 2));
        Assert.Equal(SequenceVerdict.Duplicate, Offer(w, 1, 1));
        Assert.Equal(2, w.Highest);
    }

    [Fact]
    public void A_gap_filled_later_is_late_once_then_duplicate()
    {
        var w = new SequenceWindow();
        Offer(w, 10, 10);
        Assert.Equal(SequenceVerdict.New, Offer(w, 12, 12));
        Assert.Equal(SequenceVerdict.Late, Offer(w, 11, 11));
        Assert.Equal(SequenceVerdict.Duplicate, Offer(w, 11, 11));
        Assert.Equal(12, w.Highest);
    }

    [Fact]
    public void Older_than_the_ring_is_still_judged_exactly()
    {
        var w = new SequenceWindow();
        Offer(w, 1, 1);
        Offer(w, 1 + SequenceWindow.Size, 100);
        Assert.Equal(SequenceVerdict.Duplicate, Offer(w, 1, 1));
        Assert.Equal(SequenceVerdict.Late, Offer(w, 2, 2));
        Assert.Equal(SequenceVerdict.Duplicate, Offer(w, 2, 2));
    }

    [Fact]
    public void A_big_jump_keeps_what_it_skipped_as_missing()
    {
        var w = new SequenceWindow();
        Offer(w, 5, 5);
        Assert.Equal(SequenceVerdict.New, Offer(w, 1_000_000, 6));
        Assert.Equal(SequenceVerdict.Late, Offer(w, 1_000_000 - SequenceWindow.Size + 5, 6));
        Assert.Equal(SequenceVerdict.Duplicate, Offer(w, 5, 5));
        Assert.Equal(SequenceVerdict.Late, Offer(w, 6, 5));
        Assert.Equal(SequenceVerdict.Late, Offer(w, 4, 4));
        Assert.Equal(SequenceVerdict.Duplicate, Offer(w, 6, 5));
    }

    [Fact]
    public void Sliding_forward_remembers_the_numbers_it_passes()
    {
        var w = new SequenceWindow();
        Offer(w, 10, 10);
        Offer(w, 10 + SequenceWindow.Size - 1, 11);
        Assert.Equal(SequenceVerdict.Duplicate, Offer(w, 10, 10));
        Offer(w, 10 + SequenceWindow.Size + 3, 12);
        Assert.Equal(SequenceVerdict.Duplicate, Offer(w, 10, 10));
        Assert.Equal(SequenceVerdict.Late, Offer(w, 14, 10));
        Assert.Equal(SequenceVerdict.Duplicate, Offer(w, 14, 10));
    }

    [Fact]
    public void A_backlog_that_arrives_after_newer_readings_moved_far_ahead_is_applied_once()
    {
        // Two gateways share the subscription; one restarts and delivers its backlog (1–4,000)
        // after the other has applied 4,001–10,000, with redeliveries on both sides.
        var w = new SequenceWindow();
        var applied = new List<long>();
        void Deliver(long seq)
        {
            if (Offer(w, seq, (int)seq) is SequenceVerdict.New or SequenceVerdict.Late)
            {
                applied.Add(seq);
            }
        }

        for (long seq = 4001; seq <= 10_000; seq++)
        {
            Deliver(seq);
        }

        for (long seq = 1; seq <= 4000; seq++)
        {
            Deliver(seq);
            Deliver(seq);
        }

        for (long seq = 3990; seq <= 4020; seq++)
        {
            Deliver(seq);
        }

        Assert.Equal(Enumerable.Range(1, 10_000).Select(i => (long)i), applied.Order());
        Assert.Null(w.Missing);
    }

    [Fact]
    public void Two_consumers_in_turn_with_one_stalled_for_minutes_leave_nothing_too_old()
    {
        // A shared subscription alternates a machine's messages between two gateways; one stalls
        // for 3,000 of its messages (e.g. 160 s at 37 messages/s) while the other moves on.
        var w = new SequenceWindow();
        const int Messages = 6_000;
        for (long seq = 1; seq <= Messages + 1; seq += 2)
        {
            Assert.Equal(SequenceVerdict.New, Offer(w, seq, (int)seq));
        }

        for (long seq = 2; seq <= Messages; seq += 2)
        {
            Assert.Equal(SequenceVerdict.Late, Offer(w, seq, (int)seq));
        }

        for (long seq = 1; seq <= Messages + 1; seq++)
        {
            Assert.Equal(SequenceVerdict.Duplicate, Offer(w, seq, (int)seq));
        }

        Assert.Null(w.Missing);
    }

    [Fact]
    public void Past_its_gap_bound_the_window_forgets_the_oldest_gaps_and_says_too_old()
    {
        var w = new SequenceWindow();
        for (long seq = 1; seq <= 2 * (SequenceWindow.MaxGaps + 10) + SequenceWindow.Size; seq += 2)
        {
            Offer(w, seq, (int)seq);
        }

        Assert.Equal(SequenceWindow.MaxGaps * 2, w.Missing!.Count);
        Assert.Equal(SequenceVerdict.TooOld, Offer(w, 2, 2));
        Assert.Equal(SequenceVerdict.TooOld, Offer(w, 1, 1));
        Assert.Equal(SequenceVerdict.Late, Offer(w, w.KnownFrom + 1, (int)w.KnownFrom + 1));
    }

    [Fact]
    public void A_window_saved_before_gaps_were_kept_knows_nothing_below_its_ring()
    {
        // As loaded from storage written by the earlier layout: no missing ranges, format 0.
        var w = new SequenceWindow { Highest = 5000, LatestEventTime = T0.AddSeconds(5000), EpochStart = T0 };
        Assert.Equal(SequenceVerdict.TooOld, Offer(w, 5000 - SequenceWindow.Size, 1));
        Assert.Equal(SequenceVerdict.Late, Offer(w, 5000 - SequenceWindow.Size + 1, 1));
        Assert.Equal(SequenceVerdict.New, Offer(w, 5001, 5001));
    }

    [Fact]
    public void After_a_restart_the_first_messages_count_for_the_new_epoch_in_whatever_order_they_arrive()
    {
        // The device numbered 1..100, restarted and numbers 1, 2, 3 again; two gateways deliver
        // the new 2 before the new 1, and a redelivery of the old 50 and the old 100 come late.
        var w = new SequenceWindow();
        for (long seq = 1; seq <= 100; seq++)
        {
            Offer(w, seq, (int)seq);
        }

        Assert.Equal(SequenceVerdict.Restart, Offer(w, 2, 202));
        Assert.Equal(SequenceVerdict.Late, Offer(w, 1, 201));
        Assert.Equal(1, w.EpochOf(1, T0.AddSeconds(201)));
        Assert.Equal(SequenceVerdict.New, Offer(w, 3, 203));
        Assert.Equal(SequenceVerdict.Duplicate, Offer(w, 1, 201));
        Assert.Equal(SequenceVerdict.Duplicate, Offer(w, 50, 50));
        Assert.Equal(SequenceVerdict.Duplicate, Offer(w, 100, 100));
        Assert.Equal(0, w.EpochOf(50, T0.AddSeconds(50)));
    }

    [Fact]
    public void Several_restarts_keep_each_epochs_redeliveries_apart()
    {
        var w = new SequenceWindow();
        for (var epoch = 0; epoch <= SequenceWindow.MaxEpochs + 1; epoch++)
        {
            var start = 1000 * (epoch + 1);
            Assert.Equal(epoch == 0 ? SequenceVerdict.New : SequenceVerdict.Restart, Offer(w, 1, start));
            Offer(w, 2, start + 1);
            Assert.Equal(epoch, w.EpochOf(2, T0.AddSeconds(start + 1)));
        }

        // Redeliveries of every kept epoch are duplicates; a gap of one is still late once.
        for (var epoch = 1; epoch <= SequenceWindow.MaxEpochs + 1; epoch++)
        {
            Assert.Equal(SequenceVerdict.Duplicate, Offer(w, 2, (1000 * (epoch + 1)) + 1));
        }

        Assert.Equal(SequenceVerdict.Late, Offer(w, 3, 2002));
        Assert.Equal(SequenceVerdict.Duplicate, Offer(w, 3, 2002));

        // The first epoch was forgotten (more than MaxEpochs restarts since): too old, not a silent duplicate.
        Assert.Equal(SequenceVerdict.TooOld, Offer(w, 2, 1001));
    }

    [Fact]
    public void Lower_sequence_with_newer_event_time_is_a_device_restart()
    {
        var w = new SequenceWindow();
        Offer(w, 500, 10);
        Assert.Equal(SequenceVerdict.Restart, Offer(w, 1, 11));
        Assert.Equal(1, w.Highest);
        Assert.Equal(SequenceVerdict.New, Offer(w, 2, 12));
        Assert.Equal(SequenceVerdict.Duplicate, Offer(w, 1, 11));
    }

    [Fact]
    public void Redeliveries_from_before_a_restart_are_judged_by_the_old_epoch()
    {
        var w = new SequenceWindow();
        for (var seq = 1; seq <= 1000; seq++)
        {
            Offer(w, seq, seq);
        }

        Assert.Equal(SequenceVerdict.Restart, Offer(w, 1, 2000));
        Assert.Equal(SequenceVerdict.New, Offer(w, 2, 2001));

        // The old epoch's message 995 redelivered: a duplicate, and it does not disturb the new epoch.
        Assert.Equal(SequenceVerdict.Duplicate, Offer(w, 995, 995));
        Assert.Equal(2, w.Highest);
        Assert.Equal(SequenceVerdict.Duplicate, Offer(w, 2, 2001));
        Assert.Equal(SequenceVerdict.New, Offer(w, 3, 2002));

        // A message of the old epoch that never arrived before is applied once, as late.
        var gap = new SequenceWindow();
        Offer(gap, 1, 1);
        Offer(gap, 3, 3);
        Offer(gap, 1, 10);
        Assert.Equal(SequenceVerdict.Late, Offer(gap, 2, 2));
        Assert.Equal(SequenceVerdict.Duplicate, Offer(gap, 2, 2));
    }

    [Fact]
    public void Every_permutation_of_a_window_applies_each_sequence_exactly_once()
    {
        var random = new Random(7);
        for (var round = 0; round < 200; round++)
        {
            var w = new SequenceWindow();
            var seqs = Enumerable.Range(1, 40).Select(i => (long)i).ToList();
            var delivered = seqs.Concat(seqs.Where(_ => random.NextDouble() < 0.2)).OrderBy(_ => random.Next()).ToList();
            var applied = new List<long>();
            foreach (var seq in delivered)
            {
                var verdict = Offer(w, seq, (int)seq);
                if (verdict is SequenceVerdict.New or SequenceVerdict.Late)
                {
                    applied.Add(seq);
                }

                Assert.NotEqual(SequenceVerdict.TooOld, verdict);
                Assert.NotEqual(SequenceVerdict.Restart, verdict);
            }

            Assert.Equal(seqs, applied.Order());
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Any_delivery_order_applies_each_number_once_and_calls_nothing_new_a_duplicate(int seed)
    {
        // Readings 1..6000 delivered as they might come through two gateways: mostly in order,
        // some held back far (up to 3,000 numbers), some repeated; checked against a plain set.
        var random = new Random(seed);
        var order = Enumerable.Range(1, 6000).Select(i => (Seq: (long)i, Key: i + (random.NextDouble() < 0.1 ? random.Next(3000) : random.Next(5)))).OrderBy(p => p.Key).Select(p => p.Seq).ToList();
        var delivered = order.SelectMany(s => random.NextDouble() < 0.05 ? new[] { s, s } : new[] { s }).ToList();
        var w = new SequenceWindow();
        var seen = new HashSet<long>();
        foreach (var seq in delivered)
        {
            var verdict = Offer(w, seq, 0);
            var expected = seen.Add(seq) ? "new" : "duplicate";
            var actual = verdict is SequenceVerdict.New or SequenceVerdict.Late ? "new" : verdict == SequenceVerdict.Duplicate ? "duplicate" : verdict.ToString();
            Assert.True(expected == actual || verdict == SequenceVerdict.TooOld, $"seq {seq}: expected {expected}, got {verdict}");
            if (verdict == SequenceVerdict.TooOld)
            {
                seen.Remove(seq);
            }
        }

        Assert.Equal(6000, seen.Count);
    }
}
