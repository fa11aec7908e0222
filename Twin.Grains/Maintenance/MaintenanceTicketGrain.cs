using System.Collections.Immutable;
using Twin.Factories;
using Twin.Grains.Infrastructure;
using Twin.Machines;
using Twin.Maintenance;

namespace Twin.Grains.Maintenance;

/// <summary>One machine's tickets for one fault kind.</summary>
public sealed class MaintenanceTicketGrain(
    [PersistentState("tickets", TwinStorage.Name)] IPersistentState<TicketDeskState> state,
    TwinClock clock) : Grain, IMaintenanceTicketGrain
{
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

        if (TicketRules.Report(state.State, report, clock.UtcNow))
        {
            await this.WriteOrResetAsync(state);
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

    public Task<ImmutableArray<Ticket>> ListAsync() =>
        Task.FromResult(state.State.Tickets.AsEnumerable().Reverse().Select(t => TicketRules.ToTicket(_factory, _machine, _kind, t)).ToImmutableArray());
}
