using System.Collections.Immutable;
using Microsoft.Extensions.Options;
using Twin.Grains.Domain;
using Twin.Machines;
using Twin.Planning;
using Twin.Scheduling;
using Twin.WorkOrders;

namespace Twin.Grains.Planning;

/// <summary>Settings of the planner (<c>Twin:Planning</c>).</summary>
public sealed class PlanningOptions : ITwinOptions
{
    public const string Section = "Twin:Planning";

    static string ITwinOptions.Section => Section;

    /// <summary>Wall time of one re-plan's search (all objective levels).</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00.2", "00:10:00")]
    public TimeSpan TimeLimit { get; set; } = TimeSpan.FromSeconds(4);

    /// <summary>CP-SAT search workers (threads) per solve.</summary>
    [SettingRange(1, 64)]
    public int Workers { get; set; } = 2;

    /// <summary>Operations the plan in force started, or starts within this time, keep their machine and start.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00", "7.00:00:00")]
    public TimeSpan Freeze { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>How long a machine that went down is assumed unavailable (from now) until it reports up again.</summary>
    [SettingRange(typeof(TimeSpan), "00:01:00", "30.00:00:00")]
    public TimeSpan AssumedRepair { get; set; } = TimeSpan.FromHours(4);

    /// <summary>A predicted-failure ticket reserves a maintenance window this long after it opened…</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00", "30.00:00:00")]
    public TimeSpan MaintenanceLead { get; set; } = TimeSpan.FromHours(1);

    /// <summary>…of this length, until the ticket is resolved.</summary>
    [SettingRange(typeof(TimeSpan), "00:01:00", "7.00:00:00")]
    public TimeSpan MaintenanceWindow { get; set; } = TimeSpan.FromHours(2);

    /// <summary>An order whose material is short (its bin fell below the reorder point with too little for it) starts no earlier than this from now.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00", "90.00:00:00")]
    public TimeSpan MaterialLeadTime { get; set; } = TimeSpan.FromHours(8);

    /// <summary>Calendars are laid out this far ahead; beyond it machines are taken as always available.</summary>
    [SettingRange(typeof(TimeSpan), "1.00:00:00", "365.00:00:00")]
    public TimeSpan Horizon { get; set; } = TimeSpan.FromDays(28);

    /// <summary>Signals arriving within this time of one another are planned together.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan Debounce { get; set; } = TimeSpan.FromMilliseconds(200);
}

[OptionsValidator]
public sealed partial class PlanningOptionsValidator : IValidateOptions<PlanningOptions>;

[GenerateSerializer, Alias("twin.PlanningMachineState")]
public sealed class PlanningMachineState
{
    [Id(0)] public DateTimeOffset? DownSince { get; set; }
    [Id(1)] public ShiftCalendar? Calendar { get; set; }

    /// <summary>Reserved maintenance windows by ticket id.</summary>
    [Id(2)] public Dictionary<string, (DateTimeOffset From, DateTimeOffset Until)> Maintenance { get; set; } = [];
}

[GenerateSerializer, Alias("twin.PlanningMaterialState")]
public sealed class PlanningMaterialState
{
    [Id(0)] public string? Sku { get; set; }
    [Id(1)] public decimal Available { get; set; }
    [Id(2)] public bool Lacking { get; set; }
}

[GenerateSerializer, Alias("twin.PlanningState")]
public sealed class PlanningState
{
    [Id(0)] public Dictionary<string, Routing> Routings { get; set; } = new(StringComparer.Ordinal);
    [Id(1)] public Dictionary<string, OrderDemand> Orders { get; set; } = new(StringComparer.Ordinal);
    [Id(2)] public Dictionary<string, PlanningMachineState> Machines { get; set; } = new(StringComparer.Ordinal);
    [Id(3)] public Dictionary<string, PlanningMaterialState> Materials { get; set; } = new(StringComparer.Ordinal);
    [Id(4)] public List<string> SeenSignals { get; set; } = [];

