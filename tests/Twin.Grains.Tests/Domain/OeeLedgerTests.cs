using Twin.Grains.Domain;
using Twin.Machines;

namespace Twin.Grains.Tests.Domain;

/// <summary>
/// The ledger holds only the buckets in use; it must add up exactly as the ledger with six full
/// columns of 96 did. <see cref="ReferenceOeeLedger"/> is that earlier ledger, kept as the oracle.
/// </summary>
public class OeeLedgerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 5, 53, 0, TimeSpan.FromHours(1));
    private static readonly TimeSpan OfflineAfter = TimeSpan.FromSeconds(30);

    [Fact]
    public void Holds_only_the_buckets_in_use()
    {
        var ledger = new OeeLedger();
        Assert.Empty(ledger.Buckets);
        ledger.Status(T0, MachineRunState.Running);
        ledger.Status(T0.AddMinutes(50), MachineRunState.Idle);
        ledger.Parts(T0.AddMinutes(20), 10, 1);

        // 05:53 to 06:43 touches the buckets from 05:45, 06:00, 06:15 and 06:30.
        Assert.Equal(4, ledger.Buckets.Length);
        Assert.Equal(50 * 60_000, ledger.Buckets.Sum(b => b.RunMs));
        Assert.Equal(10, ledger.Buckets.Sum(b => b.Good));
        Assert.True(ledger.Buckets.Select(b => b.Bucket % OeeLedger.Slots).SequenceEqual(ledger.Buckets.Select(b => b.Bucket % OeeLedger.Slots).Order()));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Adds_up_exactly_as_the_ledger_with_full_columns(int seed)
    {
        var random = new Random(seed);
        var ledger = new OeeLedger();
        var reference = new ReferenceOeeLedger();
        var t = T0;
        var states = Enum.GetValues<MachineRunState>();
        for (var i = 0; i < 3000; i++)
        {
            // Mostly forward (seconds to an hour, now and then more than a day), some late messages.
            t += random.Next(20) switch
            {
                0 => TimeSpan.FromHours(random.Next(20, 30)),
                < 5 => TimeSpan.FromMinutes(random.Next(1, 60)),
                _ => TimeSpan.FromSeconds(random.Next(1, 90)),
            };
            var at = random.Next(8) == 0 ? t - TimeSpan.FromMinutes(random.Next(1, 2000)) : t;
            switch (random.Next(3))
            {
                case 0:
                    var state = states[random.Next(states.Length)];
                    ledger.Status(at, state);
                    reference.Status(at, state);
                    break;
                case 1:
                    var good = random.Next(0, 50);
                    var scrap = random.Next(0, 3);
                    ledger.Parts(at, good, scrap);
                    reference.Parts(at, good, scrap);
                    break;
                default:
                    ledger.Heard(at, OfflineAfter);
                    reference.Heard(at, OfflineAfter);
                    break;
            }

            var held = Enumerable.Range(0, OeeLedger.Slots)
                .Where(p => reference.Bucket[p] != 0)
                .Select(p => new OeeSlot { Bucket = (int)(reference.Bucket[p] - 1), RunMs = reference.RunMs[p], DownMs = reference.DownMs[p], IdleMs = reference.IdleMs[p], Good = reference.Good[p], Scrap = reference.Scrap[p] });
            Assert.Equal(held, ledger.Buckets);

            if (i % 50 == 0)
            {
                foreach (var hours in new[] { 0.25, 1, 8, 24, 30 })
                {
                    var to = t.AddMinutes(random.Next(0, 20));
                    var from = to - TimeSpan.FromHours(hours);
                    Assert.Equal(reference.Sum(from, to, OfflineAfter), ledger.Sum(from, to, OfflineAfter));
                }

                Assert.True(ledger.Buckets.Length <= OeeLedger.Slots);
            }
        }
    }
}

/// <summary>The OEE ledger as it was with six columns of 96 (the oracle for <see cref="OeeLedgerTests"/>).</summary>
internal sealed class ReferenceOeeLedger
{
    private const int Slots = OeeLedger.Slots;
    private static readonly TimeSpan Width = OeeLedger.Width;

    /// <summary>Per slot: the absolute bucket number it holds, plus one (0 = empty).</summary>
    public long[] Bucket { get; set; } = new long[Slots];
    public int[] RunMs { get; set; } = new int[Slots];
    public int[] DownMs { get; set; } = new int[Slots];
    public int[] IdleMs { get; set; } = new int[Slots];
    public int[] Good { get; set; } = new int[Slots];
    public int[] Scrap { get; set; } = new int[Slots];

    /// <summary>The run state being timed, since <see cref="Since"/>.</summary>
    public MachineRunState? State { get; set; }
    public DateTimeOffset? Since { get; set; }

    /// <summary>Event time of the newest message: a gap longer than the offline timeout is not timed.</summary>
    public DateTimeOffset? LastHeard { get; set; }

    /// <summary>When timing began (the first status): windows start no earlier, since nothing is known before.</summary>
    public DateTimeOffset? FirstTimed { get; set; }

    private static long BucketOf(DateTimeOffset t) => OeeLedger.BucketOf(t);

