using Twin.Bins;
using Twin.Factories;
using Twin.Grains.Domain;
using Twin.Grains.Infrastructure;

namespace Twin.Grains.Bins;

/// <summary>
/// The stock bin twin. Reentrant with group commit, like the machine twin: each movement is
/// applied in one synchronous step and answered once durable; a transfer calls the target bin
/// after its own commit, so two bins transferring to each other at once cannot deadlock.
/// </summary>
[Reentrant]
public sealed class StockBinGrain(
    [PersistentState("bin", TwinStorage.Name)] IPersistentState<BinState> state) : Grain, IStockBinGrain
{
    private GroupCommit? _commit;
    private string _factory = "";
    private string _id = "";

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_factory, _id) = TwinKey.Split(this.GetPrimaryKeyString());
        _commit = new GroupCommit(state.WriteStateAsync, this.DeactivateOnIdle);
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _commit?.DrainAsync() ?? Task.CompletedTask;

    public async Task<BinSnapshot> DefineAsync(BinDefinition definition)
    {
        var errors = StockLedger.Validate(definition);
        if (errors.Count > 0)
        {
            throw new TwinRuleException("bin.invalid", string.Join("; ", errors));
        }

        await RegisterOnceAsync();
        StockLedger.Define(state.State, definition);
        await _commit!.CommitAsync();
        return StockLedger.ToSnapshot(_factory, _id, state.State);
    }

    public async Task<MovementResult> ApplyMovementAsync(StockMovement movement)
    {
        if (movement.Kind == MovementKind.Transfer && movement.TargetBin == _id)
        {
            return new MovementResult(movement.MovementId, MovementOutcome.Refused, "targetBin: a transfer needs another bin than its source", state.State.OnHand, state.State.Reserved, state.State.Version);
        }

        await RegisterOnceAsync();
        if (StockLedger.FindApplied(state.State, movement.MovementId) is { } first)
        {
            // Applied before, perhaps by a call still waiting for its write: answer once durable.
            await _commit!.WhenDurableAsync();
            if (movement.Kind == MovementKind.Transfer)
            {
                // The receiving side may not have heard of it if the first attempt failed half-way.
                await SendTransferInAsync(movement);
            }

            return StockLedger.AsDuplicate(first);
        }

        var result = StockLedger.Apply(state.State, movement);
        if (result.Outcome != MovementOutcome.Applied)
        {
            return result;
        }

        await _commit!.CommitAsync();
        if (movement.Kind == MovementKind.Transfer)
        {
            await SendTransferInAsync(movement);
        }

        return result;
    }

    public Task<BinSnapshot> GetSnapshotAsync()
    {
        if (!state.State.Defined && state.State.Version == 0)
        {
            throw new TwinRuleException("bin.not-found", $"Bin '{_id}' of factory '{_factory}' is not known.");
        }

        return Task.FromResult(StockLedger.ToSnapshot(_factory, _id, state.State));
    }

    public Task<bool> ExistsAsync() => Task.FromResult(state.State.Defined || state.State.Version > 0);

    private async Task RegisterOnceAsync()
    {
        if (!state.State.Registered)
        {
            await GrainFactory.GetGrain<IFactoryGrain>(_factory).RegisterAsync(TwinKind.StockBin, _id);
            state.State.Registered = true;
        }
    }

    private async Task SendTransferInAsync(StockMovement movement)
    {
        var target = GrainFactory.GetGrain<IStockBinGrain>(TwinKey.Compose(_factory, movement.TargetBin!));
        var received = await target.ApplyMovementAsync(movement with
        {
            Kind = MovementKind.TransferIn,
            TargetBin = null,
            Reference = movement.Reference ?? $"transfer from {_id}",
        });
        if (received.Outcome == MovementOutcome.Refused)
        {
            throw new TwinRuleException("stock.transfer-in-refused", $"Bin {movement.TargetBin} refused the transfer in: {received.Reason}");
        }
    }
}