    /// <summary>Rises with every change of what the plan depends on (orders, machines, material, routings).</summary>
    [Id(5)] public long InputVersion { get; set; }

    /// <summary>The input version the plan in force was made from.</summary>
    [Id(6)] public long PlannedInput { get; set; }

    [Id(7)] public long Version { get; set; }
    [Id(8)] public DateTimeOffset? PlannedAt { get; set; }
    [Id(9)] public List<ScheduledOperation> Plan { get; set; } = [];
    [Id(10)] public List<UnscheduledOrder> Unscheduled { get; set; } = [];
    [Id(11)] public List<ReplanRecord> History { get; set; } = [];

    /// <summary>What changed since the plan in force, for the next re-plan's record.</summary>
    [Id(12)] public List<string> PendingTriggers { get; set; } = [];

    /// <summary>dispatch.changed events for MES, not yet taken (the planner's outbox).</summary>
    [Id(13)] public List<Twin.Grains.Infrastructure.OutboxEntry> Outbox { get; set; } = [];

    [Id(14)] public bool KpiPending { get; set; }
}

/// <summary>
/// The planner's pure rules: signals applied to its picture of the factory, that picture as a
/// scheduling problem (seconds from an origin), and the solver's schedule back as promises,
/// dispatch lists and a re-plan record.
/// </summary>
public static class PlanningRules
{
    public const int SignalsRemembered = 2000;
    public const int HistoryKept = 50;

    /// <summary>Applies a signal once; true when it changed what the plan depends on.</summary>
    public static bool Apply(PlanningState state, PlanningSignal signal, PlanningOptions options)
    {
        if (!Infrastructure.SeenIds.Remember(state.SeenSignals, signal.Id, SignalsRemembered))
        {
            return false;
        }

        var changed = false;
        switch (signal.Kind)
        {
            case PlanningSignalKind.OrderChanged when signal.Order is { } order:
                if (state.Orders.TryGetValue(order.WorkOrder, out var kept) && kept.Version >= order.Version)
                {
                    break;
                }

                if (order.Status is WorkOrderStatus.Completed or WorkOrderStatus.Cancelled)
                {
                    changed = state.Orders.Remove(order.WorkOrder);
                }
                else
                {
                    state.Orders[order.WorkOrder] = order;
                    changed = true;
                }

                break;
            case PlanningSignalKind.MachineDown:
                var down = Machine(state, signal.Machine ?? signal.Subject);
                changed = down.DownSince is null;
                down.DownSince ??= signal.At;
                break;
            case PlanningSignalKind.MachineUp:
                var up = Machine(state, signal.Machine ?? signal.Subject);
                changed = up.DownSince is not null;
                up.DownSince = null;
                break;
            case PlanningSignalKind.MachineCalendar:
                Machine(state, signal.Machine ?? signal.Subject).Calendar = signal.Calendar;
                changed = true;
                break;
            case PlanningSignalKind.MaintenancePredicted:
                var from = signal.At + options.MaintenanceLead;
                Machine(state, signal.Machine ?? signal.Subject).Maintenance[signal.Subject] = (from, from + options.MaintenanceWindow);
                changed = true;
                break;
            case PlanningSignalKind.MaintenanceCleared:
                changed = Machine(state, signal.Machine ?? signal.Subject).Maintenance.Remove(signal.Subject);
                break;
            case PlanningSignalKind.MaterialShort or PlanningSignalKind.MaterialAvailable:
                if (!state.Materials.TryGetValue(signal.Subject, out var material))
                {
                    material = new PlanningMaterialState();
                    state.Materials[signal.Subject] = material;
                }

                material.Sku = signal.Sku;
                material.Available = signal.Available ?? 0;
                material.Lacking = signal.Kind == PlanningSignalKind.MaterialShort;
                changed = true;
                break;
            default:
                break;
        }

        if (changed)
        {
            Touch(state, $"{signal.Subject}: {signal.Summary}");
        }

        return changed;
    }

