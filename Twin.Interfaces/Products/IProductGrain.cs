using System.Collections.Immutable;
using Twin.Scheduling;
using Twin.WorkOrders;

namespace Twin.Products;

/// <summary>One revision of a product as PLM released it: its BOM, optionally its routing, and from when it applies.</summary>
/// <param name="Revision">The revision id, e.g. <c>B</c>.</param>
/// <param name="Bom">The material per good part (the same lines a work order carries).</param>
/// <param name="Routing">The operations, when the change gives them; null keeps the planner's routing.</param>
/// <param name="Effective">From when the revision applies: to orders due at or after it (orders without a due date: when the change is applied).</param>
/// <param name="ChangeId">The engineering change (ECO) that created the revision.</param>
[GenerateSerializer, Immutable, Alias("twin.ProductRevision")]
public sealed record ProductRevision(
    [property: Id(0)] string Revision,
    [property: Id(1)] ImmutableArray<BomLine> Bom,
    [property: Id(2)] Routing? Routing,
    [property: Id(3)] DateTimeOffset Effective,
    [property: Id(4)] string ChangeId,
    [property: Id(5)] string? Reason,
    [property: Id(6)] string? By,
    [property: Id(7)] DateTimeOffset Recorded);

/// <summary>An engineering change from PLM: a new revision of one product.</summary>
[GenerateSerializer, Immutable, Alias("twin.EngineeringChange")]
public sealed record EngineeringChange(
    [property: Id(0)] string ChangeId,
    [property: Id(1)] string Product,
    [property: Id(2)] string Revision,
    [property: Id(3)] DateTimeOffset Effective,
    [property: Id(4)] ImmutableArray<BomLine> Bom,
    [property: Id(5)] Routing? Routing,
    [property: Id(6)] string? Reason,
    [property: Id(7)] string? By);

/// <summary>What every source of engineering changes checks (HTTP, the product twin).</summary>
public static class EngineeringChangeLimits
{
    /// <summary>The most BOM lines of one revision.</summary>
    public const int MaxBomLines = 200;

    /// <summary>Field errors of a change, keyed by the HTTP request's field names (<c>bom[0].sourceBin</c>); empty when valid.</summary>
    public static Dictionary<string, string[]> Validate(EngineeringChange change)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        foreach (var (field, id) in new[] { ("changeId", change.ChangeId), ("product", change.Product), ("revision", change.Revision) })
        {
            if (!TwinKey.IsValidId(id, out var error))
            {
                errors[field] = [error];
            }
        }

        var bom = change.Bom.IsDefault ? [] : change.Bom;
        if (bom.Length == 0)
        {
            errors["bom"] = ["required: at least one line (the revision's material per good part)"];
        }
        else if (bom.Length > MaxBomLines)
        {
            errors["bom"] = [$"at most {MaxBomLines} lines"];
        }

        for (var i = 0; i < bom.Length && i < MaxBomLines; i++)
        {
            var line = bom[i];
            if (string.IsNullOrWhiteSpace(line?.Sku) || line.Sku.Length > 128)
            {
                errors[$"bom[{i}].sku"] = ["required, at most 128 characters"];
            }

            if (line is null || line.QuantityPerUnit <= 0)
            {
                errors[$"bom[{i}].quantityPerUnit"] = ["required, positive"];
            }

            if (!TwinKey.IsValidId(line?.SourceBin, out var binError))
            {
                errors[$"bom[{i}].sourceBin"] = [binError];
            }
        }

        if (change.Routing is { } routing)
        {
            var steps = routing.Steps.IsDefault ? [] : routing.Steps;
            if (steps.Length == 0)
            {
                errors["routing.steps"] = ["at least one step when a routing is given"];
            }

            for (var i = 0; i < steps.Length; i++)
            {
                var step = steps[i];
                if (string.IsNullOrWhiteSpace(step?.Operation))
                {
                    errors[$"routing.steps[{i}].operation"] = ["required"];
                }

                var machines = step is null || step.Machines.IsDefault ? [] : step.Machines;
                if (machines.Length == 0 || machines.Any(m => !TwinKey.IsValidId(m, out _)))
                {
                    errors[$"routing.steps[{i}].machines"] = ["at least one machine id"];
                }

                if (step is not null && (step.Setup < TimeSpan.Zero || step.RunPerPart <= TimeSpan.Zero))
                {
                    errors[$"routing.steps[{i}].runPerPart"] = ["positive, with a setup of zero or more"];
                }
            }
        }

        if (change.Reason is { Length: > 500 })
        {
            errors["reason"] = ["at most 500 characters"];
        }

