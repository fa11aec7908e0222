using Twin.Bins;
using Twin.Genealogy;
using Twin.WorkOrders;

namespace Twin.Grains.Tests.Cluster;

[Collection(ClusterCollection.Name)]
public class GenealogyGrainTests(ClusterFixture fixture)
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);
    private readonly string _factory = "g-" + Guid.NewGuid().ToString("N")[..8];

    private T Grain<T>(string id)
        where T : IGrainWithStringKey => fixture.Client.GetGrain<T>(TwinKey.Compose(_factory, id));

    [Fact]
    public async Task Genealogy_of_an_order_records_its_machines_and_the_lots_its_backflush_drew_and_the_lot_lists_the_order()
    {
        var bin = Grain<IStockBinGrain>("bin-bar");
        await bin.DefineAsync(new BinDefinition("bar", 0, 0));
        await bin.ApplyMovementAsync(new StockMovement("rc-1", MovementKind.Receipt, 5, T0, Lot: "L-A"));
        await bin.ApplyMovementAsync(new StockMovement("rc-2", MovementKind.Receipt, 20, T0.AddMinutes(1), Lot: "L-B"));

        var order = Grain<IWorkOrderGrain>("wo-1");
        await order.CreateAsync(new WorkOrderDefinition("shaft", 100, null, [new BomLine("bar", 1, "bin-bar")]));
        await order.TransitionAsync(WorkOrderStatus.Released);
        // 4 good parts on cnc-1, then 3 on cnc-2, then 2 more on cnc-1: 9 bars, 5 of lot A and 4 of lot B.
        await order.RecordProductionAsync(new ProductionReport("cnc-1:mqtt:1", "cnc-1", 4, 0, T0.AddMinutes(10)));
        await order.RecordProductionAsync(new ProductionReport("cnc-2:mqtt:1", "cnc-2", 3, 1, T0.AddMinutes(11)));
        await order.RecordProductionAsync(new ProductionReport("cnc-1:mqtt:2", "cnc-1", 2, 0, T0.AddMinutes(12)));

        // The history-backed view (IGenealogyGrain) is tested end to end; here the order's own record.
        var genealogy = await Eventually.ForAsync(
            async () => await order.GetGenealogyRecordAsync() is { MovementsTotal: 3 } g ? g : null,
            "three backflush movements recorded");
        Assert.Equal([new GenealogyMaterial("bin-bar", "bar", "L-A", 5, 2), new GenealogyMaterial("bin-bar", "bar", "L-B", 4, 2)], genealogy.Materials.ToArray());
        var second = genealogy.Movements.Single(m => m.MovementId == "bf:cnc-2:mqtt:1:bar");
        Assert.Equal([new LotQuantity("L-A", 1), new LotQuantity("L-B", 2)], second.Lots.ToArray());
        Assert.Equal(("bin-bar", "bar", 3m), (second.Bin, second.Sku, second.Quantity));

        Assert.Equal(
            [new GenealogyMachine("cnc-1", T0.AddMinutes(10), T0.AddMinutes(12), 6, 0, 2), new GenealogyMachine("cnc-2", T0.AddMinutes(11), T0.AddMinutes(11), 3, 1, 1)],
            genealogy.Machines.ToArray());

        var lotB = await Eventually.ForAsync(
            async () => await Grain<ILotGrain>("L-B").GetAsync() is { WorkOrdersTotal: 1 } l ? l : null,
            "lot B lists the order");
        Assert.Equal(new LotUse("wo-1", "bin-bar", "bar", T0.AddMinutes(11)), Assert.Single(lotB.WorkOrders));
        Assert.Equal("rc-2", Assert.Single(lotB.Receipts).MovementId);
        Assert.Equal([new LotQuantity("L-B", 16)], (await bin.GetLotsAsync()).ToArray());

        // What the order recorded survives its deactivation.
        await fixture.Cluster.DeactivateAsync(order);
        Assert.Equal(3, (await order.GetGenealogyRecordAsync()).MovementsTotal);

        var unknown = await Assert.ThrowsAsync<TwinRuleException>(() => Grain<IWorkOrderGrain>("wo-none").GetGenealogyRecordAsync());
        Assert.True(unknown.IsNotFound);
        Assert.True((await Assert.ThrowsAsync<TwinRuleException>(() => Grain<ILotGrain>("L-none").GetAsync())).IsNotFound);
    }
}