    /// <summary>Records a change of the plan's inputs, and why, for the next re-plan.</summary>
    public static void Touch(PlanningState state, string why)
    {
        state.InputVersion++;
        state.PendingTriggers.Add(why);
        if (state.PendingTriggers.Count > 20)
        {
            state.PendingTriggers.RemoveRange(0, state.PendingTriggers.Count - 20);
        }
    }

    private static PlanningMachineState Machine(PlanningState state, string id)
    {
        if (!state.Machines.TryGetValue(id, out var machine))
        {
            machine = new PlanningMachineState();
            state.Machines[id] = machine;
        }

        return machine;
    }

    public static IReadOnlyList<string> Validate(Routing routing)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(routing.Product) || routing.Product.Length > 128)
        {
            errors.Add("product: required, at most 128 characters");
        }

        var steps = routing.Steps.IsDefault ? [] : routing.Steps;
        if (steps.Length is 0 or > 100)
        {
            errors.Add("steps: 1 to 100 operations");
        }

        for (var i = 0; i < steps.Length; i++)
        {
            var step = steps[i];
            if (string.IsNullOrWhiteSpace(step.Operation) || step.Operation.Length > 64)
            {
                errors.Add($"steps[{i}].operation: required, at most 64 characters");
            }

            if (steps.Take(i).Any(s => s.Operation == step.Operation))
            {
                errors.Add($"steps[{i}].operation: '{step.Operation}' is listed twice");
            }

            var machines = step.Machines.IsDefault ? [] : step.Machines;
            if (machines.Length is 0 or > 100 || machines.Any(m => !TwinKey.IsValidId(m, out _)))
            {
                errors.Add($"steps[{i}].machines: 1 to 100 machine ids");
            }

            if (step.Setup < TimeSpan.Zero || step.Setup > TimeSpan.FromDays(7))
            {
                errors.Add($"steps[{i}].setup: from 00:00:00 to 7.00:00:00");
            }

            if (step.RunPerPart <= TimeSpan.Zero || step.RunPerPart > TimeSpan.FromDays(1))
            {
                errors.Add($"steps[{i}].runPerPart: more than 0, at most 1.00:00:00");
            }
        }

