using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Twin.Grains.Infrastructure;
using Twin.Grains.Kpis;
using Twin.Grains.Live;
using Twin.Integration;
using Twin.Kpis;
using Twin.Live;
using Twin.Planning;
using Twin.Scheduling;

namespace Twin.Grains.Planning;

/// <summary>
/// The planner of one factory. Its twins' outboxes tell it what changed (signals); it keeps its own
/// picture of orders, machines and material from them, and re-plans in the background: the
/// problem is built in a turn, solved on the thread pool (seconds of CP-SAT never hold the grain),
/// and the result applied in a turn only if the picture it was made from is still the latest
/// (otherwise it plans again from the new picture). Each re-plan records its triggers and what it
/// changed, queues <c>dispatch.changed</c> for the machines whose lists changed (outbox → webhooks,
/// MQTT), reports its promises to the factory KPIs and publishes the plan on <c>schedule:{factory}</c>.
/// </summary>
[Reentrant]
public sealed partial class PlanningGrain(
    [PersistentState("planning", TwinStorage.Name)] IPersistentState<PlanningState> state,
    IOptions<PlanningOptions> options,
    OutboxServices outboxServices,
    TwinClock clock,
    ILogger<PlanningGrain> logger) : Grain, IPlanningGrain, IRemindable
{
    private GroupCommit? _commit;
    private Outbox? _outbox;
    private KpiFeed? _kpis;
    private LivePublisher? _live;
    private Task _solving = Task.CompletedTask;
    private IGrainTimer? _debounce;

    private string Factory => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _commit = new GroupCommit(state, this);
        _outbox = new Outbox(this, () => state.State.Outbox, _commit, outboxServices);
        _kpis = new KpiFeed(this, SendKpisAsync, ex => LogKpiFailed(ex, Factory), TimeSpan.Zero);
        if (state.State.KpiPending)
        {
            _kpis.Kick();
        }

        _outbox.Kick();
        if (state.State.InputVersion != state.State.PlannedInput)
        {
            // Signals taken before a deactivation or crash that no plan has answered yet.
            RequestReplan();
        }

        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_commit is not null)
        {
            await _commit.DrainAsync();
        }
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => _outbox!.OnReminderAsync(reminderName);

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
        if (order.Quantity <= 0 || string.IsNullOrWhiteSpace(order.Product))
        {
            throw new TwinRuleException("what-if.invalid", "product and a positive quantity are required");
        }

        var now = PlanningRules.Origin(clock.UtcNow);
        var probe = new OrderDemand("what-if", 0, order.Product, order.Quantity, 0, order.Due, Twin.WorkOrders.WorkOrderStatus.Released, [], Math.Clamp(order.Priority, 1, 100), null);
        var (problem, unscheduled) = PlanningRules.ToProblem(state.State, now, options.Value, [probe]);
        if (unscheduled.TryGetValue(probe.WorkOrder, out var reason))
        {
            return new WhatIfAnswer(null, null, reason, [], []);
        }

        // A copy of the plan's problem with the order in it, solved off the grain's turn; nothing is kept.
        var settings = Settings();
        var schedule = await Task.Run(() => CpSatScheduler.Solve(problem, settings));
        if (schedule.Unscheduled.TryGetValue(probe.WorkOrder, out var refused))
        {
            return new WhatIfAnswer(null, null, refused, [], []);
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
        return new WhatIfAnswer(completion, order.Due is { } due ? completion - due : null, null, operations, moved);
    }

    private SolverSettings Settings() => new(options.Value.TimeLimit, options.Value.Workers);

    private PlanSnapshot Snapshot() =>
        PlanningRules.ToSnapshot(Factory, state.State, !_solving.IsCompleted || state.State.InputVersion != state.State.PlannedInput);

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
            // A bug or a failed write: the plan in force stays; the next signal (or activation) tries again.
            LogReplanFailed(ex, Factory);
        }
    }

    private async Task SolveUntilCurrentAsync()
    {
        while (state.State.InputVersion != state.State.PlannedInput)
        {
            var input = state.State.InputVersion;
            var triggers = state.State.PendingTriggers.ToList();
            var now = PlanningRules.Origin(clock.UtcNow);
            var (problem, unscheduled) = PlanningRules.ToProblem(state.State, now, options.Value);
            var settings = Settings();
            Schedule schedule;
            try
            {
                // Off the grain's turn: calls go on while CP-SAT searches.
                schedule = await Task.Run(() => CpSatScheduler.Solve(problem, settings));
            }
            catch (Exception ex)
            {
                // A failed solve keeps the plan in force; the next signal (or activation) tries again.
                LogReplanFailed(ex, Factory);
                return;
            }


            if (state.State.InputVersion != input)
            {
                // The picture changed while it was solved: plan again from the new one.
                LogStale(Factory, input, state.State.InputVersion);
                continue;
            }

            Apply(schedule, now, triggers, unscheduled, input);
            await _commit!.CommitAsync();
            _outbox!.Kick();
            _kpis!.Kick();
            Live.Changed();
        }
    }

    /// <summary>Makes the solved schedule the plan in force (synchronously, in one turn).</summary>
    private void Apply(Schedule schedule, DateTimeOffset now, List<string> triggers, Dictionary<string, string> unscheduled, long input)
    {
        var s = state.State;
        var before = s.Plan;
        var after = PlanningRules.ToPlan(s, schedule, now);
        var machines = PlanningRules.ChangedMachines(before, after);
        s.Version++;
        s.Plan = after;
        s.PlannedAt = now;
        s.PlannedInput = input;
        s.PendingTriggers.RemoveRange(0, Math.Min(triggers.Count, s.PendingTriggers.Count));
        s.Unscheduled = [.. unscheduled.Concat(schedule.Unscheduled).Select(u => new UnscheduledOrder(u.Key, u.Value)).OrderBy(u => u.WorkOrder, StringComparer.Ordinal)];
        var record = new ReplanRecord(
            s.Version,
            now,
            [.. triggers],
            schedule.Method,
            schedule.Status.ToString().ToLowerInvariant(),
            schedule.Elapsed,
            schedule.Changes.Moved.Count,
            [.. schedule.Changes.Completions.Select(c => new CompletionShift(c.Job, c.From is { } from ? now.AddSeconds(from) : null, now.AddSeconds(c.To)))],
            schedule.Changes.Stability,
            [.. machines],
            [.. schedule.Notes]);
        s.History.Insert(0, record);
        if (s.History.Count > PlanningRules.HistoryKept)
        {
            s.History.RemoveRange(PlanningRules.HistoryKept, s.History.Count - PlanningRules.HistoryKept);
        }

        var cause = triggers.Count == 0 ? "re-plan" : triggers[^1];
        foreach (var machine in machines)
        {
            var list = PlanningRules.Dispatch(after, machine);
            var next = list.FirstOrDefault();
            var summary = next is null
                ? $"Dispatch list of {machine} changed (plan {s.Version}, after: {cause}): nothing planned"
                : $"Dispatch list of {machine} changed (plan {s.Version}, after: {cause}): next {next.WorkOrder} operation {next.Operation} at {next.Start:O}, {list.Length} operations";
            OutboxRules.AddEvent(s.Outbox, new OutboundEvent($"dispatch:{machine}:{s.Version}", "dispatch.changed", Factory, $"machine/{machine}", now, summary));
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

    [LoggerMessage(EventId = TwinEvents.PlanningGrainKpiFailed, Level = LogLevel.Warning, Message = "Planner of {Factory} could not report to the factory KPIs yet (retried)")]
    private partial void LogKpiFailed(Exception exception, string factory);
}
