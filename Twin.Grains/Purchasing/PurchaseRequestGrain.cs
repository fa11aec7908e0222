using System.Collections.Immutable;
using Twin.Factories;
using Twin.Grains.Infrastructure;
using Twin.Purchasing;

namespace Twin.Grains.Purchasing;

/// <summary>One bin's purchase requests.</summary>
public sealed class PurchaseRequestGrain(
    [PersistentState("purchasing", TwinStorage.Name)] IPersistentState<PurchaseDeskState> state,
    TwinClock clock) : Grain, IPurchaseRequestGrain
{
    public async Task NoticeAsync(StockNotice notice)
    {
        var (factory, bin) = TwinKey.Split(this.GetPrimaryKeyString());
        if (!state.State.Registered)
        {
            await GrainFactory.GetGrain<IFactoryGrain>(factory).RegisterAsync(TwinKind.PurchaseDesk, bin);
            state.State.Registered = true;
        }

        if (PurchaseRules.Notice(state.State, notice))
        {
            await this.WriteOrResetAsync(state);
        }
    }

    public async Task<PurchaseRequest> MoveAsync(int number, PurchaseRequestStatus target, string? by, string? note)
    {
        var (factory, bin) = TwinKey.Split(this.GetPrimaryKeyString());
        PurchaseRules.Move(state.State, number, target, clock.UtcNow, by, note);
        await this.WriteOrResetAsync(state);
        return PurchaseRules.ToRequest(factory, bin, state.State.Requests.First(r => r.Number == number));
    }

    public Task<ImmutableArray<PurchaseRequest>> ListAsync()
    {
        var (factory, bin) = TwinKey.Split(this.GetPrimaryKeyString());
        return Task.FromResult(state.State.Requests.AsEnumerable().Reverse().Select(r => PurchaseRules.ToRequest(factory, bin, r)).ToImmutableArray());
    }
}
