namespace Twin.Eval;

/// <summary>A NAB application profile: weights of a true positive, a false positive and a false negative.</summary>
public sealed record NabProfile(string Name, double TruePositive, double FalsePositive, double FalseNegative)
{
    /// <summary>Lavin &amp; Ahmad (2015), as NAB and SKAB's TSAD use them.</summary>
    public static readonly NabProfile[] All =
    [
        new("standard", 1.0, 0.11, 1.0),
        new("lowFP", 1.0, 0.22, 1.0),
        new("lowFN", 1.0, 0.11, 2.0),
    ];
}

/// <summary>How a detection inside a window is rewarded by its position, and how false positives are charged.</summary>
public enum NabVariant
{
    /// <summary>
    /// Numenta's published scoring (Lavin &amp; Ahmad 2015, NAB's sweeper): the first detection in a
    /// window earns A_TP · σ(y)/σ(−1) with σ(y) = 2/(1 + e^{5y}) − 1 and y its position in the window
    /// from −1 (start) to 0 (end); a detection outside every window costs A_FP · σ(y) with y its
    /// distance past the previous window's end in window widths (−A_FP before the first window).
    /// </summary>
    Numenta,

    /// <summary>
    /// SKAB's TSAD (<c>chp_score(metric='nab')</c>, "improved" scale): the first detection in a window
    /// earns a tanh curve from A_TP at the window's start to −A_FP at its end; every detection
    /// outside the windows costs A_FP.
    /// </summary>
    Skab,
}

/// <summary>The raw NAB sums of one series (or several, added), per profile.</summary>
public sealed class NabSums
{
    public double[] Score { get; } = new double[NabProfile.All.Length];

    public double[] Null { get; } = new double[NabProfile.All.Length];

    public double[] Perfect { get; } = new double[NabProfile.All.Length];

    public int TruePositives { get; set; }

    public int FalsePositives { get; set; }

    public int FalseNegatives { get; set; }

    public void Add(NabSums other)
    {
        for (var p = 0; p < Score.Length; p++)
        {
            Score[p] += other.Score[p];
            Null[p] += other.Null[p];
            Perfect[p] += other.Perfect[p];
        }

        TruePositives += other.TruePositives;
        FalsePositives += other.FalsePositives;
        FalseNegatives += other.FalseNegatives;
    }

    /// <summary>100 · (score − null) / (perfect − null): 0 is the null detector, 100 the perfect one.</summary>
    public double Normalised(int profile) => Perfect[profile] == Null[profile] ? 0 : 100 * (Score[profile] - Null[profile]) / (Perfect[profile] - Null[profile]);
}

public static class Nab
{
    public static NabSums Score(IReadOnlyList<DateTimeOffset> times, IReadOnlyList<Window> windows, IReadOnlyList<int> detections, NabVariant variant)
    {
        var sums = new NabSums();
        var firstInWindow = new int?[windows.Count];
        var outside = new List<int>();
        foreach (var d in detections)
        {
            var t = times[d];
            var w = -1;
            for (var i = 0; i < windows.Count; i++)
            {
                if (t >= windows[i].Start && t <= windows[i].End)
                {
                    w = i;
                    break;
                }
            }

            if (w < 0)
            {
                outside.Add(d);
            }
            else
            {
                firstInWindow[w] ??= d;
            }
        }

        for (var p = 0; p < NabProfile.All.Length; p++)
        {
            var profile = NabProfile.All[p];
            double score = 0;
            for (var i = 0; i < windows.Count; i++)
            {
                if (firstInWindow[i] is { } d)
                {
                    score += variant == NabVariant.Numenta
                        ? profile.TruePositive * Sigmoid(NumentaPosition(times, windows[i], d)) / Sigmoid(-1)
                        : SkabCurve(times[d], windows[i], profile);
                }
                else
                {
                    score -= profile.FalseNegative;
                }
            }

            foreach (var d in outside)
            {
                score += variant == NabVariant.Numenta ? profile.FalsePositive * NumentaFalsePositive(times, windows, d) : -profile.FalsePositive;
            }

            sums.Score[p] = score;
            sums.Null[p] = -profile.FalseNegative * windows.Count;
            sums.Perfect[p] = profile.TruePositive * windows.Count;
        }

        sums.TruePositives = firstInWindow.Count(f => f is not null);
        sums.FalseNegatives = windows.Count - sums.TruePositives;
        sums.FalsePositives = outside.Count;
        return sums;
    }

    /// <summary>NAB's scaled sigmoid: 2/(1 + e^{5y}) − 1, and −1 beyond three window widths.</summary>
    public static double Sigmoid(double y) => y > 3 ? -1 : (2 / (1 + Math.Exp(5 * y))) - 1;

