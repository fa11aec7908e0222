using System.Collections.Immutable;
using Twin.Machines;

namespace Twin.Grains.Domain;

/// <summary>One 15-minute bucket of an <see cref="OeeLedger"/>: milliseconds by run state and parts.</summary>
[GenerateSerializer, Alias("twin.OeeSlot")]
public struct OeeSlot
{
    /// <summary>The absolute bucket number (<see cref="OeeLedger.BucketOf"/>; any instant's fits an int).</summary>
    [Id(0)] public int Bucket { get; set; }
    [Id(1)] public int RunMs { get; set; }
    [Id(2)] public int DownMs { get; set; }
    [Id(3)] public int IdleMs { get; set; }
    [Id(4)] public int Good { get; set; }
    [Id(5)] public int Scrap { get; set; }
}

/// <summary>
/// Where a machine's time and parts went, in 15-minute buckets over the last 24 hours of event
/// time: milliseconds running, down and idle, good and scrap parts. Bounded in size (at most
/// <see cref="Slots"/> buckets), so OEE over any window of the last day is a sum, not a replay.
/// </summary>
/// <remarks>
/// The day is a ring of <see cref="Slots"/> positions (bucket number modulo 96), but only the
/// positions in use are held, in position order: a machine timed for an hour holds four or five
/// buckets, not six columns of 96.
/// </remarks>
[GenerateSerializer, Alias("twin.OeeLedger")]
public sealed class OeeLedger
{
    public const int Slots = 96;
    public static readonly TimeSpan Width = TimeSpan.FromMinutes(15);

    [NonSerialized] private OeeSlot[] _slots = [];
    [NonSerialized] private LegacyColumns? _legacy;

    // State saved before the buckets were kept compactly had six columns of 96 (ids 0-5; the
    // bucket column holds the bucket number plus one, 0 = empty). Read, converted on first use, never written.
    [Id(0)] public long[]? LegacyBucket { get => null; set { if (value is not null) { Legacy.Bucket = value; } } }
    [Id(1)] public int[]? LegacyRunMs { get => null; set { if (value is not null) { Legacy.RunMs = value; } } }
    [Id(2)] public int[]? LegacyDownMs { get => null; set { if (value is not null) { Legacy.DownMs = value; } } }
    [Id(3)] public int[]? LegacyIdleMs { get => null; set { if (value is not null) { Legacy.IdleMs = value; } } }
    [Id(4)] public int[]? LegacyGood { get => null; set { if (value is not null) { Legacy.Good = value; } } }
    [Id(5)] public int[]? LegacyScrap { get => null; set { if (value is not null) { Legacy.Scrap = value; } } }

    /// <summary>The run state being timed, since <see cref="Since"/>.</summary>
    [Id(6)] public MachineRunState? State { get; set; }
    [Id(7)] public DateTimeOffset? Since { get; set; }

    /// <summary>Event time of the newest message: a gap longer than the offline timeout is not timed.</summary>
    [Id(8)] public DateTimeOffset? LastHeard { get; set; }

    /// <summary>When timing began (the first status): windows start no earlier, since nothing is known before.</summary>
    [Id(9)] public DateTimeOffset? FirstTimed { get; set; }

    /// <summary>The buckets in use, in ring position order (<c>Bucket % Slots</c>), at most one per position.</summary>
    [Id(10)]
    public OeeSlot[] Buckets
    {
        get => Current;
        set
        {
            _slots = value;
            _legacy = null;
        }
    }

    // Only a saved column starts a conversion: the compact form carries nulls in these ids.
    private LegacyColumns Legacy => _legacy ??= new();

    private OeeSlot[] Current
    {
        get
        {
            if (_legacy is { } legacy)
            {
                _legacy = null;
                _slots = legacy.ToSlots();
            }

            return _slots;
        }
    }

    public static long BucketOf(DateTimeOffset t) => t.UtcTicks / Width.Ticks;

