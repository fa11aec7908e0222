using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Twin.Factories;
using Twin.Grains.Infrastructure;
using Twin.Machines;
using Twin.Quality;
using Twin.WorkOrders;

namespace Twin.Grains.Quality;

/// <summary>
/// Root-cause ranking on whichever silo it runs (stateless, local): reads the inspection logs of
/// the machines concerned, each part's sensor statistics over its window from the history, and
/// the materials of the parts' work orders, then ranks them with <see cref="RootCauseRanking"/>.
/// An analysis on request, not a KPI: it reads as much as the parts need.
/// </summary>
[StatelessWorker]
internal sealed partial class RootCauseGrain(
    IHistoryReader history,
    IOptions<QualityOptions> options,
    ILogger<RootCauseGrain> logger) : Grain, IRootCauseGrain
{
    /// <summary>Most readings read per sensor and machine for one ranking.</summary>
    public const int MaxPointsPerSensor = 200_000;

    public async Task<RootCauseReport> RankAsync(RootCauseQuery query)
    {
        var min = options.Value.MinPartsPerGroup;
        var target = query.Characteristic is { } c ? $"characteristic {query.Machine}/{c}" : $"defect {query.Defect}";
        ImmutableArray<string> machines = query.Machine is { } one
            ? [one]
            : await GrainFactory.GetGrain<IFactoryGrain>(query.Factory).ListAsync(TwinKind.InspectionLog);
        var parts = new List<InspectionRecord>();
        foreach (var machine in machines)
        {
            parts.AddRange(await GrainFactory.GetGrain<IInspectionLogGrain>(TwinKey.Compose(query.Factory, machine)).ListAsync(query.From, query.To));
        }

        // First inspections only; for a characteristic the parts that measured it, for a defect code that code against parts that passed.
        var labelled = parts
            .Where(p => !p.Reinspection)
            .Select(p => (Part: p, Bad: Label(p, query)))
            .Where(p => p.Bad is not null)
            .Select(p => (p.Part, Bad: p.Bad!.Value))
            .ToList();
        var bad = labelled.Count(p => p.Bad);
        var good = labelled.Count - bad;
        if (bad < min || good < min)
        {
            return new RootCauseReport(query.Factory, target, query.From, query.To, bad, good, min, "not-enough-data",
                $"Not enough data: {bad} bad and {good} good parts; a ranking needs at least {min} of each (Twin:Quality:MinPartsPerGroup).", [], []);
        }

        var labels = labelled.Select(p => p.Bad).ToList();
        var records = labelled.Select(p => p.Part).ToList();
        var candidates = new List<RootCauseCandidate>();
        var notes = new List<string>();
        Categories(candidates, "machine", records.Select(r => (string?)r.Machine).ToList(), "machine ");
        Categories(candidates, "workOrder", records.Select(r => r.WorkOrder).ToList(), "work order ");
        await MaterialsAsync(query.Factory, records, candidates);
        await ParametersAsync(query.Factory, records, candidates, notes);

        var (factors, skipped) = RootCauseRanking.Rank(labels, candidates, min);
        var detail = $"{factors.Length} factors ranked by how strongly they separate {bad} bad from {good} good parts (AUC); {skipped.Length} skipped." + (notes.Count > 0 ? " " + string.Join(" ", notes) : "");
        return new RootCauseReport(query.Factory, target, query.From, query.To, bad, good, min, factors.IsEmpty ? "not-enough-data" : "ranked", detail, factors, skipped);
    }

    /// <summary>True bad, false good, null when the part is not compared.</summary>
    private static bool? Label(InspectionRecord part, RootCauseQuery query)
    {
        if (query.Characteristic is { } characteristic)
        {
            return part.Measurements.FirstOrDefault(m => m.Characteristic == characteristic) is { } measured ? measured.OutOfSpec : null;
        }

        return part.Defect == query.Defect ? true : part.Failed ? null : false;
    }

    /// <summary>One 0/1 candidate per level of a category that has more than one level among the parts.</summary>
    private static void Categories(List<RootCauseCandidate> candidates, string kind, IReadOnlyList<string?> levels, string prefix)
    {
        var distinct = levels.OfType<string>().Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (distinct.Count < 2)
        {
            return;
        }

        foreach (var level in distinct)
        {
            candidates.Add(new RootCauseCandidate(kind, prefix + level, kind == "machine" ? level : null, null, null, [.. levels.Select(l => l is null ? (double?)null : l == level ? 1 : 0)]));
        }
    }

    /// <summary>The materials of each part's work order (its BOM's SKU and source bin), where the order is known.</summary>
    private async Task MaterialsAsync(string factory, List<InspectionRecord> records, List<RootCauseCandidate> candidates)
    {
        var orders = new Dictionary<string, ImmutableArray<BomLine>>(StringComparer.Ordinal);
        foreach (var order in records.Select(r => r.WorkOrder).OfType<string>().Distinct(StringComparer.Ordinal))
        {
            try
            {
                orders[order] = (await GrainFactory.GetGrain<IWorkOrderGrain>(TwinKey.Compose(factory, order)).GetSnapshotAsync()).Definition.Bom;
            }
            catch (TwinRuleException)
            {
                // An order the twins do not know: its parts have no materials.
            }
        }

        var materials = records.Select(r => r.WorkOrder is { } o && orders.TryGetValue(o, out var bom) ? bom.Select(b => $"{b.Sku} from {b.SourceBin}").ToHashSet(StringComparer.Ordinal) : null).ToList();
        foreach (var material in materials.OfType<HashSet<string>>().SelectMany(m => m).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            candidates.Add(new RootCauseCandidate("material", "material " + material, null, null, null, [.. materials.Select(m => m is null ? (double?)null : m.Contains(material) ? 1 : 0)]));
        }
    }

    /// <summary>For every sensor of each machine: the mean and the maximum over each of its parts' windows.</summary>
    private async Task ParametersAsync(string factory, List<InspectionRecord> records, List<RootCauseCandidate> candidates, List<string> notes)
    {
        if (history.UnavailableReason is { } reason)
        {
            notes.Add($"Process parameters left out: {reason}");
            return;
        }

        foreach (var byMachine in records.Select((r, i) => (Record: r, Index: i)).GroupBy(r => r.Record.Machine, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var machine = byMachine.Key;
            MachineSnapshot snapshot;
            try
            {
                snapshot = await GrainFactory.GetGrain<IMachineGrain>(TwinKey.Compose(factory, machine)).GetSnapshotAsync();
            }
            catch (TwinRuleException)
            {
                continue;
            }

            var from = byMachine.Min(r => r.Record.Start);
            var to = byMachine.Max(r => r.Record.Time).AddTicks(10);
            foreach (var sensor in snapshot.Sensors.Select(s => s.Sensor).Where(s => !s.StartsWith('_')).Order(StringComparer.Ordinal))
            {
                List<Twin.History.HistoryRawPoint> points;
                try
                {
                    (points, var truncated) = await SensorWindowStatistics.ReadAsync(history, factory, machine, sensor, from, to, MaxPointsPerSensor);
                    if (truncated)
                    {
                        notes.Add($"{machine} {sensor}: only the first {MaxPointsPerSensor} readings were used.");
                    }
                }
                catch (Exception ex)
                {
                    LogHistoryFailed(ex, factory, machine, sensor);
                    notes.Add($"{machine} {sensor}: the history could not be read.");
                    continue;
                }

                var means = new double?[records.Count];
                var maxima = new double?[records.Count];
                foreach (var (record, index) in byMachine)
                {
                    if (SensorWindowStatistics.Summarise(points, record.Start, record.Time) is { } summary)
                    {
                        means[index] = summary.Mean;
                        maxima[index] = summary.Max;
                    }
                }

                candidates.Add(new RootCauseCandidate("parameter", $"{machine} {sensor} (mean)", machine, sensor, "mean", means));
                candidates.Add(new RootCauseCandidate("parameter", $"{machine} {sensor} (max)", machine, sensor, "max", maxima));
            }
        }
    }

    [LoggerMessage(EventId = TwinEvents.RootCauseGrainHistoryFailed, Level = LogLevel.Warning, Message = "Root cause in {Factory}: the history of {Machine} {Sensor} could not be read; the ranking goes on without it")]
    private partial void LogHistoryFailed(Exception exception, string factory, string machine, string sensor);
}