    /// <summary>Position of a detection in its window by rows, −1 at the first row to 0 past the last (NAB: −(right − i + 1)/width).</summary>
    private static double NumentaPosition(IReadOnlyList<DateTimeOffset> times, Window window, int d)
    {
        var (first, last) = Rows(times, window);
        var width = Math.Max(1, last - first + 1);
        return -(last - d + 1) / (double)width;
    }

    /// <summary>A false positive's weight factor (≤ 0): σ of its distance past the previous window in that window's widths; −1 before any window.</summary>
    private static double NumentaFalsePositive(IReadOnlyList<DateTimeOffset> times, IReadOnlyList<Window> windows, int d)
    {
        Window? previous = null;
        foreach (var window in windows)
        {
            if (window.End < times[d])
            {
                previous = window;
            }
        }

        if (previous is not { } p)
        {
            return -1;
        }

        var (first, last) = Rows(times, p);
        var width = Math.Max(1, last - first);
        return Sigmoid(Math.Abs(last - d) / (double)width);
    }

    private static (int First, int Last) Rows(IReadOnlyList<DateTimeOffset> times, Window window)
    {
        int first = -1, last = -1;
        for (var i = 0; i < times.Count; i++)
        {
            if (times[i] >= window.Start && times[i] <= window.End)
            {
                first = first < 0 ? i : first;
                last = i;
            }
        }

        return first < 0 ? (0, 0) : (first, last);
    }

    /// <summary>SKAB's <c>my_scale</c>: 1,000 steps of a tanh from A_TP down to −A_FP across the window.</summary>
    private static double SkabCurve(DateTimeOffset t, Window window, NabProfile profile)
    {
        const int Detail = 1000;
        var aTp = profile.TruePositive;
        var aFp = -profile.FalsePositive;
        var span = (window.End - window.Start).Ticks;
        var e = span <= 0 ? 0 : (int)((t - window.Start).Ticks / (double)span * Detail);
        e = Math.Min(e, Detail - 1);
        var x = -Math.PI / 2 + (Math.PI * e / (Detail - 1));
        return ((aTp - aFp) / 2 * -Math.Tanh(x) / Math.Tanh(Math.PI / 2)) + ((aTp - aFp) / 2) + aFp;
    }
}

/// <summary>Everything measured on one series (or added over several).</summary>
public sealed class SeriesFigures
{
    public string Name { get; init; } = "";

    public int Rows { get; set; }

    public int Windows { get; set; }

    public int DetectedWindows { get; set; }

    public int Alarms { get; set; }

    public int AlarmsInWindows { get; set; }

    public int FalseAlarms { get; set; }

    public List<double> DelaySeconds { get; } = [];

    public List<int> DelayRows { get; } = [];

    public int Tickets { get; set; }

    public int TicketsInWindows { get; set; }

    public int TicketsOutside { get; set; }

    /// <summary>Longest a ticket stayed open past the end of the window it opened in (or past its opening outside any), rows.</summary>
    public int TicketOverrunRows { get; set; }

    public double TicketOverrunSeconds { get; set; }

    public int StillOpen { get; set; }

    public long PointTp { get; set; }

    public long PointFp { get; set; }

    public long PointFn { get; set; }

    public long PointTn { get; set; }

    public NabSums NabCrossings { get; } = new();

    public NabSums NabEdges { get; } = new();

    public NabSums NabTickets { get; } = new();

    public NabSums NumentaCrossings { get; } = new();

    public double Recall => Windows == 0 ? 0 : DetectedWindows / (double)Windows;

    public double Precision => Alarms == 0 ? 0 : AlarmsInWindows / (double)Alarms;

    public double F1 => Precision + Recall == 0 ? 0 : 2 * Precision * Recall / (Precision + Recall);

    public double FalseAlarmsPer1000 => Rows == 0 ? 0 : 1000.0 * FalseAlarms / Rows;

    public double PointF1 => PointTp == 0 ? 0 : PointTp / (PointTp + ((PointFn + PointFp) / 2.0));

    public double PointFar => PointFp + PointTn == 0 ? 0 : 100.0 * PointFp / (PointFp + PointTn);

    public double PointMar => PointFn + PointTp == 0 ? 0 : 100.0 * PointFn / (PointFn + PointTp);

