using System.Collections.Immutable;
using Twin.Factories;
using Twin.Grains.Infrastructure;
using Twin.Grains.Integration;
using Twin.Integration;
using Twin.Purchasing;

namespace Twin.Grains.Purchasing;

/// <summary>One bin's purchase requests.</summary>
public sealed class PurchaseRequestGrain(
    [PersistentState("purchasing", TwinStorage.Name)] IPersistentState<PurchaseDeskState> state,
    IOutboundDelivery delivery,
    TwinClock clock) : Grain, IPurchaseRequestGrain, IRemindable
{
    private bool _deliveryChecked;

    public async Task NoticeAsync(StockNotice notice)
    {
        var (factory, bin) = TwinKey.Split(this.GetPrimaryKeyString());
        if (!state.State.Registered)
        {
            await GrainFactory.GetGrain<IFactoryGrain>(factory).RegisterAsync(TwinKind.PurchaseDesk, bin);
            state.State.Registered = true;
        }

        var before = state.State.Requests.Count;
        if (PurchaseRules.Notice(state.State, notice))
        {
            var opened = state.State.Requests.Count > before || (before == PurchaseRules.RequestsKept && notice.Below && state.State.Requests[^1].Cause == notice.NoticeId);
            if (opened)
            {
                var request = state.State.Requests[^1];
                Outbox.Add(state.State.Outbound, new OutboundEvent(
                    $"purchase-request:{bin}.{request.Number}:opened", "purchase-request.opened", factory, $"purchase-request/{bin}.{request.Number}", clock.UtcNow,
                    $"Order {request.Quantity} of {request.Sku} for bin {bin}: available {notice.Available} below reorder point {notice.ReorderPoint}"));
            }

            await this.WriteOrResetAsync(state);
            if (opened)
            {
                await DeliverAsync();
                _deliveryChecked = true;
            }
        }

        // A notice saved by a call that then failed comes again and changes nothing: once per
        // activation, make sure waiting events have their delivery (and its retry reminder).
        if (!_deliveryChecked)
        {
            if (state.State.Outbound.Count > 0)
            {
                await DeliverAsync();
            }

            _deliveryChecked = true;
        }
    }

    public async Task<PurchaseRequest> MoveAsync(int number, PurchaseRequestStatus target, string? by, string? note)
    {
        var (factory, bin) = TwinKey.Split(this.GetPrimaryKeyString());
        PurchaseRules.Move(state.State, number, target, clock.UtcNow, by, note);
        await this.WriteOrResetAsync(state);
        return PurchaseRules.ToRequest(factory, bin, state.State.Requests.First(r => r.Number == number));
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) =>
        reminderName == Outbox.Reminder ? DeliverAsync() : Task.CompletedTask;

    private Task DeliverAsync() => this.DeliverOutboxAsync(state.State.Outbound, delivery, clock.UtcNow, () => this.WriteOrResetAsync(state));

    public Task<ImmutableArray<PurchaseRequest>> ListAsync()
    {
        var (factory, bin) = TwinKey.Split(this.GetPrimaryKeyString());
        return Task.FromResult(state.State.Requests.AsEnumerable().Reverse().Select(r => PurchaseRules.ToRequest(factory, bin, r)).ToImmutableArray());
    }
}
