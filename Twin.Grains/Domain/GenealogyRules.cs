using System.Collections.Immutable;
using Twin.Bins;
using Twin.Genealogy;
using Twin.Grains.Infrastructure;
using Twin.WorkOrders;

namespace Twin.Grains.Domain;

/// <summary>What a work order records of its making (part of <see cref="WorkOrderState"/>), bounded.</summary>
[GenerateSerializer, Alias("twin.GenealogyState")]
public sealed class GenealogyState
{
    /// <summary>The machines that reported parts, in the order they first did.</summary>
    [Id(0)] public List<GenealogyMachine> Machines { get; set; } = [];

    /// <summary>Reports from machines past <see cref="GenealogyRules.MachinesKept"/>: counted, not listed.</summary>
    [Id(1)] public long MachinesLeftOut { get; set; }

    /// <summary>The latest consumed movements, oldest first.</summary>
    [Id(2)] public List<GenealogyMovement> Movements { get; set; } = [];

    [Id(3)] public long MovementsTotal { get; set; }

    /// <summary>Totals per bin, SKU and lot, in the order first consumed.</summary>
    [Id(4)] public List<GenealogyMaterial> Materials { get; set; } = [];

    /// <summary>Lots the lot index has been told of (it is told once per lot and order).</summary>
    [Id(5)] public List<string> LotsTold { get; set; } = [];
}

/// <summary>
/// The bookkeeping of a work order's genealogy: each machine's processing window (first to last
/// part it reported for the order) and the material the bins answered for its backflush, with lots.
/// Pure: the work order twin persists it and tells the lot index through its outbox.
/// </summary>
public static class GenealogyRules
{
    /// <summary>Machines listed per order; reports of further machines are counted in <see cref="GenealogyState.MachinesLeftOut"/>.</summary>
    public const int MachinesKept = 50;

    /// <summary>Consumed movements listed per order (the latest); all are counted and summed in the material totals.</summary>
    public const int MovementsKept = 200;

    /// <summary>Material totals (bin, SKU, lot) per order; past it, further lots are summed as untracked of their bin and SKU.</summary>
    public const int MaterialsKept = 500;

    /// <summary>Lots remembered as told to their index; past it every use is told again (the index drops repeats).</summary>
    public const int LotsToldKept = 1000;

    /// <summary>Widens the window of <paramref name="report"/>'s machine (adds the machine on its first report).</summary>
    public static void Produced(GenealogyState state, ProductionReport report)
    {
        var i = state.Machines.FindIndex(m => m.Machine == report.Machine);
        if (i < 0)
        {
            if (state.Machines.Count >= MachinesKept)
            {
                state.MachinesLeftOut++;
                return;
            }

            state.Machines.Add(new GenealogyMachine(report.Machine, report.At, report.At, report.Good, report.Scrap, 1));
            return;
        }

        var m = state.Machines[i];
        state.Machines[i] = m with
        {
            FirstPart = report.At < m.FirstPart ? report.At : m.FirstPart,
            LastPart = report.At > m.LastPart ? report.At : m.LastPart,
            Good = m.Good + report.Good,
            Scrap = m.Scrap + report.Scrap,
            Reports = m.Reports + 1,
        };
    }

    /// <summary>
    /// Records a backflush issue the bin took, with the lots it drew; answers the lots the lot index
    /// must now hear of. A movement recorded already (among the kept ones) changes nothing.
    /// </summary>
    public static List<string> Consumed(GenealogyState state, string bin, string sku, StockMovement movement, ImmutableArray<LotQuantity> lots)
    {
        if (state.Movements.Exists(m => m.MovementId == movement.MovementId))
        {
            return [];
        }

        lots = lots.IsDefaultOrEmpty ? [new LotQuantity(null, movement.Quantity)] : lots;
        state.Movements.Add(new GenealogyMovement(movement.MovementId, bin, sku, movement.Quantity, movement.Timestamp, lots));
        if (state.Movements.Count > MovementsKept)
        {
            state.Movements.RemoveRange(0, state.Movements.Count - MovementsKept);
        }

        state.MovementsTotal++;
        var tell = new List<string>();
        foreach (var lot in lots)
        {
            var i = state.Materials.FindIndex(m => m.Bin == bin && m.Sku == sku && m.Lot == lot.Lot);
            if (i < 0 && state.Materials.Count >= MaterialsKept)
            {
                i = state.Materials.FindIndex(m => m.Bin == bin && m.Sku == sku && m.Lot is null);
            }

            if (i >= 0)
            {
                state.Materials[i] = state.Materials[i] with { Quantity = state.Materials[i].Quantity + lot.Quantity, Movements = state.Materials[i].Movements + 1 };
            }
            else
            {
                state.Materials.Add(new GenealogyMaterial(bin, sku, state.Materials.Count >= MaterialsKept ? null : lot.Lot, lot.Quantity, 1));
            }

            if (lot.Lot is { } told && !state.LotsTold.Contains(told))
            {
                tell.Add(told);
                if (state.LotsTold.Count < LotsToldKept)
                {
                    state.LotsTold.Add(told);
                }
            }
        }

        return tell;
    }

    /// <summary>
    /// For the work order's outbox: records a backflush issue its bin took (with the lots answered) and
    /// queues the lot index of every lot it used for the first time. False for any other message.
    /// </summary>
    public static bool Taken(WorkOrderState state, string workOrder, OutboxMessage message, object? answer, DateTimeOffset now)
    {
        if (message is not MovementMessage { Movement.Kind: MovementKind.Issue } issue || !issue.Movement.MovementId.StartsWith("bf:", StringComparison.Ordinal))
        {
            return false;
        }

        var movement = issue.Movement;
        var sku = state.Definition?.Bom.FirstOrDefault(l => l.SourceBin == issue.Bin && movement.MovementId.EndsWith(":" + l.Sku, StringComparison.Ordinal))?.Sku
            ?? movement.MovementId.Split(':')[^1];
        var lots = answer is LotMovementResult traced ? traced.Lots : [];
        var tell = Consumed(state.Genealogy, issue.Bin, sku, movement, lots);
        foreach (var lot in tell)
        {
            OutboxRules.Add(state.Outbox, $"lot-use:{lot}", new LotUseMessage(lot, new LotUse(workOrder, issue.Bin, sku, movement.Timestamp)), now);
        }

        state.Version++;
        return tell.Count > 0;
    }

    /// <summary>The record as the order answers it.</summary>
    public static GenealogyRecord ToRecord(string factory, string id, WorkOrderState state) => new(
        factory,
        id,
        state.Version,
        state.Status,
        state.Definition?.Product ?? "",
        [.. state.Genealogy.Machines],
        [.. state.Genealogy.Movements],
        state.Genealogy.MovementsTotal,
        [.. state.Genealogy.Materials],
        state.Genealogy.MachinesLeftOut);
}