    private static DateTimeOffset StartOf(long bucket) => OeeLedger.StartOf(bucket);

    /// <summary>Any message at event time <paramref name="t"/>: closes an unheard gap longer than <paramref name="offlineAfter"/>.</summary>
    public void Heard(DateTimeOffset t, TimeSpan offlineAfter)
    {
        if (LastHeard is { } last && t <= last)
        {
            return;
        }

        if (State is { } state && Since is { } since && LastHeard is { } heard && t - heard > offlineAfter)
        {
            // Nothing was heard for a while: the state is timed up to the offline point only.
            AddTime(state, since, heard + offlineAfter);
            Since = t;
        }

        LastHeard = t;
    }

    /// <summary>A status message: times the previous state up to <paramref name="t"/>, then times the new one.</summary>
    public void Status(DateTimeOffset t, MachineRunState state)
    {
        if (Since is { } since)
        {
            if (t < since)
            {
                return; // late: the interval it would split is already accounted
            }

            AddTime(State!.Value, since, t);
        }

        State = state;
        Since = t;
        if (FirstTimed is null || t < FirstTimed)
        {
            FirstTimed = t;
        }

        if (LastHeard is null || t > LastHeard)
        {
            LastHeard = t;
        }
    }

    public void Parts(DateTimeOffset t, long good, long scrap)
    {
        if (SlotOf(BucketOf(t)) is { } slot)
        {
            Good[slot] = (int)Math.Min(int.MaxValue, Good[slot] + good);
            Scrap[slot] = (int)Math.Min(int.MaxValue, Scrap[slot] + scrap);
        }
    }

    /// <summary>Sums the window [<paramref name="from"/>, <paramref name="to"/>), prorating partly covered buckets and timing the open state up to <paramref name="to"/>.</summary>
    public LedgerTotals Sum(DateTimeOffset from, DateTimeOffset to, TimeSpan offlineAfter)
    {
        double run = 0, down = 0, idle = 0, good = 0, scrap = 0;
        for (var slot = 0; slot < Slots; slot++)
        {
            if (Bucket[slot] == 0)
            {
                continue;
            }

            // What a bucket holds happened between the first and the newest event it can contain:
            // the current bucket is spread over its elapsed part only, the first over its timed part.
            var start = StartOf(Bucket[slot] - 1);
            var end = start + Width;
            var dataFrom = FirstTimed is { } first && first > start ? first : start;
            var dataTo = LastHeard is { } last && last < end ? last : end;
            double share;
            if (dataTo > dataFrom)
            {
                share = Overlap(dataFrom, dataTo, from, to).TotalMilliseconds / (dataTo - dataFrom).TotalMilliseconds;
            }
            else
            {
                share = Overlap(start, end, from, to) > TimeSpan.Zero || (from <= dataFrom && dataFrom <= to) ? 1 : 0;
            }

            if (share <= 0)
            {
                continue;
            }

            run += RunMs[slot] * share;
            down += DownMs[slot] * share;
            idle += IdleMs[slot] * share;
            good += Good[slot] * share;
            scrap += Scrap[slot] * share;
        }

        if (State is { } state && Since is { } since && LastHeard is { } heard)
        {
            var end = heard + offlineAfter < to ? heard + offlineAfter : to;
            var open = Overlap(since, end, from, to).TotalMilliseconds;
            if (open > 0)
            {
                switch (state)
                {
                    case MachineRunState.Running: run += open; break;
                    case MachineRunState.Down: down += open; break;
                    default: idle += open; break;
                }
            }
        }

        return new LedgerTotals(run / 1000, down / 1000, idle / 1000, (long)Math.Round(good), (long)Math.Round(scrap));
    }

    private void AddTime(MachineRunState state, DateTimeOffset from, DateTimeOffset to)
    {
        for (var bucket = BucketOf(from); from < to; bucket++)
        {
            var end = StartOf(bucket + 1) < to ? StartOf(bucket + 1) : to;
            var ms = (int)(end - from).TotalMilliseconds;
            if (SlotOf(bucket) is { } slot)
            {
                var column = state switch
                {
                    MachineRunState.Running => RunMs,
                    MachineRunState.Down => DownMs,
                    _ => IdleMs,
                };
                column[slot] = Math.Min((int)Width.TotalMilliseconds, column[slot] + ms);
            }

            from = end;
        }
    }

    /// <summary>The slot holding <paramref name="bucket"/>, claiming it if it holds an older one; null when the bucket is older than the slot's.</summary>
    private int? SlotOf(long bucket)
    {
        var slot = (int)(bucket % Slots);
        if (Bucket[slot] == bucket + 1)
        {
            return slot;
        }

        if (Bucket[slot] > bucket + 1)
        {
            return null; // more than a day older than what the slot holds
        }

        Bucket[slot] = bucket + 1;
        RunMs[slot] = DownMs[slot] = IdleMs[slot] = Good[slot] = Scrap[slot] = 0;
        return slot;
    }

    private static TimeSpan Overlap(DateTimeOffset aFrom, DateTimeOffset aTo, DateTimeOffset bFrom, DateTimeOffset bTo) => OeeLedger.Overlap(aFrom, aTo, bFrom, bTo);
}


