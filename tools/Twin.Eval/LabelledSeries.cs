using System.Globalization;

namespace Twin.Eval;

/// <summary>A labelled window of event time (inclusive).</summary>
public readonly record struct Window(DateTimeOffset Start, DateTimeOffset End);

/// <summary>
/// One labelled multi-sensor series, replayed as one machine: a row is one telemetry message with
/// every sensor's value at that event time.
/// </summary>
/// <param name="ScoredFrom">Rows before this index are replayed (the detector learns from them) but not scored.</param>
/// <param name="AnomalyWindows">Labelled anomalous stretches (runs of anomalous rows).</param>
/// <param name="ChangepointWindows">NAB scoring windows: around labelled changepoints (SKAB), else the anomaly windows.</param>
public sealed record LabelledSeries(
    string Name,
    IReadOnlyList<DateTimeOffset> Times,
    IReadOnlyList<string> Sensors,
    IReadOnlyList<double[]> Rows,
    IReadOnlyList<bool> Anomalous,
    int ScoredFrom,
    IReadOnlyList<Window> AnomalyWindows,
    IReadOnlyList<Window> ChangepointWindows);

public enum DataFormat
{
    /// <summary>SKAB: ';' separated, a <c>datetime</c> column, sensors, <c>anomaly</c> and <c>changepoint</c> columns.</summary>
    Skab,

    /// <summary>A time column first, numeric sensor columns, a 0/1 column named label, anomaly or is_anomaly.</summary>
    Generic,
}

public static class SeriesReader
{
    /// <summary>SKAB's own evaluation: the first 400 rows of each file are the training part, and NAB windows run 60 s to the right of each changepoint.</summary>
    public const int SkabTrainRows = 400;

    public static readonly TimeSpan SkabWindow = TimeSpan.FromSeconds(60);

    public static IReadOnlyList<LabelledSeries> ReadFolder(string folder, DataFormat format)
    {
        var files = Directory.EnumerateFiles(folder, "*.csv", SearchOption.AllDirectories)
            .Where(f => format != DataFormat.Skab || !Path.GetFileName(f).Contains("anomaly-free", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal)
            .ToList();
        return [.. files.Select(f => Read(f, Path.GetRelativePath(folder, f), format)).Where(s => s.Times.Count > 0)];
    }

    public static LabelledSeries Read(string path, string name, DataFormat format)
    {
        var lines = File.ReadAllLines(path);
        if (lines.Length < 2)
        {
            return new LabelledSeries(name, [], [], [], [], 0, [], []);
        }

        var separator = format == DataFormat.Skab ? ';' : Separator(lines[0]);
        var header = lines[0].Split(separator).Select(h => h.Trim().Trim('"')).ToArray();
        var labelColumn = Array.FindIndex(header, h => h.Equals("anomaly", StringComparison.OrdinalIgnoreCase) || h.Equals("label", StringComparison.OrdinalIgnoreCase) || h.Equals("is_anomaly", StringComparison.OrdinalIgnoreCase));
        var changeColumn = Array.FindIndex(header, h => h.Equals("changepoint", StringComparison.OrdinalIgnoreCase));
        if (labelColumn < 0)
        {
            Console.Error.WriteLine($"{name}: skipped, no label column (anomaly, label or is_anomaly)");
            return new LabelledSeries(name, [], [], [], [], 0, [], []);
        }

        var sensorColumns = Enumerable.Range(1, header.Length - 1).Where(c => c != labelColumn && c != changeColumn).ToArray();
        var times = new List<DateTimeOffset>();
        var rows = new List<double[]>();
        var anomalous = new List<bool>();
        var changepoints = new List<int>();
        foreach (var line in lines.Skip(1))
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            var cells = line.Split(separator);
            if (!DateTimeOffset.TryParse(cells[0].Trim('"'), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time))
            {
                throw new FormatException($"{name}: '{cells[0]}' is not a time");
            }

            var values = new double[sensorColumns.Length];
            for (var i = 0; i < sensorColumns.Length; i++)
            {
                values[i] = sensorColumns[i] < cells.Length && double.TryParse(cells[sensorColumns[i]], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : double.NaN;
            }

            if (changeColumn >= 0 && changeColumn < cells.Length && Flag(cells[changeColumn]))
            {
                changepoints.Add(times.Count);
            }

            times.Add(time);
            rows.Add(values);
            anomalous.Add(labelColumn < cells.Length && Flag(cells[labelColumn]));
        }

        var scoredFrom = format == DataFormat.Skab ? Math.Min(SkabTrainRows, times.Count) : 0;
        var anomalyWindows = Runs(times, anomalous, scoredFrom);
        IReadOnlyList<Window> cpWindows = format == DataFormat.Skab
            ? SkabWindows(times, changepoints.Where(c => c >= scoredFrom).ToList())
            : anomalyWindows;
        var sensors = sensorColumns.Select(c => SensorName(header[c])).ToArray();
        return new LabelledSeries(name, times, sensors, rows, anomalous, scoredFrom, anomalyWindows, cpWindows);
    }

    private static char Separator(string header) => header.Count(c => c == ';') > header.Count(c => c == ',') ? ';' : ',';

    private static bool Flag(string cell) => double.TryParse(cell.Trim('"'), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= 0.5;

    /// <summary>A sensor name the API takes: letters, digits, '_', '-', '.'.</summary>
    public static string SensorName(string header)
    {
        var name = new string([.. header.Select(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' ? c : '_')]).Trim('_');
        return name.Length == 0 ? "value" : name.Length > 64 ? name[..64] : name;
    }

    private static List<Window> Runs(List<DateTimeOffset> times, List<bool> flags, int from)
    {
        var windows = new List<Window>();
        int? start = null;
        for (var i = from; i <= times.Count; i++)
        {
            var on = i < times.Count && flags[i];
            if (on && start is null)
            {
                start = i;
            }
            else if (!on && start is { } s)
            {
                windows.Add(new Window(times[s], times[i - 1]));
                start = null;
            }
        }

        return windows;
    }

    /// <summary>
    /// SKAB's windows (its TSAD <c>chp_score</c> with <c>window_width='60s'</c>,
    /// <c>anomaly_window_destination='righter'</c>): [changepoint, changepoint + 60 s]; where two
    /// overlap the right one starts where the left one ends ("cut right window").
    /// </summary>
    private static List<Window> SkabWindows(List<DateTimeOffset> times, List<int> changepoints)
    {
        var windows = changepoints.Select(c => new Window(times[c], times[c] + SkabWindow)).ToList();
        for (var i = 0; i + 1 < windows.Count; i++)
        {
            if (windows[i].End >= windows[i + 1].Start)
            {
                windows[i + 1] = windows[i + 1] with { Start = windows[i].End };
            }
        }

        return windows;
    }
}
