using Twin.Bins;
using Twin.Factories;
using Twin.Grains.Domain;
using Twin.Grains.Infrastructure;

namespace Twin.Grains.Bins;

/// <summary>The stock bin twin.</summary>
public sealed class StockBinGrain(
    [PersistentState("bin", TwinStorage.Name)] IPersistentState<BinState> state) : Grain, IStockBinGrain
{
    public async Task<BinSnapshot> DefineAsync(BinDefinition definition)
    {
        var errors = StockLedger.Validate(definition);
        if (errors.Count > 0)
        {
            throw new TwinRuleException("bin.invalid", string.Join("; ", errors));
        }

        StockLedger.Define(state.State, definition);
        await RegisterOnceAsync();
        await state.WriteStateAsync();
        return await GetSnapshotAsync();
    }

    public async Task<MovementResult> ApplyMovementAsync(StockMovement movement)
    {
        var (factory, id) = TwinKey.Split(this.GetPrimaryKeyString());
        if (movement.Kind == MovementKind.Transfer && movement.TargetBin == id)
        {
            return new MovementResult(movement.MovementId, MovementOutcome.Refused, "targetBin: a transfer needs another bin than its source", state.State.OnHand, state.State.Reserved, state.State.Version);
        }

        if (StockLedger.FindApplied(state.State, movement.MovementId) is { } first)
        {
            if (movement.Kind == MovementKind.Transfer)
            {
                // The receiving side may not have heard of it if the first attempt failed half-way.
                await SendTransferInAsync(factory, movement);
            }

            return StockLedger.AsDuplicate(first);
        }

        var result = StockLedger.Apply(state.State, movement);
        if (result.Outcome != MovementOutcome.Applied)
        {
            return result;
        }

        await RegisterOnceAsync();
        await state.WriteStateAsync();
        if (movement.Kind == MovementKind.Transfer)
        {
            await SendTransferInAsync(factory, movement);
        }

        return result;
    }

    public Task<BinSnapshot> GetSnapshotAsync()
    {
        var (factory, id) = TwinKey.Split(this.GetPrimaryKeyString());
        if (!state.State.Defined && state.State.Version == 0)
        {
            throw new TwinRuleException("bin.not-found", $"Bin '{id}' of factory '{factory}' is not known.");
        }

        return Task.FromResult(StockLedger.ToSnapshot(factory, id, state.State));
    }

    public Task<bool> ExistsAsync() => Task.FromResult(state.State.Defined || state.State.Version > 0);

    private async Task RegisterOnceAsync()
    {
        if (!state.State.Registered)
        {
            var (factory, id) = TwinKey.Split(this.GetPrimaryKeyString());
            await GrainFactory.GetGrain<IFactoryGrain>(factory).RegisterAsync(TwinKind.StockBin, id);
            state.State.Registered = true;
        }
    }

    private Task<MovementResult> SendTransferInAsync(string factory, StockMovement movement)
    {
        var (_, id) = TwinKey.Split(this.GetPrimaryKeyString());
        var target = GrainFactory.GetGrain<IStockBinGrain>(TwinKey.Compose(factory, movement.TargetBin!));
        return target.ApplyMovementAsync(movement with
        {
            Kind = MovementKind.TransferIn,
            TargetBin = null,
            Reference = movement.Reference ?? $"transfer from {id}",
        });
    }
}
