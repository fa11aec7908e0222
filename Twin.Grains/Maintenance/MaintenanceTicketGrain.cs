using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Twin.Factories;
using Twin.Grains.Infrastructure;
using Twin.Grains.Kpis;
using Twin.Integration;
using Twin.Kpis;
using Twin.Machines;
using Twin.Maintenance;

namespace Twin.Grains.Maintenance;

/// <summary>One machine's tickets for one fault kind. A reminder escalates unacknowledged tickets, also across restarts.</summary>
public sealed partial class MaintenanceTicketGrain(
    [PersistentState("tickets", TwinStorage.Name)] IPersistentState<TicketDeskState> state,
    IOptions<MaintenanceOptions> options,
    OutboxServices outboxServices,
    TwinMetrics metrics,
    TwinClock clock,
    ILogger<MaintenanceTicketGrain> logger) : Grain, IMaintenanceTicketGrain, IRemindable, IOutboxOwner
{
    List<OutboxEntry> IOutboxOwner.Outbox => state.State.Outbox;

    private const string EscalationReminder = "escalate";

    // Ticket changes are rare and a reader (the API) expects to see them in the KPIs at once: the
    // call waits this long for the KPI report, then leaves it to the feed's retries.
    private static readonly TimeSpan KpiWait = TimeSpan.FromSeconds(2);

    private string _factory = "";
    private string _machine = "";
    private FaultKind _kind;
    private TicketDeskKey _key;
    private bool _remindersChecked;
    private KpiFeed? _kpis;
    private GroupCommit? _commit;
    private Outbox? _outbox;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var key = TicketDeskKey.Parse(this.GetPrimaryKeyString());
        (_factory, _machine, _kind, _key) = (key.Factory, key.Machine, key.Kind, key);
        ReportOpen();
        _commit = new GroupCommit(state, this);
        _outbox = new Outbox(this, _commit, outboxServices);
        _kpis = new KpiFeed(this, SendKpisAsync, ex => LogKpiFailed(ex, this.GetPrimaryKeyString()), TimeSpan.Zero);
        _kpis.Wake(() => state.State.KpiPending, _commit, outboxServices.Wake);
        if (state.State.KpiPending)
        {
            _kpis.Kick();
        }

        if (OutboxRules.Upgrade(state.State.EarlierOutbound, state.State.Outbox))
        {
            await _commit.CommitAsync();
        }

        _outbox.Kick();
    }

    /// <summary>Marks a change to the tickets, to be written with it and then reported to the factory KPIs.</summary>
    private void TicketsChanged()
    {
        state.State.Version++;
        state.State.KpiPending = true;
    }

    private async Task SendKpisAsync()
    {
        var (_, id) = TwinKey.Split(this.GetPrimaryKeyString());
        var version = state.State.Version;
        var report = KpiRules.Desk(id, _machine, version, state.State.Tickets.Select(t => (t.OpenedAt, t.Status, (IEnumerable<TicketStep>)t.History)), Twin.Quality.SpcRules.IsSpc(_kind));
        await GrainFactory.GetGrain<IFactoryKpiGrain>(_factory).ReportTicketsAsync(report);
        if (state.State.Version == version)
        {
            state.State.KpiPending = false;
        }
    }

    [LoggerMessage(EventId = TwinEvents.MaintenanceTicketGrainKpiFailed, Level = LogLevel.Warning, Message = "Ticket desk {Desk} could not report to the factory KPIs yet (retried)")]
    private partial void LogKpiFailed(Exception exception, string desk);

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.TicketsOpen(this.GetPrimaryKeyString(), 0);
        return _commit?.CloseAsync(cancellationToken, _outbox) ?? Task.CompletedTask;
    }

    private void ReportOpen() => metrics.TicketsOpen(this.GetPrimaryKeyString(), state.State.Tickets.Count(t => TicketRules.IsOpen(t.Status)));

    private async Task SaveAsync()
    {
        await _commit!.CommitAsync();
        ReportOpen();
    }

    public async Task<Ticket> ReportAsync(FaultReport report)
    {
        await this.RegisterOnceAsync(state.State, TwinKind.TicketDesk);

        var wasOpen = state.State.Tickets.LastOrDefault(t => TicketRules.IsOpen(t.Status));
        if (TicketRules.Report(state.State, report, clock.UtcNow))
        {
            var opened = wasOpen is null && !report.Cleared ? state.State.Tickets[^1] : null;
            if (opened is not null)
            {
                Emit(opened, "opened", _key.Characteristic is { } characteristic
                    ? $"{_kind} on {_machine} {characteristic}: {report.Evidence.Note}"
                    : $"{_kind} on {_machine} ({report.Evidence.Sensor} = {report.Evidence.Value})");
                TellPlanner(opened, opened: true, $"predicted failure ({report.Evidence.Sensor} = {report.Evidence.Value}): maintenance window reserved");
            }
            else if (report.Cleared && wasOpen is { Status: TicketStatus.Resolved })
            {
                Emit(wasOpen, Resolution(wasOpen), $"{_kind} on {_machine} resolved by the detector: the fault cleared", "ticket.resolved");
                TellPlanner(wasOpen, opened: false, "predicted failure cleared: maintenance window released");
            }

            TicketsChanged();
            await SaveAsync();
            _kpis!.Kick();
            if (opened is not null)
            {
                var period = Period();
                await this.RegisterOrUpdateReminder(EscalationReminder, period, period);
                await DeliverAsync();
                _remindersChecked = true;
            }
            else
            {
                _outbox!.Kick();
            }

            await _kpis.WhenSentAsync(KpiWait);
        }

        if (!_remindersChecked)
        {
            await EnsureRemindersAsync();
        }

        // A clearing that found no ticket (its raise was never delivered) answers with an empty one.
        var open = state.State.Tickets.LastOrDefault(t => TicketRules.IsOpen(t.Status)) ?? state.State.Tickets.LastOrDefault() ?? new TicketState { Status = TicketStatus.Closed };
        return TicketRules.ToTicket(_key, open);
    }

    public async Task<Ticket> MoveAsync(int number, TicketStatus target, string? by, string? note)
    {
        var before = state.State.Tickets.FirstOrDefault(t => t.Number == number)?.Status;
        TicketRules.Move(state.State, number, target, clock.UtcNow, by, note);
        var moved = state.State.Tickets.First(t => t.Number == number);
        if (target == TicketStatus.Resolved && before != TicketStatus.Resolved)
        {
            Emit(moved, Resolution(moved), $"{_kind} on {_machine} resolved by {by ?? "someone"}{(note is null ? "" : $": {note}")}", "ticket.resolved");
            TellPlanner(moved, opened: false, $"maintenance done (resolved by {by ?? "someone"}): window released");
            TrackEffect(moved, by, note);
        }

        TicketsChanged();
        await SaveAsync();
        _kpis!.Kick();
        await DeliverAsync();
        await _kpis.WhenSentAsync(KpiWait);
        return TicketRules.ToTicket(_key, state.State.Tickets.First(t => t.Number == number));
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (await _outbox!.OnReminderAsync(reminderName) || await _kpis!.OnReminderAsync(reminderName) || reminderName != EscalationReminder)
        {
            return;
        }

        var now = clock.UtcNow;
        if (TicketRules.Escalate(state.State, now, options.Value.EscalateAfter) > 0)
        {
            foreach (var ticket in state.State.Tickets.Where(t => t.LastEscalatedAt == now))
            {
                Emit(ticket, $"escalated.{ticket.Escalations}", $"{_kind} on {_machine} unacknowledged (escalation {ticket.Escalations})", "ticket.escalated");
            }

            await SaveAsync();
            await DeliverAsync();
        }

        if (!state.State.Tickets.Any(t => t.Status == TicketStatus.Open))
        {
            // Nothing left to escalate: stop until the next ticket opens.
            if (await this.GetReminder(EscalationReminder) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }
        }
    }

    /// <summary>A predicted failure reserves a maintenance window in the factory's schedule until it is resolved.</summary>
    private void TellPlanner(TicketState ticket, bool opened, string summary)
    {
        if (_kind != FaultKind.Predicted)
        {
            return;
        }

        var id = _key.TicketId(ticket.Number);
        var signal = new Twin.Scheduling.PlanningSignal(
            $"ticket:{id}:{(opened ? "opened" : "cleared")}",
            opened ? Twin.Scheduling.PlanningSignalKind.MaintenancePredicted : Twin.Scheduling.PlanningSignalKind.MaintenanceCleared,
            id,
            clock.UtcNow,
            summary,
            Machine: _machine);
        OutboxRules.Add(state.State.Outbox, $"planning:{signal.Id}", new PlanningMessage(signal), clock.UtcNow);
    }

    /// <summary>A person's resolution is an action whose effect the factory verifies (delivered through the outbox, with the resolution).</summary>
    private void TrackEffect(TicketState ticket, string? by, string? note)
    {
        var id = _key.TicketId(ticket.Number);
        var action = new Twin.Effects.ActionRecord(
            $"ticket:{id}:{Resolution(ticket)}",
            Twin.Effects.ActionKind.TicketResolved,
            _machine,
            _key.Characteristic,
            $"ticket/{id}",
            clock.UtcNow,
            by,
            note is null ? $"{_kind} on {_machine} resolved" : $"{_kind} on {_machine} resolved: {note}",
            id);
        OutboxRules.Add(state.State.Outbox, $"effects:{action.Id}", new ActionMessage(action), clock.UtcNow);
    }

    /// <summary>A ticket can be resolved more than once (reopened in between, or by the detector and then a person): each resolution is its own event.</summary>
    private static string Resolution(TicketState ticket) => $"resolved.{Math.Max(1, ticket.History.Count(s => s.Status == TicketStatus.Resolved))}";

    private void Emit(TicketState ticket, string what, string summary, string? type = null)
    {
        var id = _key.TicketId(ticket.Number);
        OutboxRules.AddEvent(state.State.Outbox, new OutboundEvent($"ticket:{id}:{what}", type ?? $"ticket.{what}", _factory, $"ticket/{id}", clock.UtcNow, summary));
    }

    /// <summary>
    /// A report that was saved but whose call failed before its reminder was set comes again
    /// with the same id and changes nothing, so once per activation the escalation reminder is
    /// checked against the state (the outbox sees to its own on activation).
    /// </summary>
    private async Task EnsureRemindersAsync()
    {
        if (state.State.Tickets.Any(t => t.Status == TicketStatus.Open) && await this.GetReminder(EscalationReminder) is null)
        {
            var period = Period();
            await this.RegisterOrUpdateReminder(EscalationReminder, period, period);
        }

        _remindersChecked = true;
    }

    private Task DeliverAsync() => _outbox!.DeliverAsync();

    // Orleans reminders tick at most once a minute.
    private TimeSpan Period() => options.Value.EscalateAfter < TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : options.Value.EscalateAfter;

    public Task<ImmutableArray<Ticket>> ListAsync() =>
        Task.FromResult(state.State.Tickets.AsEnumerable().Reverse().Select(t => TicketRules.ToTicket(_key, t)).ToImmutableArray());
}
