using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Twin.Bins;
using Twin.Grains.Infrastructure;
using Twin.Grains.Kpis;
using Twin.Grains.Live;
using Twin.Integration;
using Twin.Kpis;
using Twin.Live;
using Twin.Planning;
using Twin.Purchasing;
using Twin.Scheduling;
using Twin.WorkOrders;

namespace Twin.Grains.Planning;

/// <summary>
/// The planner of one factory. Its twins' outboxes tell it what changed (signals); it keeps its own
/// picture of orders, machines and material from them, and re-plans in the background: the
/// problem is built in a turn, solved on the thread pool (seconds of CP-SAT never hold the grain),
/// and the result applied in a turn only if the picture it was made from is still the latest
/// (otherwise it plans again from the new picture, once per run of solves: later results are applied
/// even if more signals came meanwhile, so a steady trickle of signals cannot keep every plan from
/// being applied).
/// A fault in building, solving or applying never leaves it re-planning: CP-SAT failing falls back
/// to the dispatch rule, anything else is recorded in the history and retried. Each re-plan records its triggers and what it
/// changed, queues <c>dispatch.changed</c> for the machines whose lists changed (outbox → webhooks,
/// MQTT), reports its promises to the factory KPIs and publishes the plan on <c>schedule:{factory}</c>.
/// </summary>
[Reentrant]
public sealed partial class PlanningGrain(
    [PersistentState("planning", TwinStorage.Name)] IPersistentState<PlanningState> state,
    IOptions<PlanningOptions> options,
    OutboxServices outboxServices,
    TwinClock clock,
    ILogger<PlanningGrain> logger) : Grain, IPlanningGrain, IRemindable, IOutboxOwner
{
    List<OutboxEntry> IOutboxOwner.Outbox => state.State.Outbox;

    private GroupCommit? _commit;
    private Outbox? _outbox;
    private KpiFeed? _kpis;
    private LivePublisher? _live;
    private Task _solving = Task.CompletedTask;
    private IGrainTimer? _debounce;
    private IGrainTimer? _retry;
    private int _failures;

    private string Factory => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _commit = new GroupCommit(state, this);
        _outbox = new Outbox(this, _commit, outboxServices);
        _kpis = new KpiFeed(this, SendKpisAsync, ex => LogKpiFailed(ex, Factory), TimeSpan.Zero);
        _kpis.Wake(() => state.State.KpiPending, _commit, outboxServices.Wake);
        if (state.State.KpiPending)
        {
            _kpis.Kick();
        }

        _outbox.Kick();
        if (PlanningRules.Unanswered(state.State))
        {
            // Signals taken before a deactivation or crash that no plan has answered yet.
            RequestReplan();
        }
        else if (state.State.InputVersion == state.State.FailedInput && state.State.FailedInput != state.State.PlannedInput)
        {
            ScheduleRetry();
        }

        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_commit is not null)
        {
            await _commit.CloseAsync(cancellationToken, _outbox);
        }
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (!await _outbox!.OnReminderAsync(reminderName))
        {
            await _kpis!.OnReminderAsync(reminderName);
        }
    }

    public async Task<Routing> DefineRoutingAsync(Routing routing)
    {
        var errors = PlanningRules.Validate(routing);
        if (errors.Count > 0)
        {
            throw new TwinRuleException("routing.invalid", string.Join("; ", errors));
        }

        if (state.State.Routings.TryGetValue(routing.Product, out var kept) && kept.Steps.SequenceEqual(routing.Steps))
        {
            await _commit!.WhenDurableAsync();
            return kept;
        }

        state.State.Routings[routing.Product] = routing;
        PlanningRules.Touch(state.State, $"routing of {routing.Product} set");
        await _commit!.CommitAsync();
        RequestReplan();
        return routing;
    }

    public Task<ImmutableArray<Routing>> GetRoutingsAsync() =>
        Task.FromResult(state.State.Routings.Values.OrderBy(r => r.Product, StringComparer.Ordinal).ToImmutableArray());

    public async Task SignalAsync(PlanningSignal signal)
    {
        if (PlanningRules.Apply(state.State, signal, options.Value))
        {
            await _commit!.CommitAsync();
            RequestReplan();
        }
        else
        {
            await _commit!.WhenDurableAsync();
        }
    }

    public async Task ReplanAsync(string reason)
    {
        PlanningRules.Touch(state.State, reason);
        await _commit!.CommitAsync();
        RequestReplan();
    }

    public Task<PlanSnapshot> GetPlanAsync() => Task.FromResult(Snapshot());

    public Task<DispatchList> GetDispatchAsync(string machine) =>
        Task.FromResult(new DispatchList(Factory, machine, state.State.Version, PlanningRules.Dispatch(state.State.Plan, machine)));

    public Task<ImmutableArray<ReplanRecord>> GetHistoryAsync() => Task.FromResult(state.State.History.ToImmutableArray());

    public async Task<WhatIfAnswer> WhatIfAsync(WhatIfOrder order)
    {
        if (string.IsNullOrWhiteSpace(order.Product))
        {
            throw new TwinRuleException("what-if.product", "required");
        }

        if (order.Quantity is <= 0 or > WorkOrderLimits.MaxQuantity)
        {
            throw new TwinRuleException("what-if.quantity", $"a whole number from 1 to {WorkOrderLimits.MaxQuantity}");
        }

        var planning = options.Value;
        if (state.State.Routings.TryGetValue(order.Product, out var routing) && PlanningRules.BeyondHorizon(routing, order.Quantity, planning) is { } tooLong)
        {
            throw new TwinRuleException("what-if.quantity", tooLong);
        }

        var notes = new List<string>();
        var bom = order.Bom.IsDefaultOrEmpty ? [] : order.Bom;
        if (bom.IsEmpty && state.State.Orders.Values.Where(o => o.Product == order.Product && !o.Bom.IsDefaultOrEmpty).OrderByDescending(o => o.WorkOrder, StringComparer.Ordinal).FirstOrDefault() is { } like)
        {
            bom = like.Bom;
            notes.Add($"material as on the BOM of {like.WorkOrder} (the question gave none)");
        }

        var now = PlanningRules.Origin(clock.UtcNow);
        var probe = new OrderDemand("what-if", 0, order.Product, order.Quantity, 0, order.Due, WorkOrderStatus.Released, bom, Math.Clamp(order.Priority, 1, 100), null);
        var (release, shortages) = PlanningRules.Material(state.State, probe, await SupplyAsync(probe, notes), now, planning);
        if (!shortages.IsEmpty)
        {
            notes.Add($"short of material: starts no earlier than {release:O} (the material lead time, {PlanningOptions.Section}:MaterialLeadTime)");
        }

        var (problem, unscheduled) = PlanningRules.ToProblem(state.State, now, planning, [probe], new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal) { [probe.WorkOrder] = release });
        if (unscheduled.TryGetValue(probe.WorkOrder, out var reason))
        {
            return new WhatIfAnswer(null, null, reason, [], [], shortages, [.. notes]);
        }

        // A copy of the plan's problem with the order in it, solved off the grain's turn; nothing is kept.
        var settings = Settings();
        var schedule = await Task.Run(() => CpSatScheduler.SolveOrFallBack(problem, settings));
        notes.AddRange(schedule.Notes);
        if (schedule.Unscheduled.TryGetValue(probe.WorkOrder, out var refused))
        {
            return new WhatIfAnswer(null, null, refused, [], [], shortages, [.. notes]);
        }

        var plan = PlanningRules.ToPlan(state.State, schedule, now, [probe]);
        var operations = plan.Where(p => p.WorkOrder == probe.WorkOrder).OrderBy(p => p.Start).ToImmutableArray();
        var completion = operations.Max(p => p.End);
        var before = state.State.Plan.GroupBy(p => p.WorkOrder, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Max(p => p.End), StringComparer.Ordinal);
        var moved = plan.Where(p => p.WorkOrder != probe.WorkOrder).GroupBy(p => p.WorkOrder, StringComparer.Ordinal)
            .Select(g => (g.Key, To: g.Max(p => p.End), From: before.TryGetValue(g.Key, out var from) ? from : (DateTimeOffset?)null))
            .Where(c => c.From != c.To)
            .Select(c => new CompletionShift(c.Key, c.From, c.To))
            .ToImmutableArray();
        return new WhatIfAnswer(completion, order.Due is { } due ? completion - due : null, null, operations, moved, shortages, [.. notes]);
    }

    /// <summary>What the bins of a what-if order's BOM hold now and have on order (a read per bin; a question, not the hot path).</summary>
    private async Task<Dictionary<string, PlanningRules.BinSupply>> SupplyAsync(OrderDemand order, List<string> notes)
    {
        var supply = new Dictionary<string, PlanningRules.BinSupply>(StringComparer.Ordinal);
        foreach (var line in order.Bom.IsDefault ? [] : order.Bom)
        {
            if (supply.ContainsKey(line.SourceBin))
            {
                continue;
            }

            var key = TwinKey.Compose(Factory, line.SourceBin);
            try
            {
                decimal available = 0;
                var sku = line.Sku;
                if (await GrainFactory.GetGrain<IStockBinGrain>(key).ExistsAsync())
                {
                    var bin = await GrainFactory.GetGrain<IStockBinGrain>(key).GetSnapshotAsync();
                    available = bin.Available;
                    sku = bin.Sku ?? sku;
                }

                var onOrder = (await GrainFactory.GetGrain<IPurchaseRequestGrain>(key).ListAsync())
                    .Where(r => r.Status is PurchaseRequestStatus.Open or PurchaseRequestStatus.Ordered)
                    .Sum(r => r.Quantity);
                supply[line.SourceBin] = new PlanningRules.BinSupply(sku, available, onOrder);
            }
            catch (Exception ex) when (ex is not TwinRuleException)
            {
                // A bin that does not answer: the answer says its material was not checked rather than failing.
                LogMaterialUnread(ex, Factory, line.SourceBin);
                supply[line.SourceBin] = new PlanningRules.BinSupply(line.Sku, decimal.MaxValue, 0);
                notes.Add($"bin {line.SourceBin} could not be read; its material was not checked");
            }
        }

        return supply;
    }

    private SolverSettings Settings() => new(options.Value.TimeLimit, options.Value.Workers);

    private PlanSnapshot Snapshot() =>
        PlanningRules.ToSnapshot(Factory, state.State, PlanningRules.Replanning(state.State, !_solving.IsCompleted));

    /// <summary>Plans soon (after the debounce, so a burst of signals is one re-plan); a solve running now is followed by another.</summary>
    private void RequestReplan()
    {
        if (!_solving.IsCompleted || _debounce is not null)
        {
            return;
        }

        if (options.Value.Debounce <= TimeSpan.Zero)
        {
            _solving = SolveLoopAsync();
            return;
        }

        _debounce = this.RegisterGrainTimer(
            _ =>
            {
                _debounce?.Dispose();
                _debounce = null;
                if (_solving.IsCompleted)
                {
                    _solving = SolveLoopAsync();
                }

                return Task.CompletedTask;
            },
            new GrainTimerCreationOptions(options.Value.Debounce, Timeout.InfiniteTimeSpan) { Interleave = true });
    }

    private async Task SolveLoopAsync()
    {
        try
        {
            await SolveUntilCurrentAsync();
        }
        catch (Exception ex)
        {
            // A failed write (or a bug past the guards below): the plan in force stays; tried again later.
            LogReplanFailed(ex, Factory);
            ScheduleRetry();
        }
    }

    private async Task SolveUntilCurrentAsync()
    {
        var discarded = false;
        while (PlanningRules.Unanswered(state.State))
        {
            var input = state.State.InputVersion;
            var now = PlanningRules.Origin(clock.UtcNow);
            var started = System.Diagnostics.Stopwatch.StartNew();
            Schedule schedule;
            Dictionary<string, string> unscheduled;
            try
            {
                (var problem, unscheduled) = PlanningRules.ToProblem(state.State, now, options.Value);
                var settings = Settings();

                // Off the grain's turn: calls go on while CP-SAT searches.
                schedule = await Task.Run(() => CpSatScheduler.SolveOrFallBack(problem, settings));
            }
            catch (Exception ex)
            {
                // Recorded, and the input marked failed: the loop ends unless a signal came meanwhile.
                await FailAsync(input, now, started.Elapsed, ex);
                continue;
            }

            if (schedule.Method != CpSatScheduler.Method && schedule.Notes.Any(n => n.StartsWith("CP-SAT failed", StringComparison.Ordinal)))
            {
                LogSolverFellBack(Factory, schedule.Method, schedule.Notes[0]);
            }

            if (state.State.InputVersion != input && !discarded)
            {
                // The picture changed while it was solved: plan again from the new one — once per
                // run of solves. From then on each result is applied even if the picture moved
                // again meanwhile (and planned again after, for everything that came), so signals
                // arriving faster than a solve cannot starve the plan: a signal is in force within
                // about two solves of its arrival.
                LogStale(Factory, input, state.State.InputVersion);
                discarded = true;
                continue;
            }

            try
            {
                Apply(schedule, now, unscheduled, input);
            }
            catch (Exception ex)
            {
                // Recorded, and the input marked failed: the loop ends unless a signal came meanwhile.
                await FailAsync(input, now, started.Elapsed, ex);
                continue;
            }

            _failures = 0;
            await _commit!.CommitAsync();
            _outbox!.Kick();
            _kpis!.Kick();
            Live.Changed();
        }
    }

    /// <summary>A re-plan that failed: recorded in the history with why, the plan in force kept, tried again after a back-off.</summary>
    private async Task FailAsync(long input, DateTimeOffset now, TimeSpan elapsed, Exception ex)
    {
        LogReplanFailed(ex, Factory);
        var retryIn = RetryDelay(_failures + 1);
        PlanningRules.RecordFailure(state.State, input, now, elapsed, $"{ex.GetType().Name}: {ex.Message}", retryIn);
        await _commit!.CommitAsync();
        Live.Changed();
        ScheduleRetry();
    }

    /// <summary>Back-off between retries of a failing re-plan: 5 s, doubling, at most 5 minutes.</summary>
    private static TimeSpan RetryDelay(int failures) => TimeSpan.FromSeconds(Math.Min(300, 5 * Math.Pow(2, Math.Min(10, Math.Max(0, failures - 1)))));

    private void ScheduleRetry()
    {
        if (_retry is not null)
        {
            return;
        }

        _failures++;
        _retry = this.RegisterGrainTimer(
            async _ =>
            {
                _retry?.Dispose();
                _retry = null;
                if (state.State.InputVersion == state.State.FailedInput || PlanningRules.Unanswered(state.State))
                {
                    PlanningRules.Touch(state.State, "retry after a failed re-plan");
                    await _commit!.CommitAsync();
                    RequestReplan();
                }
            },
            new GrainTimerCreationOptions(RetryDelay(_failures), Timeout.InfiniteTimeSpan) { Interleave = true });
    }

    /// <summary>Makes the solved schedule the plan in force (synchronously, in one turn); throws before changing anything when the schedule cannot be taken.</summary>
    private void Apply(Schedule schedule, DateTimeOffset now, Dictionary<string, string> unscheduled, long input)
    {
        var s = state.State;
        var before = s.Plan;
        var after = PlanningRules.ToPlan(s, schedule, now);
        var machines = PlanningRules.ChangedMachines(before, after);
        var completions = schedule.Changes.Completions.Select(c => new CompletionShift(c.Job, c.From is { } from ? now.AddSeconds(from) : null, now.AddSeconds(c.To))).ToImmutableArray();
        var (listed, notListed) = PlanningRules.TakeTriggers(s, input);
        s.Version++;
        s.Plan = after;
        s.PlannedAt = now;
        s.PlannedInput = input;
        s.Unscheduled = [.. unscheduled.Concat(schedule.Unscheduled).Select(u => new UnscheduledOrder(u.Key, u.Value)).OrderBy(u => u.WorkOrder, StringComparer.Ordinal)];
        var record = new ReplanRecord(
            s.Version,
            now,
            PlanningRules.Listing(listed, notListed),
            schedule.Method,
            schedule.Status.ToString().ToLowerInvariant(),
            schedule.Elapsed,
            schedule.Changes.Moved.Count,
            completions,
            schedule.Changes.Stability,
            [.. machines],
            [.. schedule.Notes],
            notListed);
        PlanningRules.Remember(s, record);

        var cause = listed.IsEmpty ? "re-plan" : listed[^1];
        foreach (var machine in machines)
        {
            var list = PlanningRules.Dispatch(after, machine);
            var next = list.FirstOrDefault();
            var summary = next is null
                ? $"Dispatch list of {machine} changed (plan {s.Version}, after: {cause}): nothing planned"
                : $"Dispatch list of {machine} changed (plan {s.Version}, after: {cause}): next {next.WorkOrder} operation {next.Operation} at {next.Start:O}, {list.Length} operations";
            OutboxRules.AddEvent(s.Outbox, new OutboundEvent($"dispatch:{machine}:{s.Version}", "dispatch.changed", Factory, $"machine/{machine}", now, summary));
        }

        // A re-plan a twin event asked for is an action whose effect is verified on the machine the
        // newest trigger names (else the first whose dispatch list changed).
        if (!listed.IsEmpty && (machines.FirstOrDefault(m => cause.Contains(m, StringComparison.Ordinal)) ?? machines.FirstOrDefault()) is { } subject)
        {
            var action = new Twin.Effects.ActionRecord($"replan:{s.Version}", Twin.Effects.ActionKind.Replan, subject, null, $"plan/{s.Version}", now, "planner", $"re-plan {s.Version} after: {cause}");
            OutboxRules.Add(s.Outbox, $"effects:{action.Id}", new ActionMessage(action), now);
        }

        s.KpiPending = true;
        LogReplanned(Factory, s.Version, schedule.Method, schedule.Elapsed.TotalSeconds, schedule.Changes.Moved.Count, machines.Count, cause);
    }

    private async Task SendKpisAsync()
    {
        var version = state.State.Version;
        var promises = PlanningRules.Promises(state.State);
        var report = new PlanKpi(
            version,
            state.State.PlannedAt,
            promises.Length,
            PlanningRules.OnTimeRate(promises),
            PlanningRules.Stability(state.State),
            [.. promises.Where(p => p.Late).OrderByDescending(p => p.Lateness)]);
        await GrainFactory.GetGrain<IFactoryKpiGrain>(Factory).ReportPlanAsync(report);
        if (state.State.Version == version)
        {
            state.State.KpiPending = false;
        }
    }

    private LivePublisher Live => _live ??= new LivePublisher(
        this,
        TwinTopic.Schedule(Factory),
        ServiceProvider.GetRequiredService<IOptions<LiveFeedOptions>>().Value,
        () => new TwinChange(TwinTopic.Schedule(Factory).ToString(), state.State.Version, null, Schedule: Snapshot()),
        logger);

    [LoggerMessage(EventId = TwinEvents.PlanningGrainReplanned, Level = LogLevel.Information, Message = "Plan {Version} of {Factory} by {Method} in {Seconds:0.00} s: {Moved} operations moved, {Machines} dispatch lists changed (after: {Cause})")]
    private partial void LogReplanned(string factory, long version, string method, double seconds, int moved, int machines, string cause);

    [LoggerMessage(EventId = TwinEvents.PlanningGrainReplanFailed, Level = LogLevel.Error, Message = "Re-plan of {Factory} failed; the plan in force stays")]
    private partial void LogReplanFailed(Exception exception, string factory);

    [LoggerMessage(EventId = TwinEvents.PlanningGrainStale, Level = LogLevel.Debug, Message = "Re-plan of {Factory} from input {Input} is stale (now {Latest}); planning again")]
    private partial void LogStale(string factory, long input, long latest);

    [LoggerMessage(EventId = TwinEvents.PlanningGrainSolverFellBack, Level = LogLevel.Warning, Message = "Planner of {Factory} used the {Method} rule: {Note}")]
    private partial void LogSolverFellBack(string factory, string method, string note);

    [LoggerMessage(EventId = TwinEvents.PlanningGrainWhatIfMaterialUnread, Level = LogLevel.Warning, Message = "Planner of {Factory} could not read bin {Bin} for a what-if question; its material was not checked")]
    private partial void LogMaterialUnread(Exception exception, string factory, string bin);

    [LoggerMessage(EventId = TwinEvents.PlanningGrainKpiFailed, Level = LogLevel.Warning, Message = "Planner of {Factory} could not report to the factory KPIs yet (retried)")]
    private partial void LogKpiFailed(Exception exception, string factory);
}
