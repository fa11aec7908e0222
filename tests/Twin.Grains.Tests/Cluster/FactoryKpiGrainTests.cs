using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Twin.Bins;
using Twin.Factories;
using Twin.Grains.Domain;
using Twin.Grains.Factories;
using Twin.Grains.Infrastructure;
using Twin.Grains.Maintenance;
using Twin.Kpis;
using Twin.Machines;
using Twin.Maintenance;
using Twin.WorkOrders;

namespace Twin.Grains.Tests.Cluster;

/// <summary>The factory KPIs follow the twins' reports, and a read asks nothing of the twins.</summary>
[Collection(ClusterCollection.Name)]
public class FactoryKpiGrainTests(ClusterFixture fixture)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private readonly string _factory = "kpi-" + Guid.NewGuid().ToString("N")[..8];

    private T Grain<T>(string id)
        where T : IGrainWithStringKey => fixture.Client.GetGrain<T>(TwinKey.Compose(_factory, id));

    private IFactoryKpiGrain Kpis => fixture.Client.GetGrain<IFactoryKpiGrain>(_factory);

    private async Task<FactoryKpiSnapshot> KpisWhenAsync(Func<FactoryKpiSnapshot, bool> condition, string what)
    {
        using var deadline = new CancellationTokenSource(Deadline);
        while (true)
        {
            var kpis = await Kpis.GetAsync();
            if (condition(kpis))
            {
                return kpis;
            }

            try
            {
                await Task.Delay(50, deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{what}: not seen within {Deadline.TotalSeconds} s; last: {kpis}");
            }
        }
    }

    /// <summary>
    /// Calls received by the factory's twins (keys <c>{factory}/…</c>) and its directory, sent by the
    /// KPI grain or from outside the factory (the client): what a read that fans out would make. Not
    /// counted: calls to the KPI grain, the twins' own reminder ticks, and the twins' messages to each
    /// other (an outbox still delivering, or retrying on the test clock, is not the KPIs asking).
    /// </summary>
    private Dictionary<string, int> TwinCalls()
    {
        var kpiGrain = Kpis.GetGrainId().ToString();
        return fixture.Calls.Matching(c =>
        {
            var (call, source) = c.Split(" <- ") is [var head, var tail] ? (head, tail) : (c, "");
            var fromAnotherTwin = source.Contains(_factory, StringComparison.Ordinal) && source != kpiGrain;
            return call.Contains(_factory, StringComparison.Ordinal)
                && !call.Contains("IFactoryKpiGrain", StringComparison.Ordinal)
                && !call.Contains("ReceiveReminder", StringComparison.Ordinal)
                && !fromAnotherTwin;
        });
    }

    private void AssertNoNewTwinCalls(Dictionary<string, int> before)
    {
        var after = TwinCalls();
        var added = after.Where(p => p.Value != before.GetValueOrDefault(p.Key)).Select(p => $"{p.Key} ×{p.Value - before.GetValueOrDefault(p.Key)}").ToList();
        Assert.True(added.Count == 0, "calls to the twins while reading the KPIs: " + string.Join("; ", added));
    }

    [Fact]
    public async Task A_ticket_opened_then_resolved_shows_in_the_kpis_without_asking_the_desk()
    {
        var desk = Grain<IMaintenanceTicketGrain>("press-1.LimitHigh");
        var opened = await desk.ReportAsync(new FaultReport("r1", "press-1", FaultKind.LimitHigh, new FaultEvidence(fixture.Clock.GetUtcNow(), "t", 99, 1)));
        Assert.Equal(TicketStatus.Open, opened.Status);

        // The desk's call waits (briefly) for its report: the ticket is in the KPIs when it answers.
        var kpis = await Kpis.GetAsync();
        Assert.Equal(1, kpis.OpenTickets);
        Assert.Equal(1, kpis.OpenTicketsByAge.UnderOneHour);

        var before = TwinCalls();
        Assert.Contains(before.Keys, c => c.Contains("IMaintenanceTicketGrain.ReportAsync", StringComparison.Ordinal)); // the counter sees the client's calls
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(1, (await Kpis.GetAsync()).OpenTickets);
            Assert.Equal(1, (await Kpis.GetReliabilityAsync("press-1")).Tickets);
        }

        AssertNoNewTwinCalls(before);

        // Aged by time passing alone.
        fixture.Clock.Advance(TimeSpan.FromHours(2));
        Assert.Equal(1, (await Kpis.GetAsync()).OpenTicketsByAge.OneToEightHours);

        await desk.MoveAsync(1, TicketStatus.Resolved, "anna", "replaced the sensor");
        kpis = await KpisWhenAsync(k => k.OpenTickets == 0, "the resolved ticket");
        Assert.Equal(120, kpis.MttrMinutes!.Value, 6);
        var reliability = await Kpis.GetReliabilityAsync("press-1");
        Assert.Equal((1, 1), (reliability.Tickets, reliability.Resolved));
        Assert.Equal(120, reliability.MttrMinutes!.Value, 6);
        Assert.Null(reliability.MtbfHours);

        // A second failure three hours after the first: MTBF is the gap.
        fixture.Clock.Advance(TimeSpan.FromHours(1));
        await desk.ReportAsync(new FaultReport("r2", "press-1", FaultKind.LimitHigh, new FaultEvidence(fixture.Clock.GetUtcNow(), "t", 99, 1)));
        reliability = await Kpis.GetReliabilityAsync("press-1");
        Assert.Equal((2, 1), (reliability.Tickets, reliability.Resolved));
        Assert.Equal(3, reliability.MtbfHours!.Value, 6);
        Assert.Equal(3, (await Kpis.GetAsync()).MtbfHours!.Value, 6);
    }

    [Fact]
    public async Task A_work_order_becomes_late_by_time_passing_and_leaves_the_list_when_cancelled()
    {
        var order = Grain<IWorkOrderGrain>("wo-late");
        await order.CreateAsync(new WorkOrderDefinition("panel", 10, fixture.Clock.GetUtcNow().AddMinutes(30), []));
        await order.TransitionAsync(WorkOrderStatus.Released);
        await KpisWhenAsync(k => k.At > DateTimeOffset.MinValue, "the kpis");

        // Reported as released; not late until its due date passes, which no report announces.
        await KpisWhenAsync(k => k.LateWorkOrders.IsEmpty, "no late order yet");
        fixture.Clock.Advance(TimeSpan.FromHours(1));
        var kpis = await KpisWhenAsync(k => k.LateWorkOrders.Any(o => o.Id == "wo-late" && o.Status == WorkOrderStatus.Released), "the late order");
        Assert.Equal("panel", kpis.LateWorkOrders.Single().Product);

        var before = TwinCalls();
        await Kpis.GetAsync();
        AssertNoNewTwinCalls(before);

        await order.TransitionAsync(WorkOrderStatus.Cancelled, "planner", "not needed");
        await KpisWhenAsync(k => k.LateWorkOrders.IsEmpty, "the cancelled order gone");
    }

    [Fact]
    public async Task Bin_stock_and_issues_give_coverage()
    {
        var bin = Grain<IStockBinGrain>("bin-steel");
        await bin.DefineAsync(new BinDefinition("steel", 10, 50));
        var now = fixture.Clock.GetUtcNow();
        await bin.ApplyMovementAsync(new StockMovement("in-1", MovementKind.Receipt, 100, now.AddDays(-1)));
        await bin.ApplyMovementAsync(new StockMovement("out-1", MovementKind.Issue, 20, now.AddDays(-1)));

        // A busy bin reports at most every few seconds: the latest stock arrives in the next one.
        var kpis = await KpisWhenAsync(k => k.StockCoverage.Any(c => c.Bin == "bin-steel" && c.Available == 80 && c.Days is not null), "the bin's coverage");
        var coverage = kpis.StockCoverage.Single();
        Assert.Equal("steel", coverage.Sku);
        Assert.Equal(20, coverage.DailyConsumption!.Value, 3);
        Assert.Equal(4, coverage.Days!.Value, 3);
    }

    [Fact]
    public async Task Twins_saved_before_the_kpi_grain_existed_are_rebuilt_once()
    {
        // An installation from before: twin state in storage, no KPI state, nothing ever reported.
        var storage = fixture.Cluster.Silos[0].ServiceProvider.GetRequiredKeyedService<IGrainStorage>(TwinStorage.Name);
        var now = fixture.Clock.GetUtcNow();
        var directory = new FactoryState();
        directory.Twins[TwinKind.WorkOrder] = new SortedSet<string>(["wo-old"], StringComparer.Ordinal);
        directory.Twins[TwinKind.TicketDesk] = new SortedSet<string>(["oven-1.LimitHigh"], StringComparer.Ordinal);
        await storage.WriteStateAsync("factory", GrainId.Create("factory", _factory), new GrainState<FactoryState>(directory));
        var order = new WorkOrderState
        {
            Version = 3,
            Created = true,
            Registered = true,
            Status = WorkOrderStatus.InProgress,
            Definition = new WorkOrderDefinition("panel", 10, now.AddHours(-1), []),
            Good = 4,
        };
        await storage.WriteStateAsync("workorder", GrainId.Create("workorder", TwinKey.Compose(_factory, "wo-old")), new GrainState<WorkOrderState>(order));
        var desk = new TicketDeskState
        {
            Registered = true,
            Tickets =
            [
                new TicketState { Number = 1, Status = TicketStatus.Resolved, OpenedAt = now.AddHours(-5), History = [new(TicketStatus.Open, now.AddHours(-5), null, null), new(TicketStatus.Resolved, now.AddHours(-4), "x", null)] },
                new TicketState { Number = 2, Status = TicketStatus.Open, OpenedAt = now.AddHours(-2), History = [new(TicketStatus.Open, now.AddHours(-2), null, null)] },
            ],
        };
        await storage.WriteStateAsync("tickets", GrainId.Create("maintenanceticket", TwinKey.Compose(_factory, "oven-1.LimitHigh")), new GrainState<TicketDeskState>(desk));

        var kpis = await Kpis.GetAsync();
        Assert.Equal(["wo-old"], kpis.LateWorkOrders.Select(o => o.Id));
        Assert.Equal(0.4, kpis.LateWorkOrders[0].Progress, 6);
        Assert.Equal(1, kpis.OpenTickets);
        Assert.Equal(1, kpis.OpenTicketsByAge.OneToEightHours);
        Assert.Equal(60, kpis.MttrMinutes!.Value, 6);
        Assert.Equal(3, (await Kpis.GetReliabilityAsync("oven-1")).MtbfHours!.Value, 6);

        // Once: later reads ask nothing of the twins.
        var before = TwinCalls();
        await Kpis.GetAsync();
        AssertNoNewTwinCalls(before);

        // The desk's next change (version 1) replaces what the rebuild read (version 0).
        await Grain<IMaintenanceTicketGrain>("oven-1.LimitHigh").MoveAsync(2, TicketStatus.Resolved, "anna", null);
        Assert.Equal(0, (await Kpis.GetAsync()).OpenTickets);
    }
}
