using System.Collections.Immutable;
using Twin.Factories;
using Twin.Grains.Infrastructure;
using Twin.Integration;
using Twin.Purchasing;

namespace Twin.Grains.Purchasing;

/// <summary>One bin's purchase requests.</summary>
public sealed class PurchaseRequestGrain(
    [PersistentState("purchasing", TwinStorage.Name)] IPersistentState<PurchaseDeskState> state,
    OutboxServices outboxServices,
    TwinClock clock) : Grain, IPurchaseRequestGrain, IRemindable, IOutboxOwner
{
    List<OutboxEntry> IOutboxOwner.Outbox => state.State.Outbox;

    private GroupCommit? _commit;
    private Outbox? _outbox;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _commit = new GroupCommit(state, this);
        _outbox = new Outbox(this, _commit, outboxServices);
        if (OutboxRules.Upgrade(state.State.EarlierOutbound, state.State.Outbox))
        {
            await _commit.CommitAsync();
        }

        _outbox.Kick();
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _commit?.CloseAsync(cancellationToken, _outbox) ?? Task.CompletedTask;

    public async Task NoticeAsync(StockNotice notice)
    {
        var (factory, bin) = TwinKey.Split(this.GetPrimaryKeyString());
        await this.RegisterOnceAsync(state.State, TwinKind.PurchaseDesk);

        var before = state.State.Requests.Count;
        if (PurchaseRules.Notice(state.State, notice))
        {
            var opened = state.State.Requests.Count > before || (before == PurchaseRules.RequestsKept && notice.Below && state.State.Requests[^1].Cause == notice.NoticeId);
            if (opened)
            {
                var request = state.State.Requests[^1];
                OutboxRules.AddEvent(state.State.Outbox, new OutboundEvent(
                    $"purchase-request:{bin}.{request.Number}:opened", "purchase-request.opened", factory, $"purchase-request/{bin}.{request.Number}", clock.UtcNow,
                    $"Order {request.Quantity} of {request.Sku} for bin {bin}: available {notice.Available} below reorder point {notice.ReorderPoint}"));
            }

            await _commit!.CommitAsync();
            if (opened)
            {
                await _outbox!.DeliverAsync();
            }
        }
    }

    public async Task<PurchaseRequest> MoveAsync(int number, PurchaseRequestStatus target, string? by, string? note)
    {
        var (factory, bin) = TwinKey.Split(this.GetPrimaryKeyString());
        PurchaseRules.Move(state.State, number, target, clock.UtcNow, by, note);
        await _commit!.CommitAsync();
        return PurchaseRules.ToRequest(factory, bin, state.State.Requests.First(r => r.Number == number));
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => _outbox!.OnReminderAsync(reminderName);

    public Task<ImmutableArray<PurchaseRequest>> ListAsync()
    {
        var (factory, bin) = TwinKey.Split(this.GetPrimaryKeyString());
        return Task.FromResult(state.State.Requests.AsEnumerable().Reverse().Select(r => PurchaseRules.ToRequest(factory, bin, r)).ToImmutableArray());
    }
}
