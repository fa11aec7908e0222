using Microsoft.Extensions.DependencyInjection;
using Twin.Bins;
using Twin.Factories;
using Twin.Lines;
using Twin.Maintenance;
using Twin.Machines;
using Twin.WorkOrders;

namespace Twin.Grains.Tests.Cluster;

[Collection(ClusterCollection.Name)]
public class TwinGrainTests(ClusterFixture fixture)
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);
    private readonly string _factory = "f-" + Guid.NewGuid().ToString("N")[..8];

    private T Grain<T>(string id)
        where T : IGrainWithStringKey => fixture.Client.GetGrain<T>(TwinKey.Compose(_factory, id));

    [Fact]
    public async Task Line_membership_is_pushed_to_machines_and_rolled_up()
    {
        await Grain<IMachineGrain>("a").IngestAsync([new StatusMessage(1, T0, MachineRunState.Running), new CountsMessage(2, T0, 10, 0, null)]);
        await Grain<IMachineGrain>("b").IngestAsync([new StatusMessage(1, T0, MachineRunState.Idle)]);
        var line = Grain<ILineGrain>("l1");

        var snapshot = await line.DefineAsync(new LineDefinition("Line 1", ["a", "b"]));
        Assert.Equal(LineStatus.PartlyIdle, snapshot.Status);
        Assert.Equal(["a", "b"], snapshot.Machines.Select(m => m.Id));
        Assert.Equal("l1", (await Grain<IMachineGrain>("a").GetSnapshotAsync()).Line);

        // The line's own version plus its machines' (what live views send) never goes down,
        // also when a machine leaves with its versions.
        var before = snapshot.Version + snapshot.Machines.Sum(m => m.Version);
        snapshot = await line.DefineAsync(new LineDefinition("Line 1", ["a"]));
        Assert.Equal(LineStatus.Running, snapshot.Status);
        Assert.Null((await Grain<IMachineGrain>("b").GetSnapshotAsync()).Line);
        Assert.True(snapshot.Version + snapshot.Machines.Sum(m => m.Version) > before);

        // A machine belongs to one line: another line cannot take it until it is released.
        var other = Grain<ILineGrain>("l2");
        var freeVersion = (await Grain<IMachineGrain>("b").GetSnapshotAsync()).Version;
        var taken = await Assert.ThrowsAsync<TwinRuleException>(() => other.DefineAsync(new LineDefinition("Line 2", ["a", "b"])));
        Assert.Equal("line.machine-in-other-line", taken.Code);
        Assert.Contains("'a' belongs to line 'l1'", taken.Message, StringComparison.Ordinal);
        Assert.False(await other.ExistsAsync());
        Assert.Equal("l1", (await Grain<IMachineGrain>("a").GetSnapshotAsync()).Line);

        // The refusal changed no machine, not even for a moment: the free one kept its version.
        Assert.Equal(freeVersion, (await Grain<IMachineGrain>("b").GetSnapshotAsync()).Version);
        await other.DefineAsync(new LineDefinition("Line 2", ["b"]));
        Assert.Equal("l2", (await Grain<IMachineGrain>("b").GetSnapshotAsync()).Line);

        await fixture.Cluster.DeactivateAsync(line);
        Assert.Equal(["a"], (await line.GetSnapshotAsync()).Machines.Select(m => m.Id));
        Assert.Equal(["l1", "l2"], (await fixture.Client.GetGrain<IFactoryGrain>(_factory).ListAsync(TwinKind.Line)).ToArray());

        var ex = await Assert.ThrowsAsync<TwinRuleException>(() => line.DefineAsync(new LineDefinition(null, ["x", "x"])));
        Assert.Equal("line.invalid", ex.Code);
    }

    [Fact]
    public async Task Stock_movements_apply_once_and_never_go_negative()
    {
        var bin = Grain<IStockBinGrain>("bin-1");
        await bin.DefineAsync(new BinDefinition("bolt-m8", 100, 500));
        var receipt = new StockMovement("mv-1", MovementKind.Receipt, 120, T0);
        Assert.Equal(MovementOutcome.Applied, (await bin.ApplyMovementAsync(receipt)).Outcome);
        var replay = await bin.ApplyMovementAsync(receipt);
        Assert.Equal(MovementOutcome.Duplicate, replay.Outcome);
        Assert.Equal(120, replay.OnHand);

        var refused = await bin.ApplyMovementAsync(new StockMovement("mv-2", MovementKind.Issue, 121, T0));
        Assert.Equal(MovementOutcome.Refused, refused.Outcome);
        Assert.Contains("stock.insufficient", refused.Reason, StringComparison.Ordinal);

        await fixture.Cluster.DeactivateAsync(bin);
        var snapshot = await bin.GetSnapshotAsync();
        Assert.Equal(120, snapshot.OnHand);
        Assert.False(snapshot.BelowReorderPoint);
        Assert.Equal(MovementOutcome.Duplicate, (await bin.ApplyMovementAsync(receipt)).Outcome);
    }

    [Fact]
    public async Task Twins_starting_together_register_in_shared_writes_and_all_are_listed()
    {
        var ids = Enumerable.Range(0, 300).Select(i => $"m{i:D3}").ToList();
        await Task.WhenAll(ids.Select(id => Grain<IMachineGrain>(id).IngestAsync([new StatusMessage(1, T0, MachineRunState.Running)])));

        Assert.Equal(ids, (await fixture.Client.GetGrain<IFactoryGrain>(_factory).ListAsync(TwinKind.Machine)).ToList());
        Assert.InRange(fixture.Writes.For("factory/" + _factory), 1, 150);
    }

    [Fact]
    public async Task A_ticket_desk_sets_its_escalation_reminder_again_when_a_saved_report_comes_again()
    {
        var desk = Grain<IMaintenanceTicketGrain>("m1.LimitHigh");
        var report = new FaultReport("t:LimitHigh:mqtt:1", "m1", FaultKind.LimitHigh, new FaultEvidence(T0, "t", 99, 1));
        await desk.ReportAsync(report);
        var table = fixture.Cluster.Silos[0].ServiceProvider.GetRequiredService<IReminderTable>();
        var row = await table.ReadRow(desk.GetGrainId(), "escalate");
        Assert.NotNull(row);

        // As if the first call had saved the ticket and then failed before its reminder was set:
        // the machine sends the same report again, to a new activation.
        Assert.True(await table.RemoveRow(desk.GetGrainId(), "escalate", row.ETag!));
        await fixture.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        await desk.ReportAsync(report);

        Assert.NotNull(await table.ReadRow(desk.GetGrainId(), "escalate"));
        Assert.Single(await desk.ListAsync());
    }

    [Fact]
    public async Task A_transfer_moves_stock_between_bins_once_even_when_retried()
    {
        var source = Grain<IStockBinGrain>("src");
        var target = Grain<IStockBinGrain>("dst");
        await source.ApplyMovementAsync(new StockMovement("in", MovementKind.Receipt, 50, T0));
        var transfer = new StockMovement("tr-1", MovementKind.Transfer, 20, T0, TargetBin: "dst");
        await source.ApplyMovementAsync(transfer);
        await source.ApplyMovementAsync(transfer);
        Assert.Equal(30, (await source.GetSnapshotAsync()).OnHand);
        Assert.Equal(20, (await target.GetSnapshotAsync()).OnHand);

        var toSelf = await source.ApplyMovementAsync(transfer with { MovementId = "tr-2", TargetBin = "src" });
        Assert.Equal(MovementOutcome.Refused, toSelf.Outcome);
        Assert.Equal(["dst", "src"], (await fixture.Client.GetGrain<IFactoryGrain>(_factory).ListAsync(TwinKind.StockBin)).ToArray());
    }

    [Fact]
    public async Task Work_order_lifecycle_is_enforced_and_durable()
    {
        var order = Grain<IWorkOrderGrain>("WO-1");
        await Assert.ThrowsAsync<TwinRuleException>(() => order.GetSnapshotAsync());
        await order.CreateAsync(new WorkOrderDefinition("panel", 100, T0.AddDays(2), [new BomLine("steel", 1, "bin-1")], "l1"));

        var ex = await Assert.ThrowsAsync<TwinRuleException>(() => order.TransitionAsync(WorkOrderStatus.Completed));
        Assert.Equal("workorder.illegal-transition", ex.Code);

        await order.TransitionAsync(WorkOrderStatus.Released, "planner");
        await order.TransitionAsync(WorkOrderStatus.InProgress, "mes");
        await fixture.Cluster.DeactivateAsync(order);
        var snapshot = await order.TransitionAsync(WorkOrderStatus.Completed, "mes");
        Assert.Equal(WorkOrderStatus.Completed, snapshot.Status);
        Assert.Equal(
            [WorkOrderStatus.Created, WorkOrderStatus.Released, WorkOrderStatus.InProgress, WorkOrderStatus.Completed],
            snapshot.History.Select(h => h.To));
        Assert.Equal("planner", snapshot.History[1].By);
        await Assert.ThrowsAsync<TwinRuleException>(() => order.TransitionAsync(WorkOrderStatus.Cancelled));
    }

    [Fact]
    public async Task A_twin_deactivated_while_its_outbox_delivers_never_writes_over_the_next_activation()
    {
        // Each transition queues a planner message that the outbox delivers in the background;
        // deactivating at once leaves that delivery (and its write) racing the next activation.
        for (var i = 0; i < 40; i++)
        {
            var order = Grain<IWorkOrderGrain>($"WO-race-{i}");
            await order.CreateAsync(new WorkOrderDefinition("panel", 10, T0.AddDays(2), [new BomLine("steel", 1, "bin-1")], "l1"));
            await order.TransitionAsync(WorkOrderStatus.Released, "planner");
            await fixture.Cluster.DeactivateAsync(order);
            await order.TransitionAsync(WorkOrderStatus.InProgress, "mes");
            await fixture.Cluster.DeactivateAsync(order);
            var snapshot = await order.TransitionAsync(WorkOrderStatus.Completed, "mes");
            Assert.Equal(WorkOrderStatus.Completed, snapshot.Status);
        }
    }
}
