using System.Collections.Immutable;
using Twin.Bins;
using Twin.Grains.Infrastructure;
using Twin.WorkOrders;

namespace Twin.Grains.Domain;

[GenerateSerializer, Alias("twin.WorkOrderState")]
public sealed class WorkOrderState : IRegisteredState
{
    [Id(0)] public long Version { get; set; }
    [Id(1)] public bool Created { get; set; }
    [Id(2)] public WorkOrderStatus Status { get; set; }
    [Id(3)] public WorkOrderDefinition? Definition { get; set; }
    [Id(4)] public long Good { get; set; }
    [Id(5)] public long Scrap { get; set; }
    [Id(6)] public List<WorkOrderTransition> History { get; set; } = [];
    [Id(7)] public bool Registered { get; set; }
    [Id(8)] public string? DispatchedLine { get; set; }
    [Id(9)] public List<string> SeenReports { get; set; } = [];
    /// <summary>Backflush issues as saved before the one outbox: moved into <see cref="Outbox"/> on load.</summary>
    [Id(10)] public List<(string Bin, StockMovement Movement)> EarlierBackflush { get; set; } = [];
    [Id(11)] public List<BackflushShortfall> Shortfalls { get; set; } = [];

    /// <summary>External events as saved before the one outbox: moved into <see cref="Outbox"/> on load.</summary>
    [Id(12)] public List<Twin.Grains.Infrastructure.PendingEvent> EarlierOutbound { get; set; } = [];

    /// <summary>The factory KPIs have not yet taken a change worth reporting (status, due date, progress).</summary>
    [Id(13)] public bool KpiPending { get; set; }

    /// <summary>Backflush issues for the source bins and events for external systems, not yet taken (the order's persisted outbox).</summary>
    [Id(14)] public List<Twin.Grains.Infrastructure.OutboxEntry> Outbox { get; set; } = [];

    /// <summary>An engineering change waiting for a switch-or-keep decision (released or running orders).</summary>
    [Id(15)] public EngineeringChangePending? PendingChange { get; set; }

    /// <summary>What engineering changes did to the order, oldest first.</summary>
    [Id(16)] public List<EngineeringChangeEntry> EngineeringChanges { get; set; } = [];

    /// <summary>The order's genealogy as recorded so far: machines with windows, consumed material with lots (<see cref="GenealogyRules"/>).</summary>
    [Id(20)] public GenealogyState Genealogy { get; set; } = new();
}

/// <summary>The work order state machine: created → released → in progress → completed, or cancelled before completion.</summary>
public static class WorkOrderLifecycle
{
    public const int ShortfallsKept = 100;

    /// <summary>Moves what an order saved before the one outbox into <see cref="WorkOrderState.Outbox"/>; true when anything moved.</summary>
    public static bool Upgrade(WorkOrderState state)
    {
        var moved = OutboxRules.Upgrade(state.EarlierOutbound, state.Outbox);
        if (state.EarlierBackflush.Count > 0)
        {
            var issues = new List<OutboxEntry>();
            foreach (var (bin, movement) in state.EarlierBackflush)
            {
                OutboxRules.Add(issues, movement.MovementId, new MovementMessage(bin, movement), movement.Timestamp);
            }

            OutboxRules.Prepend(state.Outbox, issues);
            state.EarlierBackflush.Clear();
            moved = true;
        }

        return moved;
    }

    /// <summary>A backflush issue a bin refused (too little stock): kept on the order as a shortfall, not retried. False for any other message.</summary>
    public static bool Refused(WorkOrderState state, OutboxMessage message, string reason, DateTimeOffset now)
    {
        if (message is not MovementMessage { Movement.Kind: MovementKind.Issue } issue || !issue.Movement.MovementId.StartsWith("bf:", StringComparison.Ordinal))
        {
            return false;
        }

        state.Shortfalls.Add(new BackflushShortfall(issue.Bin, issue.Movement.MovementId.Split(':')[^1], issue.Movement.Quantity, reason, now));
        if (state.Shortfalls.Count > ShortfallsKept)
        {
            state.Shortfalls.RemoveAt(0);
        }

        state.Version++;
        return true;
    }

