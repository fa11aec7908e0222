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

    /// <summary>The input version whose re-plan failed (recorded in the history); it is retried later, or planned with the next change.</summary>
    [Id(15)] public long FailedInput { get; set; }

    /// <summary>The input version up to which the triggers have gone into a history record.</summary>
    [Id(16)] public long TriggersTaken { get; set; }
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

    /// <summary>Triggers kept for the next re-plan's record (the newest); the record counts the others.</summary>
    public const int TriggersKept = 20;

    /// <summary>The method and status of a re-plan record whose re-plan failed: the plan in force stays.</summary>
    public const string FailedMethod = "none";

    public const string FailedStatus = "failed";

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
                // Saturating: a reading stamped near the end of time must not make the signal a poison message.
                var from = Later(signal.At, options.MaintenanceLead);
                Machine(state, signal.Machine ?? signal.Subject).Maintenance[signal.Subject] = (from, Later(from, options.MaintenanceWindow));
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
    /// <remarks>One trigger per input version: the pending list holds the newest <see cref="TriggersKept"/>, for versions up to <see cref="PlanningState.InputVersion"/>.</remarks>
    public static void Touch(PlanningState state, string why)
    {
        state.InputVersion++;
        state.PendingTriggers.Add(why);
        if (state.PendingTriggers.Count > TriggersKept)
        {
            state.PendingTriggers.RemoveRange(0, state.PendingTriggers.Count - TriggersKept);
        }
    }

    /// <summary>
    /// Takes the triggers a re-plan of input version <paramref name="input"/> answers out of the
    /// pending list: those kept (oldest first), and how many more there were that the list no longer holds.
    /// </summary>
    public static (ImmutableArray<string> Listed, int NotListed) TakeTriggers(PlanningState state, long input)
    {
        var from = Math.Max(state.TriggersTaken, state.PlannedInput);
        var pending = state.PendingTriggers;
        var firstVersion = state.InputVersion - pending.Count + 1;
        var count = (int)Math.Clamp(input - firstVersion + 1, 0, pending.Count);
        var listed = pending.Take(count).ToImmutableArray();
        pending.RemoveRange(0, count);
        state.TriggersTaken = Math.Max(state.TriggersTaken, input);
        var notListed = (int)Math.Clamp(input - from - count, 0, int.MaxValue);
        return (listed, notListed);
    }

    /// <summary>
    /// The triggers as a record lists them, oldest first: when some were not kept, first a line
    /// saying how many came before the ones listed (so the last entry stays the newest trigger).
    /// </summary>
    public static ImmutableArray<string> Listing(ImmutableArray<string> listed, int notListed) =>
        notListed == 0 ? listed : listed.Insert(0, $"… and {notListed} more before these (only the newest {TriggersKept} are listed)");

    /// <summary>
    /// Records a re-plan that failed: the plan in force stays, the history says why, and the input
    /// counts as answered until it is retried or changes again (so the planner does not show itself
    /// re-planning forever).
    /// </summary>
    public static ReplanRecord RecordFailure(PlanningState state, long input, DateTimeOffset now, TimeSpan elapsed, string reason, TimeSpan retryIn)
    {
        var (listed, notListed) = TakeTriggers(state, input);
        state.FailedInput = input;
        var record = new ReplanRecord(
            state.Version,
            now,
            Listing(listed, notListed),
            FailedMethod,
            FailedStatus,
            elapsed,
            0,
            [],
            1,
            [],
            [$"re-plan failed: {reason}; the plan in force stays; retried in {retryIn.TotalSeconds:0} s or with the next change"],
            notListed);
        Remember(state, record);
        return record;
    }

    /// <summary>Adds a record to the front of the history, keeping the newest <see cref="HistoryKept"/>.</summary>
    public static void Remember(PlanningState state, ReplanRecord record)
    {
        state.History.Insert(0, record);
        if (state.History.Count > HistoryKept)
        {
            state.History.RemoveRange(HistoryKept, state.History.Count - HistoryKept);
        }
    }

    /// <summary>Whether the planner has input no plan (and no failure) has answered yet, or is solving.</summary>
    public static bool Replanning(PlanningState state, bool solving) =>
        solving || (state.InputVersion != state.PlannedInput && state.InputVersion != state.FailedInput);

    /// <summary>Whether the loop should plan: input neither planned nor failed.</summary>
    public static bool Unanswered(PlanningState state) => Replanning(state, solving: false);

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
            else if (machines.GroupBy(m => m, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
            {
                errors.Add($"steps[{i}].machines: '{twice.Key}' is listed twice");
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
    /// <param name="releases">Earliest starts that replace the material rule's for these orders (a what-if order's, from the bins).</param>
    /// <remarks>
    /// The arithmetic is bounded: an order whose machine time does not fit in the planning horizon
    /// (a quantity far beyond what its routing can make in it) is not planned but listed as
    /// unschedulable with the reason, and the rest of the factory is planned as usual.
    /// </remarks>
    public static (SchedulingProblem Problem, Dictionary<string, string> Unscheduled) ToProblem(
        PlanningState state,
        DateTimeOffset now,
        PlanningOptions options,
        IReadOnlyList<OrderDemand>? extra = null,
        IReadOnlyDictionary<string, DateTimeOffset>? releases = null)
    {
        var unscheduled = new Dictionary<string, string>(StringComparer.Ordinal);
        var jobs = new List<JobSpec>();
        var machineIds = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var order in state.Orders.Values.Concat(extra ?? []).OrderBy(o => o.WorkOrder, StringComparer.Ordinal))
        {
            var remaining = Math.Max(0, order.Quantity - Math.Max(0, order.Good));
            if (remaining == 0)
            {
                continue;
            }

            if (!state.Routings.TryGetValue(order.Product, out var routing))
            {
                unscheduled[order.WorkOrder] = $"no routing for product '{order.Product}' (PUT …/routings/{order.Product})";
                continue;
            }

            if (BeyondHorizon(routing, remaining, options) is { } refusal)
            {
                unscheduled[order.WorkOrder] = refusal;
                continue;
            }

            var operations = routing.Steps.Select(step =>
            {
                machineIds.UnionWith(step.Machines);
                var run = (long)RunSeconds(step.RunPerPart, remaining);
                return new OperationSpec(
                    step.Operation,
                    [.. step.Machines.Select(m => new ModeSpec(m, run, Seconds(step.Setup)))],
                    $"{order.Product}.{step.Operation}");
            }).ToList();
            var release = releases is not null && releases.TryGetValue(order.WorkOrder, out var given) ? given : MaterialReady(state, order, now, options);
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

    /// <summary>Run time of <paramref name="parts"/> parts in whole seconds (rounded up), exact for any quantity.</summary>
    public static Int128 RunSeconds(TimeSpan perPart, long parts) =>
        (((Int128)perPart.Ticks * parts) + TimeSpan.TicksPerSecond - 1) / TimeSpan.TicksPerSecond;

    /// <summary>The machine time of an order of <paramref name="parts"/> parts on its routing: every setup and run, in seconds.</summary>
    public static Int128 MachineTime(Routing routing, long parts) =>
        routing.Steps.Aggregate(Int128.Zero, (sum, step) => sum + RunSeconds(step.RunPerPart, parts) + Seconds(step.Setup));

    /// <summary>Why an order of <paramref name="parts"/> parts cannot be planned within the horizon, or null when it can.</summary>
    public static string? BeyondHorizon(Routing routing, long parts, PlanningOptions options)
    {
        var total = MachineTime(routing, parts);
        var horizon = Seconds(options.Horizon);
        if (total <= horizon)
        {
            return null;
        }

        var days = total > (Int128)long.MaxValue ? "more than a thousand years" : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{(double)(long)total / 86400:0.#} days");
        return string.Create(
            System.Globalization.CultureInfo.InvariantCulture,
            $"{parts} parts of '{routing.Product}' need {days} of machine time, more than the planning horizon of {options.Horizon.TotalDays:0.#} days ({PlanningOptions.Section}:Horizon); split the order or lengthen the horizon");
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
                .Aggregate(0m, (sum, o) => Plus(sum, Need(o, line.SourceBin)));
            var need = Times(line.QuantityPerUnit, Math.Max(0, order.Quantity - order.Good));
            if (bin.Available - before < need)
            {
                return now + options.MaterialLeadTime;
            }
        }

        return now;
    }

    /// <summary>What an order still needs from one bin (saturating: a BOM too large to count needs more than any bin holds).</summary>
    public static decimal Need(OrderDemand order, string bin) =>
        order.Bom.IsDefault ? 0 : order.Bom.Where(b => b.SourceBin == bin).Aggregate(0m, (sum, b) => Plus(sum, Times(b.QuantityPerUnit, Math.Max(0, order.Quantity - order.Good))));

    private static decimal Times(decimal a, long b) => b != 0 && Math.Abs(a) > decimal.MaxValue / Math.Abs(b) ? decimal.MaxValue : a * b;

    private static decimal Plus(decimal a, decimal b) => a > 0 && b > decimal.MaxValue - a ? decimal.MaxValue : a + b;

    private static DateTimeOffset Later(DateTimeOffset at, TimeSpan by) => at > DateTimeOffset.MaxValue - by ? DateTimeOffset.MaxValue : at + by;

    /// <summary>What the bins and purchasing hold for one bin of a what-if order, read from the twins.</summary>
    /// <param name="Available">Available (on-hand − reserved) now; 0 for a bin the factory does not know.</param>
    /// <param name="OnOrder">Open and ordered purchase requests of the bin.</param>
    public sealed record BinSupply(string Sku, decimal Available, decimal OnOrder);

    /// <summary>
    /// Whether the bins can give a new order its material now, and if not, when it may start. The
    /// open orders keep what they still need (a new order takes nothing promised to them); what is
    /// short and covered by purchase requests arrives after the material lead time (purchase
    /// requests carry no delivery date); what is not covered is reported uncovered and assumed
    /// bought within the same lead time.
    /// </summary>
    public static (DateTimeOffset Release, ImmutableArray<MaterialShortage> Shortages) Material(
        PlanningState state,
        OrderDemand order,
        IReadOnlyDictionary<string, BinSupply> supply,
        DateTimeOffset now,
        PlanningOptions options)
    {
        var shortages = new List<MaterialShortage>();
        var expected = Later(now, options.MaterialLeadTime);
        foreach (var bin in (order.Bom.IsDefault ? [] : order.Bom).Select(b => b.SourceBin).Distinct(StringComparer.Ordinal))
        {
            var need = Need(order, bin);
            var claimed = state.Orders.Values.Where(o => o.WorkOrder != order.WorkOrder).Aggregate(0m, (sum, o) => Plus(sum, Need(o, bin)));
            var have = supply.TryGetValue(bin, out var held) ? held : new BinSupply(order.Bom.First(b => b.SourceBin == bin).Sku, 0, 0);
            var free = Math.Max(0, have.Available - claimed);
            if (free >= need)
            {
                continue;
            }

            shortages.Add(new MaterialShortage(bin, have.Sku, need, free, have.OnOrder, free + have.OnOrder >= need, expected));
        }

        return (shortages.Count == 0 ? now : expected, [.. shortages]);
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

    /// <summary>Mean stability over the last ten re-plans that made a plan (failed ones made none).</summary>
    public static double? Stability(PlanningState state)
    {
        var made = state.History.Where(h => h.Status != FailedStatus).Take(10).ToList();
        return made.Count == 0 ? null : made.Average(h => h.Stability);
    }

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
