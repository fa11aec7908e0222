using System.Collections.Immutable;
using Twin.Bins;
using Twin.Genealogy;
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
/// applied in one synchronous step and answered once durable. A transfer's arrival is queued in
/// the bin's outbox in the same write that takes the stock out, then delivered after that commit
/// (so two bins transferring to each other at once cannot deadlock) and retried until the target
/// has taken it: the stock is never out of one bin without arriving in the other.
/// </summary>
[Reentrant]
public sealed partial class StockBinGrain(
    [PersistentState("bin", TwinStorage.Name)] IPersistentState<BinState> state,
    TwinClock clock,
    OutboxServices outboxServices,
    ILogger<StockBinGrain> logger) : Grain, IStockBinGrain, IRemindable, IOutboxOwner
{
    List<OutboxEntry> IOutboxOwner.Outbox => state.State.Outbox;

    // Coverage is a figure in days: a busy bin reports its stock at most this often.
    private static readonly TimeSpan KpiInterval = TimeSpan.FromSeconds(5);

    private GroupCommit? _commit;
    private KpiFeed? _kpis;
    private Outbox? _outbox;
    private string _factory = "";
    private string _id = "";

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_factory, _id) = TwinKey.Split(this.GetPrimaryKeyString());
        _commit = new GroupCommit(state, this);
        _outbox = new Outbox(this, _commit, outboxServices);
        _kpis = new KpiFeed(this, SendKpisAsync, ex => LogKpiFailed(ex, _factory, _id), KpiInterval);
        _kpis.Wake(() => state.State.KpiPending, _commit, outboxServices.Wake);
        if (state.State.KpiPending)
        {
            _kpis.Kick();
        }

        if (StockLedger.Upgrade(state.State, _id))
        {
            await _commit.CommitAsync();
        }

        _outbox.Kick();
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (!await _outbox!.OnReminderAsync(reminderName))
        {
            await _kpis!.OnReminderAsync(reminderName);
        }
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _commit?.CloseAsync(cancellationToken, _outbox) ?? Task.CompletedTask;

    public async Task<BinSnapshot> DefineAsync(BinDefinition definition)
    {
        var errors = StockLedger.Validate(definition);
        if (errors.Count > 0)
        {
            throw new TwinRuleException("bin.invalid", string.Join("; ", errors));
        }

        await this.RegisterOnceAsync(state.State, TwinKind.StockBin);
        StockLedger.Define(state.State, definition);
        StockLedger.CheckReorderPoint(state.State, $"define-{state.State.Version}", stockCameIn: false, clock.UtcNow);
        state.State.KpiPending = true;
        await _commit!.CommitAsync();
        _kpis!.Kick();
        _outbox!.Kick();
        return StockLedger.ToSnapshot(_factory, _id, state.State);
    }

    public async Task<MovementResult> ApplyMovementAsync(StockMovement movement) => (await ApplyTracedMovementAsync(movement)).Result;

    public Task<ImmutableArray<LotQuantity>> GetLotsAsync() => Task.FromResult(LotLedger.Holding(state.State.Lots));

    public async Task<LotMovementResult> ApplyTracedMovementAsync(StockMovement movement)
    {
        if (movement.Kind == MovementKind.Transfer && movement.TargetBin == _id)
        {
            return new LotMovementResult(new MovementResult(movement.MovementId, MovementOutcome.Refused, "targetBin: a transfer needs another bin than its source", state.State.OnHand, state.State.Reserved, state.State.Version), []);
        }

        await this.RegisterOnceAsync(state.State, TwinKind.StockBin);
        if (StockLedger.FindApplied(state.State, movement.MovementId) is { } first)
        {
            // Applied before, perhaps by a call still waiting for its write: answer once durable.
            await _commit!.WhenDurableAsync();
            if (movement.Kind == MovementKind.Transfer)
            {
                // A retry of a transfer: its arrival may still wait in the outbox.
                await _outbox!.DeliverAsync();
            }

            return new LotMovementResult(StockLedger.AsDuplicate(first), StockLedger.FindDraw(state.State, movement));
        }

        var result = StockLedger.Apply(state.State, movement, out var lots);
        if (result.Outcome != MovementOutcome.Applied)
        {
            return new LotMovementResult(result, []);
        }

        StockLedger.CheckReorderPoint(
            state.State,
            movement.MovementId,
            movement.Kind is MovementKind.Receipt or MovementKind.TransferIn or MovementKind.CountAdjustment or MovementKind.Unreserve,
            movement.Timestamp);
        if (movement.Kind == MovementKind.Transfer)
        {
            StockLedger.QueueTransfer(state.State, _id, movement, lots);
        }

        StockLedger.QueueLotReceipt(state.State, _id, movement);

        state.State.KpiPending = true;
        await _commit!.CommitAsync();
        _kpis!.Kick();
        if (movement.Kind == MovementKind.Transfer)
        {
            // The caller answers once the target took it (usually at once); if not, the outbox keeps trying.
            await _outbox!.DeliverAsync();
        }
        else
        {
            _outbox!.Kick();
        }

        return new LotMovementResult(result, lots);
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
}