    public static DateTimeOffset StartOf(long bucket) => new(bucket * Width.Ticks, TimeSpan.Zero);

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
        if (SlotOf(BucketOf(t)) is { } index)
        {
            ref var slot = ref _slots[index];
            slot.Good = (int)Math.Min(int.MaxValue, slot.Good + good);
            slot.Scrap = (int)Math.Min(int.MaxValue, slot.Scrap + scrap);
        }
    }

    /// <summary>Sums the window [<paramref name="from"/>, <paramref name="to"/>), prorating partly covered buckets and timing the open state up to <paramref name="to"/>.</summary>
    public LedgerTotals Sum(DateTimeOffset from, DateTimeOffset to, TimeSpan offlineAfter)
    {
        double run = 0, down = 0, idle = 0, good = 0, scrap = 0;
        foreach (var slot in Current)
        {
            // What a bucket holds happened between the first and the newest event it can contain:
            // the current bucket is spread over its elapsed part only, the first over its timed part.
            var start = StartOf(slot.Bucket);
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

            run += slot.RunMs * share;
            down += slot.DownMs * share;
            idle += slot.IdleMs * share;
            good += slot.Good * share;
            scrap += slot.Scrap * share;
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
            if (SlotOf(bucket) is { } index)
            {
                ref var slot = ref _slots[index];
                var full = (int)Width.TotalMilliseconds;
                switch (state)
                {
                    case MachineRunState.Running: slot.RunMs = Math.Min(full, slot.RunMs + ms); break;
                    case MachineRunState.Down: slot.DownMs = Math.Min(full, slot.DownMs + ms); break;
                    default: slot.IdleMs = Math.Min(full, slot.IdleMs + ms); break;
                }
            }

            from = end;
        }
    }

    /// <summary>
    /// The index in <see cref="_slots"/> of the bucket, claiming its ring position if that holds an
    /// older bucket (or nothing); null when the bucket is older than the one its position holds.
    /// </summary>
    private int? SlotOf(long bucket)
    {
        var slots = Current;
        var position = (int)(bucket % Slots);
        var index = 0;
        while (index < slots.Length && slots[index].Bucket % Slots < position)
        {
            index++;
        }

        if (index < slots.Length && slots[index].Bucket % Slots == position)
        {
            if (slots[index].Bucket == bucket)
            {
                return index;
            }

            if (slots[index].Bucket > bucket)
            {
                return null; // more than a day older than what the position holds
            }

            slots[index] = new OeeSlot { Bucket = (int)bucket };
            return index;
        }

        var grown = new OeeSlot[slots.Length + 1];
        Array.Copy(slots, grown, index);
        Array.Copy(slots, index, grown, index + 1, slots.Length - index);
        grown[index] = new OeeSlot { Bucket = (int)bucket };
        _slots = grown;
        return index;
    }

    private sealed class LegacyColumns
    {
        public long[]? Bucket { get; set; }
        public int[]? RunMs { get; set; }
        public int[]? DownMs { get; set; }
        public int[]? IdleMs { get; set; }
        public int[]? Good { get; set; }
        public int[]? Scrap { get; set; }

        public OeeSlot[] ToSlots()
        {
            var slots = new List<OeeSlot>();
            for (var i = 0; Bucket is not null && i < Bucket.Length; i++)
            {
                if (Bucket[i] != 0)
                {
                    slots.Add(new OeeSlot
                    {
                        Bucket = (int)(Bucket[i] - 1),
                        RunMs = At(RunMs, i),
                        DownMs = At(DownMs, i),
                        IdleMs = At(IdleMs, i),
                        Good = At(Good, i),
                        Scrap = At(Scrap, i),
                    });
                }
            }

            return [.. slots];
        }

        private static int At(int[]? column, int i) => column is not null && i < column.Length ? column[i] : 0;
    }

    internal static TimeSpan Overlap(DateTimeOffset aFrom, DateTimeOffset aTo, DateTimeOffset bFrom, DateTimeOffset bTo)
    {
        var start = aFrom > bFrom ? aFrom : bFrom;
        var end = aTo < bTo ? aTo : bTo;
        return end > start ? end - start : TimeSpan.Zero;
    }
}

/// <summary>Seconds by state and parts over a window.</summary>
public readonly record struct LedgerTotals(double RunSeconds, double DownSeconds, double IdleSeconds, long Good, long Scrap);

/// <summary>ISO 22400 OEE arithmetic and the shift calendar.</summary>
public static class OeeMath
{
    /// <summary>The rolling windows every OEE answer carries (the current shift comes first when there is one).</summary>
    public static readonly (string Name, TimeSpan Length)[] RollingWindows =
    [
        ("1h", TimeSpan.FromHours(1)),
        ("8h", TimeSpan.FromHours(8)),
        ("24h", TimeSpan.FromHours(24)),
    ];

