using Twin.Bins;
using Twin.Grains.Domain;

namespace Twin.Grains.Tests.Domain;

public class StockLedgerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);

    private static StockMovement Move(string id, MovementKind kind, decimal qty, string? target = null) => new(id, kind, qty, T0, target);

    [Fact]
    public void Receipts_and_issues_move_on_hand()
    {
        var state = new BinState();
        Assert.Equal(MovementOutcome.Applied, StockLedger.Apply(state, Move("r1", MovementKind.Receipt, 100)).Outcome);
        var result = StockLedger.Apply(state, Move("i1", MovementKind.Issue, 30));
        Assert.Equal(MovementOutcome.Applied, result.Outcome);
        Assert.Equal(70, result.OnHand);
        Assert.Equal(2, result.Version);
    }

    [Fact]
    public void An_issue_that_would_make_stock_negative_is_refused_and_changes_nothing()
    {
        var state = new BinState();
        StockLedger.Apply(state, Move("r1", MovementKind.Receipt, 10));
        var result = StockLedger.Apply(state, Move("i1", MovementKind.Issue, 11));
        Assert.Equal(MovementOutcome.Refused, result.Outcome);
        Assert.StartsWith("stock.insufficient", result.Reason, StringComparison.Ordinal);
        Assert.Equal(10, state.OnHand);
        Assert.Null(StockLedger.FindApplied(state, "i1"));
    }

    [Fact]
    public void Count_adjustment_sets_on_hand_and_reservations_cannot_go_negative()
    {
        var state = new BinState();
        StockLedger.Apply(state, Move("r1", MovementKind.Receipt, 10));
        Assert.Equal(4, StockLedger.Apply(state, Move("c1", MovementKind.CountAdjustment, 4)).OnHand);
        Assert.Equal(3, StockLedger.Apply(state, Move("s1", MovementKind.Reserve, 3)).Reserved);
        Assert.Equal(MovementOutcome.Refused, StockLedger.Apply(state, Move("u1", MovementKind.Unreserve, 5)).Outcome);
        var snapshot = StockLedger.ToSnapshot("f", "b", state);
        Assert.Equal(1, snapshot.Available);
    }

    [Theory]
    [InlineData("", MovementKind.Receipt, 1, "movementId")]
    [InlineData("m", MovementKind.Receipt, 0, "quantity")]
    [InlineData("m", MovementKind.Issue, -1, "quantity")]
    [InlineData("m", MovementKind.CountAdjustment, -1, "quantity")]
    [InlineData("m", MovementKind.Transfer, 1, "targetBin")]
    [InlineData("m", (MovementKind)99, 1, "kind")]
    public void Invalid_movements_name_the_field(string id, MovementKind kind, decimal qty, string field)
    {
        var errors = StockLedger.Validate(Move(id, kind, qty));
        Assert.Contains(errors, e => e.StartsWith(field, StringComparison.Ordinal));
    }

    [Fact]
    public void Applied_ids_are_remembered_up_to_the_horizon()
    {
        var state = new BinState();
        for (var i = 0; i < StockLedger.IdempotencyHorizon + 10; i++)
        {
            StockLedger.Apply(state, Move($"r{i}", MovementKind.Receipt, 1));
        }

        Assert.Null(StockLedger.FindApplied(state, "r0"));
        Assert.NotNull(StockLedger.FindApplied(state, $"r{StockLedger.IdempotencyHorizon + 9}"));
        Assert.Equal(StockLedger.IdempotencyHorizon, state.Applied.Count);
        Assert.Equal(StockLedger.RecentShown, StockLedger.ToSnapshot("f", "b", state).RecentMovements.Length);
    }

    [Fact]
    public void Below_reorder_point_uses_available_stock()
    {
        var state = new BinState();
        StockLedger.Define(state, new BinDefinition("sku", 10, 50));
        StockLedger.Apply(state, Move("r", MovementKind.Receipt, 15));
        Assert.False(StockLedger.ToSnapshot("f", "b", state).BelowReorderPoint);
        StockLedger.Apply(state, Move("s", MovementKind.Reserve, 6));
        Assert.True(StockLedger.ToSnapshot("f", "b", state).BelowReorderPoint);
    }
}
