using System.Collections.Immutable;
using Twin.Machines;

namespace Twin.Grains.Domain;

/// <summary>
/// Where a machine's time and parts went, in 15-minute buckets over the last 24 hours of event
/// time: milliseconds running, down and idle, good and scrap parts. Small and fixed in size, so
/// OEE over any window of the last day is a sum, not a replay.
/// </summary>
[GenerateSerializer, Alias("twin.OeeLedger")]
public sealed class OeeLedger
{
    public const int Slots = 96;
    public static readonly TimeSpan Width = TimeSpan.FromMinutes(15);

    /// <summary>Per slot: the absolute bucket number it holds, plus one (0 = empty).</summary>
    [Id(0)] public long[] Bucket { get; set; } = new long[Slots];
    [Id(1)] public int[] RunMs { get; set; } = new int[Slots];
    [Id(2)] public int[] DownMs { get; set; } = new int[Slots];
    [Id(3)] public int[] IdleMs { get; set; } = new int[Slots];
    [Id(4)] public int[] Good { get; set; } = new int[Slots];
    [Id(5)] public int[] Scrap { get; set; } = new int[Slots];

    /// <summary>The run state being timed, since <see cref="Since"/>.</summary>
    [Id(6)] public MachineRunState? State { get; set; }
    [Id(7)] public DateTimeOffset? Since { get; set; }

    /// <summary>Event time of the newest message: a gap longer than the offline timeout is not timed.</summary>
    [Id(8)] public DateTimeOffset? LastHeard { get; set; }

    /// <summary>When timing began (the first status): windows start no earlier, since nothing is known before.</summary>
    [Id(9)] public DateTimeOffset? FirstTimed { get; set; }

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

    /// <summary>Each daily interval's occurrences (in UTC) on the days around [from, to).</summary>
    private static IEnumerable<(DateTimeOffset Start, DateTimeOffset End)> Occurrences(ShiftCalendar calendar, IEnumerable<(TimeOnly Start, TimeOnly End)> daily, DateTimeOffset from, DateTimeOffset to)
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