        return errors;
    }

    /// <summary>The factory as a scheduling problem at <paramref name="now"/>, in whole seconds from <paramref name="now"/>.</summary>
    public static (SchedulingProblem Problem, Dictionary<string, string> Unscheduled) ToProblem(
        PlanningState state,
        DateTimeOffset now,
        PlanningOptions options,
        IReadOnlyList<OrderDemand>? extra = null)
    {
        var unscheduled = new Dictionary<string, string>(StringComparer.Ordinal);
        var jobs = new List<JobSpec>();
        var machineIds = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var order in state.Orders.Values.Concat(extra ?? []).OrderBy(o => o.WorkOrder, StringComparer.Ordinal))
        {
            var remaining = Math.Max(0, order.Quantity - order.Good);
            if (remaining == 0)
            {
                continue;
            }

            if (!state.Routings.TryGetValue(order.Product, out var routing))
            {
                unscheduled[order.WorkOrder] = $"no routing for product '{order.Product}' (PUT …/routings/{order.Product})";
                continue;
            }

            var operations = routing.Steps.Select(step =>
            {
                machineIds.UnionWith(step.Machines);
                return new OperationSpec(
                    step.Operation,
                    [.. step.Machines.Select(m => new ModeSpec(m, Seconds(step.RunPerPart * remaining), Seconds(step.Setup)))],
                    $"{order.Product}.{step.Operation}");
            }).ToList();
            var release = MaterialReady(state, order, now, options);
            jobs.Add(new JobSpec(order.WorkOrder, operations, Seconds(release - now), order.Due is { } due ? Seconds(due - now) : null, Math.Clamp(order.Priority, 1, 100)));
        }

        var horizon = options.Horizon;
        var machines = machineIds.Select(id =>
        {
            state.Machines.TryGetValue(id, out var machine);
            var spans = new List<Unavailability>();
            if (machine?.Calendar is { } calendar)
            {
                spans.AddRange(Closed(calendar, now, now + horizon).Select(c => new Unavailability(Seconds(c.From - now), Seconds(c.To - now), c.Reason)));
            }

            if (machine?.DownSince is not null)
            {
                spans.Add(new Unavailability(long.MinValue / 32, Seconds(options.AssumedRepair), "down"));
            }

            foreach (var (ticket, (from, until)) in machine?.Maintenance ?? [])
            {
                spans.Add(new Unavailability(Seconds(from - now), Seconds(until - now), $"maintenance ({ticket})"));
            }

            return new MachineSpec(id, spans);
        }).ToList();

        var previous = state.Plan
            .Select(p => new PlannedOperation(p.WorkOrder, p.Operation, p.Machine, Seconds(p.Start - now), Seconds(p.End - now), Seconds(p.Setup)))
            .ToList();
        return (new SchedulingProblem(jobs, machines, 0, Seconds(options.Freeze), previous), unscheduled);
    }

    /// <summary>
    /// When an order's material is there: now, unless one of its BOM lines comes from a bin that
    /// fell below its reorder point with less available than the order needs (earlier-due orders
    /// served first); then after the material lead time.
    /// </summary>
    public static DateTimeOffset MaterialReady(PlanningState state, OrderDemand order, DateTimeOffset now, PlanningOptions options)
    {
        foreach (var line in order.Bom.IsDefault ? [] : order.Bom)
        {
            if (!state.Materials.TryGetValue(line.SourceBin, out var bin) || !bin.Lacking)
            {
                continue;
            }

            var before = state.Orders.Values
                .Where(o => o.WorkOrder != order.WorkOrder && (o.Due ?? DateTimeOffset.MaxValue) < (order.Due ?? DateTimeOffset.MaxValue))
                .Sum(o => o.Bom.IsDefault ? 0 : o.Bom.Where(b => b.SourceBin == line.SourceBin).Sum(b => b.QuantityPerUnit * Math.Max(0, o.Quantity - o.Good)));
            var need = line.QuantityPerUnit * Math.Max(0, order.Quantity - order.Good);
            if (bin.Available - before < need)
            {
                return now + options.MaterialLeadTime;
            }
        }

        return now;
    }

    /// <summary>When a calendar's machine does not work in [from, to): outside its shifts, and in its daily stops.</summary>
    public static IEnumerable<(DateTimeOffset From, DateTimeOffset To, string Reason)> Closed(ShiftCalendar calendar, DateTimeOffset from, DateTimeOffset to)
    {
        if (calendar.Shifts.IsDefaultOrEmpty)
        {
            yield break;
        }

        var open = OeeMath.Occurrences(calendar, calendar.Shifts.Select(s => (s.Start, s.End)), from, to).OrderBy(o => o.Start).ToList();
        var cursor = from.AddDays(-1);
        foreach (var (start, end) in open)
        {
            if (start > cursor)
            {
                yield return (cursor, start, "no shift");
            }

            cursor = end > cursor ? end : cursor;
        }

        if (cursor < to)
        {
            yield return (cursor, to, "no shift");
        }

        foreach (var (start, end) in OeeMath.Occurrences(calendar, calendar.Stops.IsDefault ? [] : calendar.Stops.Select(s => (s.Start, s.End)), from, to))
        {
            yield return (start, end, "planned stop");
        }
    }

    /// <summary>
    /// The instant a plan is made from, on a whole second (the next one): the model counts whole
    /// seconds, so plans made from whole seconds map each other's instants exactly, and an unchanged
    /// operation keeps its start across re-plans instead of creeping later by a rounding each time.
    /// </summary>
    public static DateTimeOffset Origin(DateTimeOffset now) =>
        new((now.UtcTicks + TimeSpan.TicksPerSecond - 1) / TimeSpan.TicksPerSecond * TimeSpan.TicksPerSecond, TimeSpan.Zero);

    private static long Seconds(TimeSpan span) => (long)Math.Ceiling(span.TotalSeconds);

    /// <summary>The solver's schedule as the plan's operations, in instants.</summary>
    public static List<ScheduledOperation> ToPlan(PlanningState state, Schedule schedule, DateTimeOffset now, IReadOnlyList<OrderDemand>? extra = null)
    {
        var orders = state.Orders.Values.Concat(extra ?? []).ToDictionary(o => o.WorkOrder, StringComparer.Ordinal);
        return [.. schedule.Operations.Select(o => new ScheduledOperation(
            o.Job,
            o.Operation,
            o.Machine,
            now.AddSeconds(o.Start),
            now.AddSeconds(o.End),
            TimeSpan.FromSeconds(o.Setup),
            orders.TryGetValue(o.Job, out var order) ? order.Product : "",
            orders.TryGetValue(o.Job, out var known) ? known.Line : null))];
    }

    /// <summary>Each planned order's projected completion against its due date.</summary>
    public static ImmutableArray<OrderPromise> Promises(PlanningState state)
    {
        return [.. state.Plan.GroupBy(p => p.WorkOrder, StringComparer.Ordinal)
            .Select(g =>
            {
                var completion = g.Max(p => p.End);
                state.Orders.TryGetValue(g.Key, out var order);
                var due = order?.Due;
                var lateness = due is { } d ? completion - d : (TimeSpan?)null;
                return new OrderPromise(g.Key, order?.Product ?? g.First().Product, due, completion, lateness, lateness > TimeSpan.Zero, order?.Line);
            })
            .OrderBy(p => p.ProjectedCompletion)
            .ThenBy(p => p.WorkOrder, StringComparer.Ordinal)];
    }

    /// <summary>Share of the planned orders with a due date that are projected on time; null without any.</summary>
    public static double? OnTimeRate(ImmutableArray<OrderPromise> promises)
    {
        var dated = promises.Where(p => p.Due is not null).ToList();
        return dated.Count == 0 ? null : (double)dated.Count(p => !p.Late) / dated.Count;
    }

    public static double? Stability(PlanningState state) =>
        state.History.Count == 0 ? null : state.History.Take(10).Average(h => h.Stability);

    /// <summary>A machine's dispatch list from a plan: its operations in start order.</summary>
    public static ImmutableArray<ScheduledOperation> Dispatch(IEnumerable<ScheduledOperation> plan, string machine) =>
        [.. plan.Where(p => p.Machine == machine).OrderBy(p => p.Start).ThenBy(p => p.WorkOrder, StringComparer.Ordinal)];

    /// <summary>The machines whose dispatch list (the sequence of operations, or their times) differs between two plans.</summary>
    public static List<string> ChangedMachines(IReadOnlyList<ScheduledOperation> before, IReadOnlyList<ScheduledOperation> after)
    {
        var machines = before.Select(p => p.Machine).Concat(after.Select(p => p.Machine)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        return [.. machines.Where(m => !Dispatch(before, m).Select(Key).SequenceEqual(Dispatch(after, m).Select(Key)))];

        static (string, string, DateTimeOffset) Key(ScheduledOperation p) => (p.WorkOrder, p.Operation, p.Start);
    }

    public static PlanSnapshot ToSnapshot(string factory, PlanningState state, bool replanning)
    {
        var promises = Promises(state);
        return new PlanSnapshot(
            factory,
            state.Version,
            state.PlannedAt,
            [.. state.Plan.OrderBy(p => p.Start).ThenBy(p => p.Machine, StringComparer.Ordinal)],
            promises,
            [.. state.Unscheduled],
            state.History.Count > 0 ? state.History[0] : null,
            OnTimeRate(promises),
            Stability(state),
            replanning);
    }
}
