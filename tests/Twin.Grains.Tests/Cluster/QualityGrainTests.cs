using Twin.Machines;
using Twin.Maintenance;
using Twin.Quality;

namespace Twin.Grains.Tests.Cluster;

[Collection(ClusterCollection.Name)]
public class QualityGrainTests(ClusterFixture fixture)
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);
    private readonly string _factory = "q-" + Guid.NewGuid().ToString("N")[..8];

    private static QualityMessage Inspection(long seq, double value, string? defect = null) =>
        new(seq, T0.AddSeconds(seq), [new Measurement("bore", value, new SpecLimits(9.0, 11.0))], $"P-{seq}", null, "WO-1", defect);

    [Fact]
    public async Task A_machines_inspections_reach_the_chart_durably_and_a_signal_opens_one_quality_ticket()
    {
        var machine = fixture.Client.GetGrain<IMachineGrain>(TwinKey.Compose(_factory, "lathe"));
        var chart = fixture.Client.GetGrain<ICharacteristicGrain>(new CharacteristicKey(_factory, "lathe", "bore").GrainKey);

        // 25 individuals alternating 9.9 / 10.1 (13 and 12 of them: centre 249.9/25 = 9.996, MR̄ 0.2), then one at 11.5: rule 1.
        var baseline = Enumerable.Range(1, 25).Select(i => (MachineMessage)Inspection(i, i % 2 == 0 ? 10.1 : 9.9)).ToList();
        await machine.IngestAsync([.. baseline]);
        await machine.IngestAsync([Inspection(26, 11.5, "oversize"), Inspection(26, 11.5, "oversize")]);

        var snapshot = await Eventually.ForAsync(async () => await chart.GetAsync() is { Readings: 26 } s ? s : null, "26 readings on the chart");
        Assert.Equal("monitoring", snapshot.Phase);
        Assert.Equal(9.996, snapshot.Limits!.Center, 9);
        Assert.Equal([FaultKind.Nelson1], snapshot.FiringRules.ToArray());
        Assert.Equal(1, snapshot.OutOfSpec);

        var desk = fixture.Client.GetGrain<IMaintenanceTicketGrain>(new TicketDeskKey(_factory, "lathe", FaultKind.Nelson1, "bore").GrainKey);
        var tickets = await Eventually.ForAsync(async () => await desk.ListAsync() is { Length: > 0 } t ? t.ToArray() : null, "a quality ticket");
        var ticket = Assert.Single(tickets);
        Assert.Equal(("lathe.bore.Nelson1.1", "bore", TicketStatus.Open), (ticket.Id, ticket.Characteristic, ticket.Status));

        // The chart keeps its limits across a deactivation; a sample delivered again changes nothing.
        await fixture.Cluster.DeactivateAsync(chart);
        await chart.RecordAsync(new SpcSample(":26", T0, 11.5, new SpecLimits(9.0, 11.0), "P-26"));
        var reloaded = await chart.GetAsync();
        Assert.Equal((26L, 9.996), (reloaded.Readings, Math.Round(reloaded.Limits!.Center, 9)));

        // The machine's inspection log has the parts, the last one failed with its defect code.
        var log = fixture.Client.GetGrain<IInspectionLogGrain>(TwinKey.Compose(_factory, "lathe"));
        var records = await Eventually.ForAsync(async () => await log.ListAsync(T0, T0.AddHours(1)) is { Length: 26 } r ? r.ToArray() : null, "26 parts in the log");
        Assert.Equal(("oversize", "WO-1", "P-26"), (records[^1].Defect, records[^1].WorkOrder, records[^1].Part));
        Assert.Equal(records[^2].Time, records[^1].Start);
    }
}
