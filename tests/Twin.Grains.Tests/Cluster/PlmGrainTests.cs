using System.Diagnostics;
using Twin.Products;
using Twin.Scheduling;
using Twin.WorkOrders;

namespace Twin.Grains.Tests.Cluster;

/// <summary>The product twin hears of its orders through their outboxes and applies an engineering change to each.</summary>
[Collection(ClusterCollection.Name)]
public class PlmGrainTests(ClusterFixture fixture)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly string _factory = "plm-" + Guid.NewGuid().ToString("N")[..8];

    private IWorkOrderGrain Order(string id) => fixture.Client.GetGrain<IWorkOrderGrain>(TwinKey.Compose(_factory, id));

    private IProductGrain Product => fixture.Client.GetGrain<IProductGrain>(TwinKey.Compose(_factory, "panel"));

    private static async Task<T> WhenAsync<T>(Func<Task<T>> read, Func<T, bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                var value = await read();
                if (condition(value))
                {
                    return value;
                }
            }
            catch (TwinRuleException rule) when (rule.IsNotFound)
            {
                // Not there yet.
            }

            if (clock.Elapsed > Deadline)
            {
                throw new TimeoutException($"{what}: not seen within {Deadline.TotalSeconds} s");
            }

            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_change_switches_the_unreleased_order_flags_the_running_one_and_leaves_the_cancelled_one()
    {
        var now = fixture.Clock.GetUtcNow();
        BomLine[] bomA = [new("steel", 2, "bin-steel")];
        BomLine[] bomB = [new("alu", 1, "bin-alu")];
        await Order("WO-1").CreateAsync(new WorkOrderDefinition("panel", 10, now.AddDays(2), [.. bomA], Revision: "A"));
        await Order("WO-2").CreateAsync(new WorkOrderDefinition("panel", 10, now.AddDays(2), [.. bomA], Revision: "A"));
        await Order("WO-2").TransitionAsync(WorkOrderStatus.Released, "erp");
        await Order("WO-2").RecordProductionAsync(new ProductionReport("r1", "press", 4, 0, now));
        await Order("WO-3").CreateAsync(new WorkOrderDefinition("panel", 10, now.AddDays(2), [.. bomA], Revision: "A"));
        await Order("WO-3").TransitionAsync(WorkOrderStatus.Cancelled, "erp");

        var known = await WhenAsync(Product.GetSnapshotAsync, p => p.Orders.Length == 3 && p.Orders.Single(o => o.WorkOrder == "WO-3").Status == WorkOrderStatus.Cancelled
            && p.Orders.Single(o => o.WorkOrder == "WO-2").Status == WorkOrderStatus.InProgress, "three orders on the product");
        Assert.Null(known.Current);

        var routing = new Routing("panel", [new RoutingStep("10", ["press"], TimeSpan.Zero, TimeSpan.FromMinutes(1))]);
        var change = new EngineeringChange("ECO-17", "panel", "B", now, [.. bomB], routing, "lighter panel", "plm");
        var result = await Product.ApplyChangeAsync(change);

        Assert.Equal(
            [("WO-1", EngineeringChangeTreatment.Switched), ("WO-2", EngineeringChangeTreatment.Flagged), ("WO-3", EngineeringChangeTreatment.NotAffected)],
            result.Orders.Select(o => (o.WorkOrder, o.Treatment)).ToArray());
        Assert.Equal([new EngineeringChangeNeed("bin-alu", "alu", 10)], result.Orders[0].Remaining.ToArray());
        Assert.Equal([new EngineeringChangeNeed("bin-steel", "steel", 12)], result.Orders[1].Remaining.ToArray());

        var switched = await Order("WO-1").GetSnapshotAsync();
        Assert.Equal("B", switched.Definition.Revision);
        Assert.Equal(bomB, switched.Definition.Bom.ToArray());
        var flagged = await Order("WO-2").GetSnapshotAsync();
        Assert.Equal("A", flagged.Definition.Revision);
        Assert.Equal(bomA, flagged.Definition.Bom.ToArray());
        Assert.Equal(("ECO-17", "A", "B"), (flagged.PendingEngineeringChange!.ChangeId, flagged.PendingEngineeringChange.FromRevision, flagged.PendingEngineeringChange.ToRevision));
        Assert.Equal(("A", WorkOrderStatus.Cancelled), ((await Order("WO-3").GetSnapshotAsync()).Definition.Revision, (await Order("WO-3").GetSnapshotAsync()).Status));

        // The routing of the revision reaches the planner; the switched order's new material is planned.
        Assert.Contains(await fixture.Client.GetGrain<IPlanningGrain>(_factory).GetRoutingsAsync(), r => r.Product == "panel" && r.Steps.Length == 1);
        await WhenAsync(fixture.Client.GetGrain<IPlanningGrain>(_factory).GetHistoryAsync, h => h.Any(r => r.Triggers.Any(t => t.Contains("WO-1: work order switched to revision B by engineering change ECO-17", StringComparison.Ordinal))), "the planner told of the switch");

        // One outbound event lists every order.
        var applied = await WhenAsync(() => Task.FromResult(fixture.External.Taken(_factory).Where(e => e.Type == "engineering-change.applied").ToList()), e => e.Count > 0, "engineering-change.applied delivered");
        var outbound = Assert.Single(applied);
        Assert.Equal(("engineering-change:ECO-17:applied", "product/panel"), (outbound.Id, outbound.Subject));
        Assert.Contains("WO-1 switched, WO-2 flagged, WO-3 not affected", outbound.Summary, StringComparison.Ordinal);

        // A repeat answers the first result; other content under the same id is refused; so is a second change to the same revision.
        var again = await Product.ApplyChangeAsync(change);
        Assert.Equal(result.At, again.At);
        Assert.Equal(result.Orders.Select(o => (o.WorkOrder, o.Treatment, o.Note)), again.Orders.Select(o => (o.WorkOrder, o.Treatment, o.Note)));
        Assert.Equal("engineering-change.id-reused", (await Assert.ThrowsAsync<TwinRuleException>(() => Product.ApplyChangeAsync(change with { Reason = "other" }))).Code);
        Assert.Equal("product.revision-exists", (await Assert.ThrowsAsync<TwinRuleException>(() => Product.ApplyChangeAsync(change with { ChangeId = "ECO-18" }))).Code);

        // The running order switches on decision: what it made keeps its material, the rest takes the new BOM.
        var decided = await Order("WO-2").DecideEngineeringChangeAsync(switchBom: true, "anna");
        Assert.Null(decided.PendingEngineeringChange);
        Assert.Equal("B", decided.Definition.Revision);
        Assert.Equal(("switch", 4L), (decided.EngineeringChanges[^1].Outcome, decided.EngineeringChanges[^1].GoodAtSwitch));
        var product = await WhenAsync(Product.GetSnapshotAsync, p => p.Orders.Single(o => o.WorkOrder == "WO-2").Revision == "B", "the product hears of the decision");
        Assert.Equal("B", product.Current);
        Assert.Equal(["B"], product.Revisions.Select(r => r.Revision).ToArray());
    }
}
