using System.Collections.Immutable;
using Microsoft.Extensions.Options;
using Twin.Factories;
using Twin.Grains.Infrastructure;
using Twin.Machines;
using Twin.Maintenance;

namespace Twin.Grains.Maintenance;

/// <summary>One machine's tickets for one fault kind. A reminder escalates unacknowledged tickets, also across restarts.</summary>
public sealed class MaintenanceTicketGrain(
    [PersistentState("tickets", TwinStorage.Name)] IPersistentState<TicketDeskState> state,
    IOptions<MaintenanceOptions> options,
    TwinClock clock) : Grain, IMaintenanceTicketGrain, IRemindable
{
    private const string EscalationReminder = "escalate";

    private string _factory = "";
    private string _machine = "";
    private FaultKind _kind;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_factory, var id) = TwinKey.Split(this.GetPrimaryKeyString());
        var dot = id.LastIndexOf('.');
        _machine = id[..dot];
        _kind = Enum.Parse<FaultKind>(id[(dot + 1)..]);
        return Task.CompletedTask;
    }

    public async Task<Ticket> ReportAsync(FaultReport report)
    {
        if (!state.State.Registered)
        {
            await GrainFactory.GetGrain<IFactoryGrain>(_factory).RegisterAsync(TwinKind.TicketDesk, $"{_machine}.{_kind}");
            state.State.Registered = true;
        }

        var hadOpen = state.State.Tickets.Any(t => TicketRules.IsOpen(t.Status));
        if (TicketRules.Report(state.State, report, clock.UtcNow))
        {
            await this.WriteOrResetAsync(state);
            if (!hadOpen)
            {
                var period = Period();
                await this.RegisterOrUpdateReminder(EscalationReminder, period, period);
            }
        }

        var open = state.State.Tickets.LastOrDefault(t => TicketRules.IsOpen(t.Status)) ?? state.State.Tickets[^1];
        return TicketRules.ToTicket(_factory, _machine, _kind, open);
    }

    public async Task<Ticket> MoveAsync(int number, TicketStatus target, string? by, string? note)
    {
        TicketRules.Move(state.State, number, target, clock.UtcNow, by, note);
        await this.WriteOrResetAsync(state);
        return TicketRules.ToTicket(_factory, _machine, _kind, state.State.Tickets.First(t => t.Number == number));
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != EscalationReminder)
        {
            return;
        }

        if (TicketRules.Escalate(state.State, clock.UtcNow, options.Value.EscalateAfter) > 0)
        {
            await this.WriteOrResetAsync(state);
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

    // Orleans reminders tick at most once a minute.
    private TimeSpan Period() => options.Value.EscalateAfter < TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : options.Value.EscalateAfter;

    public Task<ImmutableArray<Ticket>> ListAsync() =>
        Task.FromResult(state.State.Tickets.AsEnumerable().Reverse().Select(t => TicketRules.ToTicket(_factory, _machine, _kind, t)).ToImmutableArray());
}