        if (change.By is { Length: > 128 })
        {
            errors["by"] = ["at most 128 characters"];
        }

        return errors;
    }

}

/// <summary>What an engineering change did to one work order.</summary>
public enum EngineeringChangeTreatment
{
    /// <summary>Not released yet: the order now carries the new revision's BOM.</summary>
    Switched = 0,

    /// <summary>Released or in progress: the order keeps its BOM and waits for a decision (switch or keep).</summary>
    Flagged = 1,

    /// <summary>Untouched: completed, cancelled, due before the revision's effectivity, or already on it.</summary>
    NotAffected = 2,
}

/// <summary>Material of one bin an order still needs for its remaining quantity.</summary>
[GenerateSerializer, Immutable, Alias("twin.EngineeringChangeNeed")]
public sealed record EngineeringChangeNeed(
    [property: Id(0)] string Bin,
    [property: Id(1)] string Sku,
    [property: Id(2)] decimal Quantity);

/// <summary>One work order's treatment by an engineering change.</summary>
/// <param name="Status">The order's status when the change reached it.</param>
/// <param name="Note">Why (e.g. <c>completed</c>, <c>due before the effectivity</c>).</param>
/// <param name="Remaining">Material the order still needs per bin after the change (its BOM × quantity not yet made).</param>
[GenerateSerializer, Immutable, Alias("twin.EngineeringChangeOrderResult")]
public sealed record EngineeringChangeOrderResult(
    [property: Id(0)] string WorkOrder,
    [property: Id(1)] EngineeringChangeTreatment Treatment,
    [property: Id(2)] WorkOrderStatus Status,
    [property: Id(3)] string? FromRevision,
    [property: Id(4)] string Note,
    [property: Id(5)] ImmutableArray<EngineeringChangeNeed> Remaining);

/// <summary>What an engineering change did: the revision it created and every known order of the product.</summary>
[GenerateSerializer, Immutable, Alias("twin.EngineeringChangeResult")]
public sealed record EngineeringChangeResult(
    [property: Id(0)] string ChangeId,
    [property: Id(1)] string Product,
    [property: Id(2)] string Revision,
    [property: Id(3)] DateTimeOffset Effective,
    [property: Id(4)] DateTimeOffset At,
    [property: Id(5)] ImmutableArray<EngineeringChangeOrderResult> Orders);

/// <summary>A work order of the product as the product twin last heard of it.</summary>
[GenerateSerializer, Immutable, Alias("twin.ProductOrder")]
public sealed record ProductOrder(
    [property: Id(0)] string WorkOrder,
    [property: Id(1)] long Version,
    [property: Id(2)] WorkOrderStatus Status,
    [property: Id(3)] string? Revision);

/// <summary>The product twin's state.</summary>
/// <param name="Current">The revision in effect now (the latest whose effectivity has passed); null before any.</param>
/// <param name="Revisions">Every revision, oldest first.</param>
/// <param name="Changes">The engineering changes applied, newest first.</param>
[GenerateSerializer, Immutable, Alias("twin.ProductSnapshot")]
public sealed record ProductSnapshot(
    [property: Id(0)] string Factory,
    [property: Id(1)] string Product,
    [property: Id(2)] long Version,
    [property: Id(3)] string? Current,
    [property: Id(4)] ImmutableArray<ProductRevision> Revisions,
    [property: Id(5)] ImmutableArray<ProductOrder> Orders,
    [property: Id(6)] ImmutableArray<EngineeringChangeResult> Changes);

/// <summary>
/// The twin of a product, keyed <c>"{factory}/{product}"</c>: its revisions (BOM, routing, effectivity)
/// from PLM and the work orders of the product, which tell it of themselves through their outbox.
/// </summary>
[Alias("twin.IProductGrain")]
public interface IProductGrain : IGrainWithStringKey
{
    /// <summary>
    /// Records the change's revision and applies it to the product's work orders (idempotent by change
    /// id: a repeat answers the first result; the same id with other content throws
    /// <see cref="TwinRuleException"/> <c>engineering-change.id-reused</c>).
    /// </summary>
    [Alias("ApplyChange")]
    Task<EngineeringChangeResult> ApplyChangeAsync(EngineeringChange change);

    /// <summary>A work order of the product tells its status (an older version is ignored). Interleaves with a change being applied, which waits for the orders.</summary>
    [Alias("TrackOrder"), Orleans.Concurrency.AlwaysInterleave]
    Task TrackOrderAsync(ProductOrder order);

    /// <summary>The product's revisions, orders and changes; not found when nothing is known of it.</summary>
    [Alias("GetSnapshot")]
    Task<ProductSnapshot> GetSnapshotAsync();
}