    private static readonly Dictionary<WorkOrderStatus, WorkOrderStatus[]> Allowed = new()
    {
        [WorkOrderStatus.Created] = [WorkOrderStatus.Released, WorkOrderStatus.Cancelled],
        [WorkOrderStatus.Released] = [WorkOrderStatus.InProgress, WorkOrderStatus.Cancelled],
        [WorkOrderStatus.InProgress] = [WorkOrderStatus.Completed, WorkOrderStatus.Cancelled],
        [WorkOrderStatus.Completed] = [],
        [WorkOrderStatus.Cancelled] = [],
    };

    public static bool CanMove(WorkOrderStatus from, WorkOrderStatus to) =>
        Allowed.TryGetValue(from, out var targets) && targets.Contains(to);

    public static IReadOnlyList<string> Validate(WorkOrderDefinition definition)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(definition.Product))
        {
            errors.Add("product: required");
        }

        if (definition.Quantity <= 0)
        {
            errors.Add("quantity: must be positive");
        }
        else if (definition.Quantity > WorkOrderLimits.MaxQuantity)
        {
            errors.Add($"quantity: at most {WorkOrderLimits.MaxQuantity}");
        }

        if (definition.Priority is < 1 or > 100)
        {
            errors.Add("priority: from 1 to 100");
        }

        if (definition.Line is not null && !TwinKey.IsValidId(definition.Line, out var lineError))
        {
            errors.Add($"line: {lineError}");
        }

        if (definition.Revision is not null && !TwinKey.IsValidId(definition.Revision, out var revisionError))
        {
            errors.Add($"revision: {revisionError}");
        }

        var bom = definition.Bom.IsDefault ? [] : definition.Bom;
        for (var i = 0; i < bom.Length; i++)
        {
            var line = bom[i];
            if (line is null)
            {
                errors.Add($"bom[{i}]: required");
                continue;
            }

            if (string.IsNullOrWhiteSpace(line.Sku))
            {
                errors.Add($"bom[{i}].sku: required");
            }

            if (line.QuantityPerUnit <= 0)
            {
                errors.Add($"bom[{i}].quantityPerUnit: must be positive");
            }

            if (!TwinKey.IsValidId(line.SourceBin, out var binError))
            {
                errors.Add($"bom[{i}].sourceBin: {binError}");
            }
        }

        return errors;
    }

    /// <summary>Creates the order, or replaces its definition while still created.</summary>
    /// <returns>True when anything changed.</returns>
    public static bool Create(WorkOrderState state, WorkOrderDefinition definition, DateTimeOffset now)
    {
        var errors = Validate(definition);
        if (errors.Count > 0)
        {
            throw new TwinRuleException("workorder.invalid", string.Join("; ", errors));
        }

        definition = definition with { Bom = definition.Bom.IsDefault ? [] : definition.Bom };
        if (state.Created)
        {
            if (SameDefinition(state.Definition!, definition))
            {
                return false;
            }

            if (state.Status != WorkOrderStatus.Created)
            {
                throw new TwinRuleException(
                    "workorder.illegal-transition",
                    $"The work order is {state.Status}; its definition can only change while it is Created.");
            }
        }

        state.Definition = definition;
        if (!state.Created)
        {
            state.Created = true;
            state.Status = WorkOrderStatus.Created;
            state.History.Add(new WorkOrderTransition(WorkOrderStatus.Created, WorkOrderStatus.Created, now, null, "created"));
        }

        state.Version++;
        return true;
    }

    /// <summary>Moves to <paramref name="target"/>. Moving to the current status is a no-op (idempotent retry).</summary>
    /// <returns>True when the status changed.</returns>
    public static bool Move(WorkOrderState state, WorkOrderStatus target, DateTimeOffset now, string? by, string? reason)
    {
        if (!state.Created)
        {
            throw new TwinRuleException("workorder.not-found", "The work order has not been created.");
        }

        if (state.Status == target)
        {
            return false;
        }

        if (!CanMove(state.Status, target))
        {
            var allowed = Allowed[state.Status];
            var options = allowed.Length == 0 ? "none: it is final" : string.Join(", ", allowed);
            throw new TwinRuleException(
                "workorder.illegal-transition",
                $"A work order cannot go from {state.Status} to {target}; allowed from {state.Status}: {options}.");
        }

        state.History.Add(new WorkOrderTransition(state.Status, target, now, by, reason));
        state.Status = target;
        if (target is WorkOrderStatus.Completed or WorkOrderStatus.Cancelled)
        {
            // Nothing left to decide for a finished order.
            state.PendingChange = null;
        }

        state.Version++;
        return true;
    }

    /// <summary>Records the MES dispatch to a line; true when it changed.</summary>
    public static bool Dispatch(WorkOrderState state, string line, DateTimeOffset now, string? by)
    {
        if (!state.Created)
        {
            throw new TwinRuleException("workorder.not-found", "The work order has not been created.");
        }

        if (!TwinKey.IsValidId(line, out var error))
        {
            throw new TwinRuleException("workorder.invalid", $"line: {error}");
        }

        if (state.Status is WorkOrderStatus.Completed or WorkOrderStatus.Cancelled)
        {
            throw new TwinRuleException("workorder.illegal-transition", $"A {state.Status} work order cannot be dispatched.");
        }

        if (state.DispatchedLine == line)
        {
            return false;
        }

        state.DispatchedLine = line;
        state.History.Add(new WorkOrderTransition(state.Status, state.Status, now, by, $"dispatched to line {line}"));
        state.Version++;
        return true;
    }

    public const int ReportsRemembered = 1000;

    /// <summary>
    /// Counts a production report once: an order still released starts, the good parts queue
    /// BOM issues from their source bins, and reaching the target completes the order.
    /// Parts reported for a completed or cancelled order are counted but change nothing else.
    /// </summary>
    /// <returns>False when the report was seen before.</returns>
    public static bool RecordProduction(WorkOrderState state, ProductionReport report, DateTimeOffset now)
    {
        if (!state.Created)
        {
            throw new TwinRuleException("workorder.not-found", "The work order has not been created.");
        }

        if (!Twin.Grains.Infrastructure.SeenIds.Remember(state.SeenReports, report.ReportId, ReportsRemembered))
        {
            return false;
        }

        state.Good += report.Good;
        state.Scrap += report.Scrap;
        state.Version++;
        GenealogyRules.Produced(state.Genealogy, report);
        if (state.Status is WorkOrderStatus.Completed or WorkOrderStatus.Cancelled)
        {
            return true;
        }

        if (state.Status == WorkOrderStatus.Released)
        {
            Move(state, WorkOrderStatus.InProgress, now, report.Machine, "first parts reported");
        }

        if (state.Status == WorkOrderStatus.InProgress)
        {
            foreach (var line in state.Definition!.Bom)
            {
                var quantity = line.QuantityPerUnit * report.Good;
                if (quantity > 0)
                {
                    var issue = new StockMovement($"bf:{report.ReportId}:{line.Sku}", MovementKind.Issue, quantity, report.At, Reference: $"backflush {line.Sku} for {report.Good} good parts");
                    OutboxRules.Add(state.Outbox, issue.MovementId, new MovementMessage(line.SourceBin, issue), report.At);
                }
            }

            if (state.Good >= state.Definition.Quantity)
            {
                Move(state, WorkOrderStatus.Completed, now, "production", $"{state.Good} good parts reached the target of {state.Definition.Quantity}");
            }
        }

        return true;
    }

    public static WorkOrderSnapshot ToSnapshot(string factory, string id, WorkOrderState state)
    {
        var definition = state.Definition ?? new WorkOrderDefinition("", 0, null, []);
        var progress = definition.Quantity > 0 ? Math.Min(1.0, (double)state.Good / definition.Quantity) : 0;
        return new WorkOrderSnapshot(factory, id, state.Version, state.Status, definition, state.Good, state.Scrap, progress, [.. state.History], state.DispatchedLine, [.. state.Shortfalls], state.PendingChange, [.. state.EngineeringChanges]);
    }

    private static bool SameDefinition(WorkOrderDefinition a, WorkOrderDefinition b) =>
        a.Product == b.Product && a.Quantity == b.Quantity && a.Due == b.Due && a.Line == b.Line && a.Priority == b.Priority
        && a.Revision == b.Revision && a.Bom.SequenceEqual(b.Bom);
}