    public void Add(SeriesFigures o)
    {
        Rows += o.Rows;
        Windows += o.Windows;
        DetectedWindows += o.DetectedWindows;
        Alarms += o.Alarms;
        AlarmsInWindows += o.AlarmsInWindows;
        FalseAlarms += o.FalseAlarms;
        DelaySeconds.AddRange(o.DelaySeconds);
        DelayRows.AddRange(o.DelayRows);
        Tickets += o.Tickets;
        TicketsInWindows += o.TicketsInWindows;
        TicketsOutside += o.TicketsOutside;
        TicketOverrunRows = Math.Max(TicketOverrunRows, o.TicketOverrunRows);
        TicketOverrunSeconds = Math.Max(TicketOverrunSeconds, o.TicketOverrunSeconds);
        StillOpen += o.StillOpen;
        PointTp += o.PointTp;
        PointFp += o.PointFp;
        PointFn += o.PointFn;
        PointTn += o.PointTn;
        NabCrossings.Add(o.NabCrossings);
        NabEdges.Add(o.NabEdges);
        NabTickets.Add(o.NabTickets);
        NumentaCrossings.Add(o.NumentaCrossings);
    }
}

public static class Evaluation
{
    /// <summary>
    /// Alarms are the rows where the machine score crosses up through the threshold (the
    /// product's alarm: the score becomes abnormal). "Edges" are SKAB's convention for its
    /// baselines: every row where "score ≥ threshold" changes, both ways.
    /// </summary>
    public static SeriesFigures Measure(LabelledSeries series, ReplayResult result, double threshold, NabVariant variant)
    {
        var times = series.Times;
        var from = series.ScoredFrom;
        var crossings = new List<int>();
        var edges = new List<int>();
        for (var i = from; i < times.Count; i++)
        {
            var on = result.Scores[i] >= threshold;
            var before = i > 0 && result.Scores[i - 1] >= threshold;
            if (on && !before)
            {
                crossings.Add(i);
            }

            // SKAB: prediction_cp = |diff(prediction)|, its first test row = the prediction there.
            if (i == from ? on : on != before)
            {
                edges.Add(i);
            }
        }

        var f = new SeriesFigures { Name = series.Name, Rows = times.Count - from, Windows = series.AnomalyWindows.Count, Alarms = crossings.Count };
        foreach (var window in series.AnomalyWindows)
        {
            var first = crossings.Where(c => times[c] >= window.Start && times[c] <= window.End).Select(c => (int?)c).FirstOrDefault();
            if (first is { } c)
            {
                f.DetectedWindows++;
                f.DelaySeconds.Add((times[c] - window.Start).TotalSeconds);
                f.DelayRows.Add(c - IndexOf(times, window.Start));
            }
        }

        f.AlarmsInWindows = crossings.Count(c => series.AnomalyWindows.Any(w => times[c] >= w.Start && times[c] <= w.End));
        f.FalseAlarms = crossings.Count - f.AlarmsInWindows;

        for (var i = from; i < times.Count; i++)
        {
            var on = result.Scores[i] >= threshold;
            var truth = series.Anomalous[i];
            if (on && truth)
            {
                f.PointTp++;
            }
            else if (on)
            {
                f.PointFp++;
            }
            else if (truth)
            {
                f.PointFn++;
            }
            else
            {
                f.PointTn++;
            }
        }

        var ticketRows = new List<int>();
        foreach (var ticket in result.Tickets.Where(t => t.Opened >= times[from]))
        {
            f.Tickets++;
            var opened = IndexOf(times, ticket.Opened);
            ticketRows.Add(opened);
            var window = series.AnomalyWindows.Where(w => ticket.Opened >= w.Start && ticket.Opened <= w.End).Select(w => (Window?)w).FirstOrDefault();
            if (window is null)
            {
                f.TicketsOutside++;
            }
            else
            {
                f.TicketsInWindows++;
            }

            var end = window?.End ?? ticket.Opened;
            var closed = ticket.Cleared ?? times[^1];
            f.StillOpen += ticket.Cleared is null ? 1 : 0;
            var overrun = IndexOf(times, closed) - IndexOf(times, end);
            if (overrun > f.TicketOverrunRows)
            {
                f.TicketOverrunRows = overrun;
                f.TicketOverrunSeconds = (closed - end).TotalSeconds;
            }
        }

        f.NabCrossings.Add(Nab.Score(times, series.ChangepointWindows, crossings, variant));
        f.NabEdges.Add(Nab.Score(times, series.ChangepointWindows, edges, variant));
        f.NabTickets.Add(Nab.Score(times, series.ChangepointWindows, [.. ticketRows.Order()], variant));
        f.NumentaCrossings.Add(Nab.Score(times, series.ChangepointWindows, crossings, NabVariant.Numenta));
        return f;
    }

    private static int IndexOf(IReadOnlyList<DateTimeOffset> times, DateTimeOffset t)
    {
        var lo = 0;
        var hi = times.Count - 1;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (times[mid] < t)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }
}
