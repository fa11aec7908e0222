using System.Collections.Immutable;
using Twin.Grains.Domain;
using Twin.Products;
using Twin.Scheduling;
using Twin.WorkOrders;

namespace Twin.Grains.Products;

/// <summary>
/// The pure rules of engineering changes: what a change is allowed to say, which work order gets
/// which treatment, and what material an order still needs once its BOM changed.
/// </summary>
public static class EngineeringChangeRules
{
    public const int ChangesKept = 50;
    public const int EntriesKept = 20;

    /// <summary>
    /// Whether a revision effective at <paramref name="effective"/> applies to an order: it does when the
    /// order is due at or after the effectivity; an order without a due date is judged at <paramref name="now"/>.
    /// </summary>
    public static bool InEffect(DateTimeOffset effective, DateTimeOffset? due, DateTimeOffset now) => (due ?? now) >= effective;

    /// <summary>The material an order still needs: its BOM for the quantity not yet made, summed per bin and SKU.</summary>
    public static ImmutableArray<EngineeringChangeNeed> Remaining(ImmutableArray<BomLine> bom, long quantity, long good)
    {
        var left = Math.Max(0, quantity - good);
        return [.. (bom.IsDefault ? [] : bom)
            .GroupBy(b => (b.SourceBin, b.Sku))
            .Select(g => new EngineeringChangeNeed(g.Key.SourceBin, g.Key.Sku, g.Sum(b => b.QuantityPerUnit) * left))
            .OrderBy(n => n.Bin, StringComparer.Ordinal)
            .ThenBy(n => n.Sku, StringComparer.Ordinal)];
    }

    /// <summary>The material the order's made parts consumed under <paramref name="bom"/> (what the backflush issued for them).</summary>
    public static ImmutableArray<EngineeringChangeNeed> Consumed(ImmutableArray<BomLine> bom, long good) => Remaining(bom, good, 0);

    /// <summary>
    /// Applies a change to an order: not released → switched to the new BOM; released or in progress →
    /// flagged for a decision (the BOM stays); otherwise not affected. A change the order has taken before
    /// answers as it did.
    /// </summary>
    /// <returns>The answer, and true when the state changed.</returns>
    public static (EngineeringChangeAnswer Answer, bool Changed) Apply(WorkOrderState state, EngineeringChangeOrder change, DateTimeOffset now)
    {
        if (!state.Created)
        {
            return (NotAffected(state, "the work order does not exist"), false);
        }

        var definition = state.Definition!;
        var from = definition.Revision;
        if (state.EngineeringChanges.Find(e => e.ChangeId == change.ChangeId) is { } earlier)
        {
            // The first entry of a change is what it did: switched at once, or flagged (whatever was decided since).
            var treatment = earlier.Outcome == "switched" ? EngineeringChangeTreatment.Switched : EngineeringChangeTreatment.Flagged;
            return (new EngineeringChangeAnswer(treatment, state.Status, earlier.FromRevision, $"taken before: {earlier.Outcome}", Remaining(definition.Bom, definition.Quantity, state.Good)), false);
        }

        if (definition.Product != change.Product)
        {
            return (NotAffected(state, $"the order is of product {definition.Product}"), false);
        }

        if (state.Status is WorkOrderStatus.Completed or WorkOrderStatus.Cancelled)
        {
            return (NotAffected(state, state.Status == WorkOrderStatus.Completed ? "completed" : "cancelled"), false);
        }

        if (from == change.Revision)
        {
            return (NotAffected(state, $"already on revision {change.Revision}"), false);
        }

        if (!InEffect(change.Effective, definition.Due, change.At))
        {
            var when = definition.Due is { } due ? $"due {due:O}" : $"no due date, judged at the change's time {change.At:O}";
            return (NotAffected(state, $"{when}, before the revision's effectivity {change.Effective:O}"), false);
        }

        if (state.Status == WorkOrderStatus.Created)
        {
            Switch(state, change.ChangeId, change.Revision, change.Bom, "switched", null, now);
            var switched = state.Definition!;
            return (new EngineeringChangeAnswer(EngineeringChangeTreatment.Switched, state.Status, from, $"not released: switched from revision {from ?? "(none)"} to {change.Revision}", Remaining(switched.Bom, switched.Quantity, state.Good)), true);
        }

        state.PendingChange = new EngineeringChangePending(change.ChangeId, from, change.Revision, change.Bom, now);
        Record(state, new EngineeringChangeEntry(change.ChangeId, from, change.Revision, "flagged", now, null, state.Good, []));
        state.History.Add(new WorkOrderTransition(state.Status, state.Status, now, "plm", $"engineering change {change.ChangeId}: revision {change.Revision} waits for a decision"));
        state.Version++;
        return (new EngineeringChangeAnswer(EngineeringChangeTreatment.Flagged, state.Status, from, $"{StatusText(state.Status)}: keeps revision {from ?? "(none)"} until someone decides", Remaining(definition.Bom, definition.Quantity, state.Good)), true);
    }

