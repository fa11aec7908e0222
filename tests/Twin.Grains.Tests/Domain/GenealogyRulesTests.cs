using Twin.Bins;
using Twin.Genealogy;
using Twin.Grains.Domain;
using Twin.Grains.Genealogy;
using Twin.Grains.Infrastructure;
using Twin.WorkOrders;

namespace Twin.Grains.Tests.Domain;

/// <summary>Lots in a bin (first in, first out) and a work order's genealogy bookkeeping.</summary>
public class GenealogyRulesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);

    private static StockMovement Move(string id, MovementKind kind, decimal qty, string? lot = null, int minute = 0, string? target = null) =>
        new(id, kind, qty, T0.AddMinutes(minute), target, Lot: lot);

    private static LotQuantity[] Apply(BinState state, StockMovement movement)
    {
        var result = StockLedger.Apply(state, movement, out var lots);
        Assert.Equal(MovementOutcome.Applied, result.Outcome);
        if (state.Lots.Count > 0)
        {
            Assert.Equal(state.OnHand, state.Lots.Sum(l => l.Quantity));
        }

        return [.. lots];
    }

    [Fact]
    public void Lot_issues_draw_the_oldest_receipt_first_across_lots()
    {
        var bin = new BinState();
        Apply(bin, Move("r1", MovementKind.Receipt, 10, "L-1"));
        Apply(bin, Move("r2", MovementKind.Receipt, 10, "L-2", minute: 1));

        Assert.Equal([new LotQuantity("L-1", 6)], Apply(bin, Move("i1", MovementKind.Issue, 6)));
        Assert.Equal([new LotQuantity("L-1", 4), new LotQuantity("L-2", 3)], Apply(bin, Move("i2", MovementKind.Issue, 7)));
        Assert.Equal([new LotQuantity("L-2", 7)], LotLedger.Holding(bin.Lots).ToArray());
        Assert.Equal(7, bin.OnHand);
    }

    [Fact]
    public void Lot_named_by_an_issue_is_drawn_first_and_the_rest_fifo()
    {
        var bin = new BinState();
        Apply(bin, Move("r1", MovementKind.Receipt, 5, "L-1"));
        Apply(bin, Move("r2", MovementKind.Receipt, 5, "L-2"));

        Assert.Equal([new LotQuantity("L-2", 5), new LotQuantity("L-1", 2)], Apply(bin, Move("i1", MovementKind.Issue, 7, "L-2")));
        Assert.Equal([new LotQuantity("L-1", 3)], LotLedger.Holding(bin.Lots).ToArray());
    }

    [Fact]
    public void Lot_stock_from_before_the_first_lot_is_untracked_and_oldest()
    {
        var bin = new BinState();
        Apply(bin, Move("r0", MovementKind.Receipt, 4));
        Assert.Empty(bin.Lots);
        Apply(bin, Move("r1", MovementKind.Receipt, 10, "L-1"));

        Assert.Equal([new LotQuantity(null, 4), new LotQuantity("L-1", 2)], Apply(bin, Move("i1", MovementKind.Issue, 6)));
        // A receipt without a lot after lots is untracked stock in its place in the queue.
        Apply(bin, Move("r2", MovementKind.Receipt, 3));
        Assert.Equal([new LotQuantity("L-1", 8), new LotQuantity(null, 3)], LotLedger.Holding(bin.Lots).ToArray());
    }

    [Fact]
    public void Lot_count_adjustment_down_takes_the_oldest_and_up_adds_untracked()
    {
        var bin = new BinState();
        Apply(bin, Move("r1", MovementKind.Receipt, 5, "L-1"));
        Apply(bin, Move("r2", MovementKind.Receipt, 5, "L-2"));
        Apply(bin, Move("c1", MovementKind.CountAdjustment, 7));
        Assert.Equal([new LotQuantity("L-1", 2), new LotQuantity("L-2", 5)], LotLedger.Holding(bin.Lots).ToArray());
        Apply(bin, Move("c2", MovementKind.CountAdjustment, 9));
        Assert.Equal([new LotQuantity(null, 2), new LotQuantity("L-1", 2), new LotQuantity("L-2", 5)], LotLedger.Holding(bin.Lots).ToArray());
    }

    [Fact]
    public void Lot_draws_are_kept_for_replays_and_a_bin_without_lots_answers_untracked()
    {
        var bin = new BinState();
        Apply(bin, Move("r1", MovementKind.Receipt, 5, "L-1"));
        var issue = Move("i1", MovementKind.Issue, 2);
        var first = Apply(bin, issue);
        Assert.Equal(first, StockLedger.FindDraw(bin, issue).ToArray());

        var plain = new BinState();
        var untracked = Apply(plain, Move("r1", MovementKind.Receipt, 5));
        Assert.Empty(untracked);
        Assert.Equal([new LotQuantity(null, 2)], Apply(plain, Move("i1", MovementKind.Issue, 2)));
        Assert.Empty(plain.Lots);
        Assert.Empty(plain.Draws);
    }

    [Fact]
    public void Lot_layers_are_bounded_by_merging_the_oldest_into_untracked()
    {
        var layers = new List<LotLayer>();
        for (var i = 0; i < LotLedger.MaxLayers + 5; i++)
        {
            LotLedger.Receive(layers, $"L-{i}", 1, T0.AddMinutes(i));
        }

        Assert.Equal(LotLedger.MaxLayers, layers.Count);
        Assert.Null(layers[0].Lot);
        Assert.Equal(6, layers[0].Quantity);
        Assert.Equal(LotLedger.MaxLayers + 5, layers.Sum(l => l.Quantity));
        Assert.Equal("L-104", layers[^1].Lot);
    }

    [Fact]
    public void Lot_id_is_validated_like_other_ids()
    {
        var errors = StockLedger.Validate(Move("r1", MovementKind.Receipt, 1, "<b>x</b>"));
        Assert.Contains(errors, e => e.StartsWith("lot:", StringComparison.Ordinal));
        Assert.Empty(StockLedger.Validate(Move("r1", MovementKind.Receipt, 1, "L-2026.11_3")));
    }

    [Fact]
    public void Lot_of_a_single_lot_transfer_travels_with_its_arrival()
    {
        var bin = new BinState();
        Apply(bin, Move("r1", MovementKind.Receipt, 5, "L-1"));
        Apply(bin, Move("r2", MovementKind.Receipt, 5, "L-2"));
        var one = Move("t1", MovementKind.Transfer, 3, target: "b2");
        StockLedger.QueueTransfer(bin, "b1", one, [.. Apply(bin, one)]);
        var both = Move("t2", MovementKind.Transfer, 5, target: "b2");
        StockLedger.QueueTransfer(bin, "b1", both, [.. Apply(bin, both)]);

        var arrivals = bin.Outbox.Select(e => e.Message).OfType<MovementMessage>().ToList();
        Assert.Equal("L-1", arrivals.Single(a => a.Movement.MovementId == "t1").Movement.Lot);
        Assert.Null(arrivals.Single(a => a.Movement.MovementId == "t2").Movement.Lot);
    }

    [Fact]
    public void Genealogy_machine_windows_run_from_first_to_last_part_whatever_the_order()
    {
        var state = new GenealogyState();
        GenealogyRules.Produced(state, new ProductionReport("r2", "cnc-1", 2, 0, T0.AddMinutes(5)));
        GenealogyRules.Produced(state, new ProductionReport("r1", "cnc-1", 1, 1, T0.AddMinutes(1)));
        GenealogyRules.Produced(state, new ProductionReport("r3", "cnc-2", 4, 0, T0.AddMinutes(3)));

        var cnc1 = state.Machines.Single(m => m.Machine == "cnc-1");
        Assert.Equal(new GenealogyMachine("cnc-1", T0.AddMinutes(1), T0.AddMinutes(5), 3, 1, 2), cnc1);
        Assert.Equal(["cnc-1", "cnc-2"], state.Machines.Select(m => m.Machine));
        var (from, to) = GenealogyWindow.Of(cnc1, TimeSpan.FromMinutes(1));
        Assert.Equal(T0, from);
        Assert.True(to > T0.AddMinutes(5) && to < T0.AddMinutes(5).AddMilliseconds(1));
    }

    [Fact]
    public void Genealogy_machines_past_the_bound_are_counted_not_listed()
    {
        var state = new GenealogyState();
        for (var i = 0; i < GenealogyRules.MachinesKept + 3; i++)
        {
            GenealogyRules.Produced(state, new ProductionReport($"r{i}", $"m-{i}", 1, 0, T0));
        }

        Assert.Equal(GenealogyRules.MachinesKept, state.Machines.Count);
        Assert.Equal(3, state.MachinesLeftOut);
    }

    [Fact]
    public void Genealogy_consumption_sums_per_bin_sku_and_lot_and_tells_each_lot_once()
    {
        var state = new GenealogyState();
        var tell1 = GenealogyRules.Consumed(state, "bin-a", "steel", Move("bf:1:steel", MovementKind.Issue, 7), [new("L-1", 4), new("L-2", 3)]);
        var tell2 = GenealogyRules.Consumed(state, "bin-a", "steel", Move("bf:2:steel", MovementKind.Issue, 2), [new("L-2", 2)]);
        var repeat = GenealogyRules.Consumed(state, "bin-a", "steel", Move("bf:2:steel", MovementKind.Issue, 2), [new("L-2", 2)]);

        Assert.Equal(["L-1", "L-2"], tell1);
        Assert.Empty(tell2);
        Assert.Empty(repeat);
        Assert.Equal(2, state.MovementsTotal);
        Assert.Equal([new GenealogyMaterial("bin-a", "steel", "L-1", 4, 1), new GenealogyMaterial("bin-a", "steel", "L-2", 5, 2)], state.Materials.ToArray());
    }

    [Fact]
    public void Genealogy_keeps_the_latest_movements_and_counts_them_all()
    {
        var state = new GenealogyState();
        for (var i = 0; i < GenealogyRules.MovementsKept + 10; i++)
        {
            GenealogyRules.Consumed(state, "bin-a", "bolt", Move($"bf:{i}:bolt", MovementKind.Issue, 1), []);
        }

        Assert.Equal(GenealogyRules.MovementsKept, state.Movements.Count);
        Assert.Equal("bf:10:bolt", state.Movements[0].MovementId);
        Assert.Equal(GenealogyRules.MovementsKept + 10, state.MovementsTotal);
        Assert.Equal(GenealogyRules.MovementsKept + 10, state.Materials.Single().Quantity);
        Assert.Null(state.Materials.Single().Lot);
    }

    [Fact]
    public void Genealogy_records_a_taken_backflush_and_queues_the_lot_index()
    {
        var order = new WorkOrderState { Created = true, Status = WorkOrderStatus.InProgress, Definition = new WorkOrderDefinition("shaft", 10, null, [new BomLine("bar:12", 1, "bin-bar")]) };
        var issue = new MovementMessage("bin-bar", Move("bf:cnc-1:mqtt:4:bar:12", MovementKind.Issue, 3));
        var answer = new LotMovementResult(new MovementResult(issue.Movement.MovementId, MovementOutcome.Applied, null, 7, 0, 2), [new("L-9", 3)]);

        Assert.True(GenealogyRules.Taken(order, "wo-1", issue, answer, T0));
        Assert.Equal("bar:12", order.Genealogy.Movements.Single().Sku);
        var use = Assert.IsType<LotUseMessage>(Assert.Single(order.Outbox).Message);
        Assert.Equal(new LotUse("wo-1", "bin-bar", "bar:12", T0), use.Use);
        Assert.Equal("lot:L-9", use.Lane);

        // Another kind of message is not genealogy.
        Assert.False(GenealogyRules.Taken(order, "wo-1", new MovementMessage("bin-bar", Move("x", MovementKind.Receipt, 1)), null, T0));
    }

    [Fact]
    public void Genealogy_lot_index_lists_each_order_and_receipt_once()
    {
        var lot = new LotState();
        Assert.True(LotIndex.Use(lot, new LotUse("wo-1", "b", "s", T0)));
        Assert.False(LotIndex.Use(lot, new LotUse("wo-1", "b", "s", T0.AddMinutes(1))));
        Assert.True(LotIndex.Receive(lot, new LotReceipt("r1", "b", "s", 5, T0)));
        Assert.False(LotIndex.Receive(lot, new LotReceipt("r1", "b", "s", 5, T0)));
        Assert.Equal(1, lot.UsesTotal);
        Assert.Equal(1, lot.ReceiptsTotal);
    }
}
