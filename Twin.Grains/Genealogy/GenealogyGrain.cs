using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Twin.Genealogy;
using Twin.Grains.Domain;
using Twin.Grains.Infrastructure;
using Twin.Grains.Quality;
using Twin.Machines;
using Twin.Quality;
using Twin.WorkOrders;

namespace Twin.Grains.Genealogy;

/// <summary>
/// A work order's genealogy on whichever silo it runs (stateless, local): the order's own record
/// (machines, windows, material with lots), and per machine the summary of every sensor over its
/// processing window, read from the history when asked (<see cref="SensorWindowStatistics"/>),
/// plus the parts its machines' inspection logs hold for the order. Nothing of it is stored.
/// </summary>
[StatelessWorker]
internal sealed partial class GenealogyGrain(
    IHistoryReader history,
    IOptions<MachineTwinOptions> machineOptions,
    ILogger<GenealogyGrain> logger) : Grain, IGenealogyGrain
{
    /// <summary>Most readings read per sensor and machine for one genealogy.</summary>
    public const int MaxPointsPerSensor = 200_000;

    /// <summary>Most part or batch ids listed.</summary>
    public const int PartsListed = 1000;

    public async Task<WorkOrderGenealogy> GetWorkOrderAsync(string factory, string workOrder)
    {
        var record = await GrainFactory.GetGrain<IWorkOrderGrain>(TwinKey.Compose(factory, workOrder)).GetGenealogyRecordAsync();
        var notes = new List<string>();
        var lead = machineOptions.Value.PartWindow;
        var machines = new List<GenealogyProcess>();
        var parts = new List<string>();
        foreach (var machine in record.Machines)
        {
            var (from, to) = GenealogyWindow.Of(machine, lead);
            machines.Add(await ProcessAsync(factory, machine, from, to, notes));
            await PartsAsync(factory, workOrder, machine.Machine, from, to, parts, notes);
        }

        if (record.MachinesLeftOut > 0)
        {
            notes.Add($"{record.MachinesLeftOut} reports came from machines beyond the first {GenealogyRules.MachinesKept}; they are counted but not listed.");
        }

        if (record.MovementsTotal > record.Movements.Length)
        {
            notes.Add($"Only the latest {record.Movements.Length} of {record.MovementsTotal} movements are listed; the material totals count them all.");
        }

        var bins = record.Materials.Select(m => m.Bin).Distinct(StringComparer.Ordinal).ToImmutableArray();
        var lots = record.Materials.Select(m => m.Lot).OfType<string>().Distinct(StringComparer.Ordinal).ToImmutableArray();
        return new WorkOrderGenealogy(
            factory, workOrder, record.Product, record.Status, record.Version, bins, lots, record.Materials, record.Movements, record.MovementsTotal,
            [.. machines], record.MachinesLeftOut, [.. parts.Distinct(StringComparer.Ordinal).Take(PartsListed)], [.. notes]);
    }

    private async Task<GenealogyProcess> ProcessAsync(string factory, GenealogyMachine machine, DateTimeOffset from, DateTimeOffset to, List<string> notes)
    {
        GenealogyProcess Result(ImmutableArray<GenealogySensor> sensors, string? note) =>
            new(machine.Machine, from, to, machine.Good, machine.Scrap, machine.Reports, sensors, note);

        if (history.UnavailableReason is { } reason)
        {
            return Result([], $"process conditions left out: {reason}");
        }

        MachineSnapshot snapshot;
        try
        {
            snapshot = await GrainFactory.GetGrain<IMachineGrain>(TwinKey.Compose(factory, machine.Machine)).GetSnapshotAsync();
        }
        catch (TwinRuleException)
        {
            return Result([], "the machine twin is not known: no sensors");
        }

        var sensors = new List<GenealogySensor>();
        var problems = new List<string>();
        foreach (var sensor in snapshot.Sensors.Where(s => !s.Sensor.StartsWith('_')).OrderBy(s => s.Sensor, StringComparer.Ordinal))
        {
            try
            {
                var (points, truncated) = await SensorWindowStatistics.ReadAsync(history, factory, machine.Machine, sensor.Sensor, from, to, MaxPointsPerSensor);
                if (truncated)
                {
                    problems.Add($"{sensor.Sensor}: only the first {MaxPointsPerSensor} readings were used");
                }

                if (SensorWindowStatistics.Summarise(points, from, to) is { } summary)
                {
                    sensors.Add(new GenealogySensor(sensor.Sensor, summary.Count, summary.Mean, summary.Min, summary.Max, summary.StdDev, sensor.Unit));
                }
            }
            catch (Exception ex)
            {
                LogHistoryFailed(ex, factory, machine.Machine, sensor.Sensor);
                problems.Add($"{sensor.Sensor}: the history could not be read");
            }
        }

        return Result([.. sensors], problems.Count > 0 ? string.Join("; ", problems) : null);
    }

    private async Task PartsAsync(string factory, string workOrder, string machine, DateTimeOffset from, DateTimeOffset to, List<string> parts, List<string> notes)
    {
        try
        {
            var records = await GrainFactory.GetGrain<IInspectionLogGrain>(TwinKey.Compose(factory, machine)).ListAsync(from, to);
            parts.AddRange(records.Where(r => r.WorkOrder == workOrder).Select(r => r.Part ?? r.Batch).OfType<string>());
        }
        catch (Exception ex)
        {
            LogPartsFailed(ex, factory, machine);
            notes.Add($"{machine}: its inspection log could not be read.");
        }
    }

    [LoggerMessage(EventId = TwinEvents.GenealogyGrainHistoryFailed, Level = LogLevel.Warning, Message = "Genealogy in {Factory}: the history of {Machine} {Sensor} could not be read; the genealogy goes on without it")]
    private partial void LogHistoryFailed(Exception exception, string factory, string machine, string sensor);

    [LoggerMessage(EventId = TwinEvents.GenealogyGrainPartsFailed, Level = LogLevel.Warning, Message = "Genealogy in {Factory}: the inspection log of {Machine} could not be read; its parts are left out")]
    private partial void LogPartsFailed(Exception exception, string factory, string machine);
}

/// <summary>A machine's processing window for an order. Pure.</summary>
public static class GenealogyWindow
{
    /// <summary>
    /// From <paramref name="lead"/> (<c>Twin:Machine:PartWindow</c>) before its first reported
    /// parts, which were being made before they were counted, to just after its last: [from, to).
    /// </summary>
    public static (DateTimeOffset From, DateTimeOffset To) Of(GenealogyMachine machine, TimeSpan lead) =>
        (machine.FirstPart - lead, machine.LastPart.AddTicks(10));
}
