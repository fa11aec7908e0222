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
    public void Older_than_the_window_is_too_old()
    {
        var w = new SequenceWindow();
        Offer(w, 1, 1);
        Offer(w, 1 + SequenceWindow.Size, 100);
        Assert.Equal(SequenceVerdict.TooOld, Offer(w, 1, 1));
        Assert.Equal(SequenceVerdict.Late, Offer(w, 2, 2));
    }

    [Fact]
    public void A_big_jump_forgets_the_old_bitmap()
    {
        var w = new SequenceWindow();
        Offer(w, 5, 5);
        Assert.Equal(SequenceVerdict.New, Offer(w, 1_000_000, 6));
        Assert.Equal(SequenceVerdict.Late, Offer(w, 1_000_000 - SequenceWindow.Size + 5, 6));
        Assert.Equal(SequenceVerdict.TooOld, Offer(w, 5, 5));
    }

    [Fact]
    public void Sliding_forward_forgets_the_numbers_it_passes()
    {
        var w = new SequenceWindow();
        Offer(w, 10, 10);
        Offer(w, 10 + SequenceWindow.Size - 1, 11);
        Assert.Equal(SequenceVerdict.Duplicate, Offer(w, 10, 10));
        Offer(w, 10 + SequenceWindow.Size + 3, 12);
        Assert.Equal(SequenceVerdict.TooOld, Offer(w, 10, 10));
        Assert.Equal(SequenceVerdict.Late, Offer(w, 14, 10));
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
}