    /// <summary>
    /// Decides the pending change: switch takes the new BOM for the parts not yet made (the parts made
    /// keep what was backflushed for them), keep leaves the BOM. Repeating the last decision is a no-op.
    /// </summary>
    /// <returns>True when the state changed.</returns>
    public static bool Decide(WorkOrderState state, bool switchBom, string? by, DateTimeOffset now)
    {
        if (!state.Created)
        {
            throw new TwinRuleException("workorder.not-found", "The work order has not been created.");
        }

        if (state.PendingChange is not { } pending)
        {
            var outcome = switchBom ? "switch" : "keep";
            if (state.EngineeringChanges.Count > 0 && state.EngineeringChanges[^1].Outcome == outcome)
            {
                return false;
            }

            throw new TwinRuleException("engineering-change.none-pending", "The work order has no engineering change waiting for a decision.");
        }

        if (switchBom)
        {
            Switch(state, pending.ChangeId, pending.ToRevision, pending.Bom, "switch", by, now);
        }
        else
        {
            Record(state, new EngineeringChangeEntry(pending.ChangeId, pending.FromRevision, pending.ToRevision, "keep", now, by, state.Good, []));
            state.History.Add(new WorkOrderTransition(state.Status, state.Status, now, by, $"engineering change {pending.ChangeId}: keeps revision {pending.FromRevision ?? "(none)"}"));
            state.Version++;
        }

        state.PendingChange = null;
        return true;
    }

    private static void Switch(WorkOrderState state, string changeId, string revision, ImmutableArray<BomLine> bom, string outcome, string? by, DateTimeOffset now)
    {
        var definition = state.Definition!;
        Record(state, new EngineeringChangeEntry(changeId, definition.Revision, revision, outcome, now, by, state.Good, definition.Bom));
        state.History.Add(new WorkOrderTransition(state.Status, state.Status, now, by ?? "plm", $"engineering change {changeId}: revision {definition.Revision ?? "(none)"} → {revision} with {state.Good} parts made"));
        state.Definition = definition with { Bom = bom, Revision = revision };
        state.Version++;
    }

    private static void Record(WorkOrderState state, EngineeringChangeEntry entry)
    {
        state.EngineeringChanges.Add(entry);
        if (state.EngineeringChanges.Count > EntriesKept)
        {
            state.EngineeringChanges.RemoveAt(0);
        }
    }

    private static EngineeringChangeAnswer NotAffected(WorkOrderState state, string note) =>
        new(EngineeringChangeTreatment.NotAffected, state.Status, state.Definition?.Revision, note, []);

    private static string StatusText(WorkOrderStatus status) => status == WorkOrderStatus.Released ? "released" : "in progress";

    /// <summary>The revision in effect at <paramref name="now"/>: the latest effectivity that has passed (the later recorded on a tie).</summary>
    public static ProductRevision? Current(IReadOnlyList<ProductRevision> revisions, DateTimeOffset now) =>
        revisions.Where(r => r.Effective <= now).OrderBy(r => r.Effective).ThenBy(r => r.Recorded).LastOrDefault();

    /// <summary>True when two changes say the same (a repeat of one change id must).</summary>
    public static bool Same(EngineeringChange a, EngineeringChange b) =>
        a.ChangeId == b.ChangeId && a.Product == b.Product && a.Revision == b.Revision && a.Effective == b.Effective
        && a.Reason == b.Reason && a.By == b.By
        && (a.Bom.IsDefault ? [] : a.Bom).SequenceEqual(b.Bom.IsDefault ? [] : b.Bom)
        && SameRouting(a.Routing, b.Routing);

    private static bool SameRouting(Twin.Scheduling.Routing? a, Twin.Scheduling.Routing? b) =>
        (a is null && b is null) || (a is not null && b is not null && a.Product == b.Product && a.Steps.Length == b.Steps.Length
            && a.Steps.Zip(b.Steps).All(p => p.First.Operation == p.Second.Operation && p.First.Setup == p.Second.Setup && p.First.RunPerPart == p.Second.RunPerPart
                && p.First.Name == p.Second.Name && p.First.Machines.SequenceEqual(p.Second.Machines)));

    /// <summary>The one-line summary of a change's outcome for the outbound event.</summary>
    public static string Summary(EngineeringChangeResult result)
    {
        var orders = result.Orders.Length == 0
            ? "no work orders known"
            : string.Join(", ", result.Orders.Select(o => $"{o.WorkOrder} {Treatment(o.Treatment)}"));
        return $"Engineering change {result.ChangeId}: {result.Product} revision {result.Revision} (effective {result.Effective:O}); {orders}";
    }

    public static string Treatment(EngineeringChangeTreatment treatment) => treatment switch
    {
        EngineeringChangeTreatment.Switched => "switched",
        EngineeringChangeTreatment.Flagged => "flagged",
        _ => "not affected",
    };

    /// <summary>Most machines one change is verified on.</summary>
    public const int MachinesVerified = 16;

    /// <summary>The machines whose KPIs verify a change: those of the product's routing, in step order, each once, at most <see cref="MachinesVerified"/>.</summary>
    public static List<string> Machines(Routing? routing) =>
        routing is null || routing.Steps.IsDefault
            ? []
            : [.. routing.Steps.SelectMany(s => s.Machines.IsDefault ? [] : s.Machines).Distinct(StringComparer.Ordinal).Take(MachinesVerified)];
}
