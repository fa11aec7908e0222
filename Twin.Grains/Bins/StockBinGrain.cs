using Twin.Bins;
using Twin.Factories;
using Twin.Grains.Domain;
using Microsoft.Extensions.Logging;
using Twin.Grains.Infrastructure;
using Twin.Grains.Kpis;
using Twin.Kpis;
using Twin.Purchasing;

namespace Twin.Grains.Bins;

/// <summary>
/// The stock bin twin. Reentrant with group commit, like the machine twin: each movement is
/// applied in one synchronous step and answered once durable. A transfer is queued for the
/// target bin in the same write that takes the stock out, then delivered after that commit (so
/// two bins transferring to each other at once cannot deadlock) and retried by the timer until
/// the target has taken it: the stock is never out of one bin without arriving in the other.
/// </summary>
[Reentrant]
public sealed partial class StockBinGrain(
    [PersistentState("bin", TwinStorage.Name)] IPersistentState<BinState> state,
    TwinClock clock,
    ILogger<StockBinGrain> logger) : Grain, IStockBinGrain
{
    // Coverage is a figure in days: a busy bin reports its stock at most this often.
    private static readonly TimeSpan KpiInterval = TimeSpan.FromSeconds(5);

    private GroupCommit? _commit;
    private KpiFeed? _kpis;
    private bool _flushing;
    private string _factory = "";
    private string _id = "";

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_factory, _id) = TwinKey.Split(this.GetPrimaryKeyString());
        _commit = new GroupCommit(state, this);
        this.RegisterGrainTimer(_ => FlushOutboxAsync(), TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(15));
        _kpis = new KpiFeed(this, SendKpisAsync, ex => LogKpiFailed(ex, _factory, _id), KpiInterval);
        if (state.State.KpiPending)
        {
            _kpis.Kick();
        }

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
        StockLedger.CheckReorderPoint(state.State, $"define-{state.State.Version}", stockCameIn: false, clock.UtcNow);
        state.State.KpiPending = true;
        await _commit!.CommitAsync();
        _kpis!.Kick();
        _ = FlushOutboxAsync();
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
                await DeliveredAsync(movement.MovementId);
            }

            return StockLedger.AsDuplicate(first);
        }

        var result = StockLedger.Apply(state.State, movement);
        if (result.Outcome != MovementOutcome.Applied)
        {
            return result;
        }

        StockLedger.CheckReorderPoint(
            state.State,
            movement.MovementId,
            movement.Kind is MovementKind.Receipt or MovementKind.TransferIn or MovementKind.CountAdjustment or MovementKind.Unreserve,
            movement.Timestamp);
        if (movement.Kind == MovementKind.Transfer)
        {
            state.State.TransfersOut.Add(movement);
        }

        state.State.KpiPending = true;
        await _commit!.CommitAsync();
        _kpis!.Kick();
        if (state.State.Outbox.Count > 0)
        {
            _ = FlushOutboxAsync();
        }

        if (movement.Kind == MovementKind.Transfer)
        {
            // The caller learns whether the target took it; if not, the timer keeps trying.
            await SendTransferInAsync(movement);
            await DeliveredAsync(movement.MovementId);
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

    /// <summary>
    /// Delivers queued transfers to their target bins and notices to purchasing, oldest first;
    /// what fails stays for the next tick.
    /// </summary>
    private async Task FlushOutboxAsync()
    {
        if (_flushing || (state.State.Outbox.Count == 0 && state.State.TransfersOut.Count == 0))
        {
            return;
        }

        _flushing = true;
        try
        {
            foreach (var transfer in state.State.TransfersOut.ToList())
            {
                try
                {
                    await SendTransferInAsync(transfer);
                }
                catch (TwinRuleException refused) when (refused.Code == "stock.transfer-in-refused")
                {
                    // Refused for good (it passed the same checks here): retrying cannot help.
                    LogTransferRefused(refused, _factory, _id, transfer.MovementId);
                }

                await DeliveredAsync(transfer.MovementId);
            }

            var desk = GrainFactory.GetGrain<IPurchaseRequestGrain>(TwinKey.Compose(_factory, _id));
            while (state.State.Outbox.Count > 0)
            {
                var notice = state.State.Outbox[0];
                await desk.NoticeAsync(notice);
                if (state.State.Outbox.Count > 0 && state.State.Outbox[0].NoticeId == notice.NoticeId)
                {
                    state.State.Outbox.RemoveAt(0);
                }
            }

            await _commit!.CommitAsync();
        }
        catch (Exception ex)
        {
            LogOutboxFailed(ex, _factory, _id);
        }
        finally
        {
            _flushing = false;
        }
    }

    private async Task SendKpisAsync()
    {
        var version = state.State.Version;
        var report = KpiRules.Bin(_id, version, state.State.Sku, state.State.OnHand - state.State.Reserved, state.State.Recent);
        await GrainFactory.GetGrain<IFactoryKpiGrain>(_factory).ReportBinAsync(report);
        if (state.State.Version == version)
        {
            state.State.KpiPending = false;
        }
    }

    [LoggerMessage(EventId = TwinEvents.StockBinGrainKpiFailed, Level = LogLevel.Warning, Message = "Bin {Factory}/{Bin} could not report to the factory KPIs yet (retried)")]
    private partial void LogKpiFailed(Exception exception, string factory, string bin);

    [LoggerMessage(EventId = TwinEvents.StockBinGrainTransferRefused, Level = LogLevel.Error, Message = "Bin {Factory}/{Bin}: transfer {Movement} was refused by its target and is not retried")]
    private partial void LogTransferRefused(Exception exception, string factory, string bin, string movement);

    [LoggerMessage(EventId = TwinEvents.StockBinGrainOutboxFailed, Level = LogLevel.Warning, Message = "Bin {Factory}/{Bin} could not deliver to purchasing or a target bin yet")]
    private partial void LogOutboxFailed(Exception exception, string factory, string bin);

    private async Task RegisterOnceAsync()
    {
        if (!state.State.Registered)
        {
            await GrainFactory.GetGrain<IFactoryGrain>(_factory).RegisterAsync(TwinKind.StockBin, _id);
            state.State.Registered = true;
        }
    }

    /// <summary>Takes a transfer the target bin has taken in out of the outbox, durably.</summary>
    private async Task DeliveredAsync(string movementId)
    {
        if (state.State.TransfersOut.RemoveAll(t => t.MovementId == movementId) > 0)
        {
            await _commit!.CommitAsync();
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