    public static OeeFigures Figures(string window, DateTimeOffset from, DateTimeOffset to, LedgerTotals totals, double plannedSeconds, TimeSpan? idealCycleTime)
    {
        var produced = totals.Good + totals.Scrap;
        double? availability = plannedSeconds > 0 ? Math.Min(1, totals.RunSeconds / plannedSeconds) : null;
        double? performance = idealCycleTime is { } ideal && totals.RunSeconds > 0 ? ideal.TotalSeconds * produced / totals.RunSeconds : null;
        double? quality = produced > 0 ? (double)totals.Good / produced : null;
        double? oee = availability * performance * quality;
        return new OeeFigures(window, from, to, plannedSeconds, totals.RunSeconds, totals.DownSeconds, totals.IdleSeconds, totals.Good, totals.Scrap, availability, performance, quality, oee);
    }

    /// <summary>The windows of a machine at <paramref name="now"/>: the current shift (if any), then the rolling ones.</summary>
    public static ImmutableArray<OeeFigures> Windows(OeeLedger ledger, ShiftCalendar? calendar, TimeSpan? idealCycleTime, DateTimeOffset now, TimeSpan offlineAfter)
    {
        var result = ImmutableArray.CreateBuilder<OeeFigures>();
        if (CurrentShift(calendar, now) is { } shiftStart)
        {
            var from = Later(shiftStart, ledger.FirstTimed);
            result.Add(Figures("shift", from, now, ledger.Sum(from, now, offlineAfter), PlannedSeconds(calendar, from, now), idealCycleTime));
        }

        foreach (var (name, length) in RollingWindows)
        {
            // Nothing is known before timing began: that time is neither planned nor lost.
            var from = Later(now - length, ledger.FirstTimed);
            result.Add(Figures(name, from, now, ledger.Sum(from, now, offlineAfter), PlannedSeconds(calendar, from, now), idealCycleTime));
        }

        return result.ToImmutable();
    }

    private static DateTimeOffset Later(DateTimeOffset a, DateTimeOffset? b) => b is { } other && other > a ? other : a;

    /// <summary>Planned busy time in [from, to): inside shifts, outside planned stops. No calendar: all of it.</summary>
    public static double PlannedSeconds(ShiftCalendar? calendar, DateTimeOffset from, DateTimeOffset to)
    {
        if (to <= from)
        {
            return 0;
        }

        if (calendar is null || calendar.Shifts.IsDefaultOrEmpty)
        {
            return (to - from).TotalSeconds;
        }

        double planned = 0;
        foreach (var (start, end) in Occurrences(calendar, calendar.Shifts.Select(s => (s.Start, s.End)), from, to))
        {
            planned += OeeLedger.Overlap(start, end, from, to).TotalSeconds;
        }

        if (!calendar.Stops.IsDefaultOrEmpty)
        {
            foreach (var (start, end) in Occurrences(calendar, calendar.Stops.Select(s => (s.Start, s.End)), from, to))
            {
                planned -= OeeLedger.Overlap(start, end, from, to).TotalSeconds;
            }
        }

        return Math.Max(0, planned);
    }

    /// <summary>The start of the shift running at <paramref name="now"/>, if any.</summary>
    public static DateTimeOffset? CurrentShift(ShiftCalendar? calendar, DateTimeOffset now)
    {
        if (calendar is null || calendar.Shifts.IsDefaultOrEmpty)
        {
            return null;
        }

        return Occurrences(calendar, calendar.Shifts.Select(s => (s.Start, s.End)), now, now.AddTicks(1))
            .Where(o => o.Start <= now && now < o.End)
            .Select(o => (DateTimeOffset?)o.Start)
            .FirstOrDefault();
    }

    /// <summary>Each daily interval's occurrences (in UTC) on the days around [from, to); an interval that ends before it starts runs past midnight.</summary>
    public static IEnumerable<(DateTimeOffset Start, DateTimeOffset End)> Occurrences(ShiftCalendar calendar, IEnumerable<(TimeOnly Start, TimeOnly End)> daily, DateTimeOffset from, DateTimeOffset to)
    {
        var intervals = daily.ToList();
        var firstDay = DateOnly.FromDateTime(from.ToOffset(calendar.UtcOffset).DateTime).AddDays(-1);
        var lastDay = DateOnly.FromDateTime(to.ToOffset(calendar.UtcOffset).DateTime);
        for (var day = firstDay; day <= lastDay; day = day.AddDays(1))
        {
            foreach (var (start, end) in intervals)
            {
                var s = new DateTimeOffset(day.ToDateTime(start), calendar.UtcOffset);
                var e = new DateTimeOffset(day.ToDateTime(end), calendar.UtcOffset);
                if (e <= s)
                {
                    e = e.AddDays(1);
                }

                yield return (s.ToUniversalTime(), e.ToUniversalTime());
            }
        }
    }
}
