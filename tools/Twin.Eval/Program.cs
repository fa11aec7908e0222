using System.Diagnostics;
using System.Globalization;
using Twin.Eval;

// Replays folders of labelled series through the product and scores what it makes of them.
// See docs/ANALYTICS.md ("Evaluation on labelled data") for the figures and how to get data.

// Ctrl-C stops the gateway and removes its temporary folder.
Interrupt.Enable();

if (args.Length == 0 || args[0].StartsWith("--", StringComparison.Ordinal))
{
    Console.Error.WriteLine("""
        usage: dotnet run --project tools/Twin.Eval -- <folder of labelled CSVs> [--format skab|generic]
               [--threshold 0.5] [--direct] [--set Twin:Machine:Analytics:Setting=value ...]
          skab:    SKAB's files (';', datetime, sensors, anomaly, changepoint); the first 400 rows of
                   each file are learned but not scored, NAB windows run 60 s right of each changepoint.
          generic: time column first, sensor columns, a 0/1 label column (label, anomaly or is_anomaly);
                   the label runs are the windows.
          --direct runs the twin's rules in this process instead of through a gateway (same scores, quick).
        """);
    return 2;
}

var folder = args[0];
DataFormat? format = null;
var threshold = 0.5;
var direct = false;
var settings = new Dictionary<string, string>();
for (var i = 1; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--format" when i + 1 < args.Length:
            format = Enum.Parse<DataFormat>(args[++i], ignoreCase: true);
            break;
        case "--threshold" when i + 1 < args.Length:
            threshold = double.Parse(args[++i], CultureInfo.InvariantCulture);
            break;
        case "--direct":
            direct = true;
            break;
        case "--set" when i + 1 < args.Length && args[i + 1].Contains('=', StringComparison.Ordinal):
            var pair = args[++i].Split('=', 2);
            settings[pair[0]] = pair[1];
            break;
        default:
            Console.Error.WriteLine($"unknown argument '{args[i]}'");
            return 2;
    }
}

if (!Directory.Exists(folder))
{
    Console.Error.WriteLine($"no folder {folder}");
    return 2;
}

format ??= Directory.EnumerateFiles(folder, "*.csv", SearchOption.AllDirectories).Select(f => File.ReadLines(f).FirstOrDefault() ?? "")
    .Any(header => header.Contains("changepoint", StringComparison.OrdinalIgnoreCase) && header.Contains(';', StringComparison.Ordinal)) ? DataFormat.Skab : DataFormat.Generic;
var series = SeriesReader.ReadFolder(folder, format.Value);
if (series.Count == 0)
{
    Console.Error.WriteLine($"no labelled CSV files in {folder}");
    return 2;
}

var variant = format == DataFormat.Skab ? NabVariant.Skab : NabVariant.Numenta;
Console.WriteLine($"# Twin.Eval: {series.Count} series, {series.Sum(s => s.Times.Count):N0} rows, format {format}, threshold {threshold}, {(direct ? "direct (in-process rules)" : "through the HTTP API of a gateway process")}");
Console.WriteLine();

var clock = Stopwatch.StartNew();
var results = new List<(LabelledSeries Series, ReplayResult Result)>();
if (direct)
{
    var options = new Twin.Grains.Domain.MachineTwinOptions();
    Bind(options, settings);
    foreach (var s in series)
    {
        results.Add((s, DirectReplay.Replay(s, options)));
    }
}
else
{
    await using var gateway = await GatewayReplay.StartAsync(Console.Out, settings);
    for (var i = 0; i < series.Count; i++)
    {
        results.Add((series[i], await gateway.ReplayAsync(series[i], $"m{i + 1:000}", CancellationToken.None)));
    }
}

