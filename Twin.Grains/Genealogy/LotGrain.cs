using Twin.Genealogy;
using Twin.Grains.Infrastructure;

namespace Twin.Grains.Genealogy;

[GenerateSerializer, Alias("twin.LotState")]
public sealed class LotState
{
    [Id(0)] public long Version { get; set; }

    /// <summary>The first work orders that used the lot, in the order they did.</summary>
    [Id(1)] public List<LotUse> Uses { get; set; } = [];

    [Id(2)] public long UsesTotal { get; set; }

    /// <summary>The first receipts of the lot, in the order they came.</summary>
    [Id(3)] public List<LotReceipt> Receipts { get; set; } = [];

    [Id(4)] public long ReceiptsTotal { get; set; }

    /// <summary>Orders and receipt ids counted past the lists' bounds, so a repeat is not counted twice (bounded too).</summary>
    [Id(5)] public List<string> SeenBeyond { get; set; } = [];
}

/// <summary>The rules of a lot's reverse index: once per work order, once per receipt, bounded. Pure.</summary>
public static class LotIndex
{
    /// <summary>Work orders listed per lot; further ones are counted.</summary>
    public const int UsesKept = 1000;

    /// <summary>Receipts listed per lot; further ones are counted.</summary>
    public const int ReceiptsKept = 100;

    /// <summary>Ids remembered past the bounds, to drop repeats.</summary>
    public const int SeenBeyondKept = 1000;

    /// <summary>True when the use was new.</summary>
    public static bool Use(LotState state, LotUse use)
    {
        if (state.Uses.Exists(u => u.WorkOrder == use.WorkOrder))
        {
            return false;
        }

        if (state.Uses.Count >= UsesKept && !SeenIds.Remember(state.SeenBeyond, "order:" + use.WorkOrder, SeenBeyondKept))
        {
            return false;
        }

        if (state.Uses.Count < UsesKept)
        {
            state.Uses.Add(use);
        }

        state.UsesTotal++;
        state.Version++;
        return true;
    }

    /// <summary>True when the receipt was new.</summary>
    public static bool Receive(LotState state, LotReceipt receipt)
    {
        if (state.Receipts.Exists(r => r.MovementId == receipt.MovementId))
        {
            return false;
        }

        if (state.Receipts.Count >= ReceiptsKept && !SeenIds.Remember(state.SeenBeyond, "receipt:" + receipt.MovementId, SeenBeyondKept))
        {
            return false;
        }

        if (state.Receipts.Count < ReceiptsKept)
        {
            state.Receipts.Add(receipt);
        }

        state.ReceiptsTotal++;
        state.Version++;
        return true;
    }
}

/// <summary>
/// The reverse index of one lot, keyed <c>"{factory}/{lot}"</c>: which bins received it and which
/// work orders used it, kept by messages from the bins' and orders' outboxes (never by a scan).
/// </summary>
public sealed class LotGrain(
    [PersistentState("lot", TwinStorage.Name)] IPersistentState<LotState> state) : Grain, ILotGrain
{
    private GroupCommit? _commit;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _commit = new GroupCommit(state, this);
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _commit?.CloseAsync(cancellationToken) ?? Task.CompletedTask;

    public async Task RecordUseAsync(LotUse use)
    {
        if (LotIndex.Use(state.State, use))
        {
            await _commit!.CommitAsync();
        }
        else
        {
            await _commit!.WhenDurableAsync();
        }
    }

    public async Task RecordReceiptAsync(LotReceipt receipt)
    {
        if (LotIndex.Receive(state.State, receipt))
        {
            await _commit!.CommitAsync();
        }
        else
        {
            await _commit!.WhenDurableAsync();
        }
    }

    public Task<LotGenealogy> GetAsync()
    {
        var (factory, lot) = TwinKey.Split(this.GetPrimaryKeyString());
        if (state.State.Version == 0)
        {
            throw new TwinRuleException("lot.not-found", $"Lot '{lot}' of factory '{factory}' was never received nor used.");
        }

        var s = state.State;
        return Task.FromResult(new LotGenealogy(factory, lot, s.Version, [.. s.Uses], s.UsesTotal, [.. s.Receipts], s.ReceiptsTotal));
    }
}