var total = new SeriesFigures { Name = "all" };
Console.WriteLine("| series | rows | windows | detected | alarms | false / 1k | delay s | tickets (in / out) | still open | overrun rows | NAB std |");
Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
foreach (var (s, result) in results)
{
    var f = Evaluation.Measure(s, result, threshold, variant);
    total.Add(f);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {s.Name} | {f.Rows} | {f.Windows} | {f.DetectedWindows} | {f.Alarms} | {f.FalseAlarmsPer1000:0.0} | {Median(f.DelaySeconds)} | {f.TicketsInWindows} / {f.TicketsOutside} | {f.StillOpen} | {f.TicketOverrunRows} | {f.NabCrossings.Normalised(0):0.0} |"));
}

Console.WriteLine();
Console.WriteLine($"## Overall ({clock.Elapsed.TotalSeconds:0} s)");
Console.WriteLine();
var scoring = variant == NabVariant.Skab ? "SKAB's TSAD scoring (tanh curve, flat A_FP), its windows" : "Numenta's scoring (scaled sigmoid)";
Console.WriteLine("| NAB-style score | standard | lowFP | lowFN | TP | FP | FN |");
Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
Row($"alarms = score crossings ≥ {threshold}, {scoring}", total.NabCrossings);
Row($"SKAB's convention: both edges of score ≥ {threshold}, {scoring}", total.NabEdges);
Row($"alarms = tickets opened, {scoring}", total.NabTickets);
if (variant == NabVariant.Skab)
{
    Row($"alarms = score crossings ≥ {threshold}, Numenta's scaled sigmoid, same windows", total.NumentaCrossings);
}

Console.WriteLine();
Console.WriteLine("| figure | value |");
Console.WriteLine("|---|---:|");
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| labelled anomaly windows | {total.Windows} |"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| windows: precision / recall / F1 | {total.Precision:0.00} / {total.Recall:0.00} / {total.F1:0.00} |"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| false alarms per 1,000 readings | {total.FalseAlarmsPer1000:0.00} ({total.FalseAlarms} in {total.Rows:N0} rows) |"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| detection delay, median / mean | {Median(total.DelaySeconds)} s / {(total.DelaySeconds.Count == 0 ? "-" : total.DelaySeconds.Average().ToString("0.0", CultureInfo.InvariantCulture))} s ({Median(total.DelayRows.Select(r => (double)r).ToList())} rows median) |"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| tickets opened per labelled window | {(total.Windows == 0 ? 0 : total.TicketsInWindows / (double)total.Windows):0.00} ({total.TicketsInWindows} in windows, {total.TicketsOutside} outside) |"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| longest a ticket stayed open after its window ended | {total.TicketOverrunRows} rows ({total.TicketOverrunSeconds:0} s); {total.StillOpen} still open at the end of their series |"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| point-wise F1 / FAR % / MAR % (score ≥ {threshold} vs the anomaly label) | {total.PointF1:0.00} / {total.PointFar:0.00} / {total.PointMar:0.00} |"));
return 0;

static void Row(string name, NabSums sums) =>
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {sums.Normalised(0):0.00} | {sums.Normalised(1):0.00} | {sums.Normalised(2):0.00} | {sums.TruePositives} | {sums.FalsePositives} | {sums.FalseNegatives} |"));

static string Median(List<double> values)
{
    if (values.Count == 0)
    {
        return "-";
    }

    var sorted = values.Order().ToList();
    var m = sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    return m.ToString("0.#", CultureInfo.InvariantCulture);
}

// --direct takes the same Twin:Machine:Analytics:* settings as the gateway.
static void Bind(Twin.Grains.Domain.MachineTwinOptions options, Dictionary<string, string> settings)
{
    foreach (var (key, value) in settings)
    {
        const string Prefix = "Twin:Machine:Analytics:";
        if (!key.StartsWith(Prefix, StringComparison.Ordinal))
        {
            continue;
        }

        var property = typeof(Twin.Grains.Analytics.DetectorOptions).GetProperty(key[Prefix.Length..])
            ?? throw new ArgumentException($"no setting {key}");
        var parsed = property.PropertyType == typeof(TimeSpan)
            ? TimeSpan.Parse(value, CultureInfo.InvariantCulture)
            : Convert.ChangeType(value, property.PropertyType, CultureInfo.InvariantCulture);
        property.SetValue(options.Analytics, parsed);
    }
}
