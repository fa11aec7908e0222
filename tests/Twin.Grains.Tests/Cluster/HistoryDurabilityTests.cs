using Twin.Machines;

namespace Twin.Grains.Tests.Cluster;

/// <summary>History is derived from durable twin state: an acknowledged reading reaches the history even when the twin goes away first.</summary>
[Collection(ClusterCollection.Name)]
public class HistoryDurabilityTests(ClusterFixture fixture)
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);
    private readonly string _factory = "f-" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task Readings_acknowledged_before_the_history_wrote_them_are_written_after_the_twin_is_gone()
    {
        var key = TwinKey.Compose(_factory, "press");
        var machine = fixture.Client.GetGrain<IMachineGrain>(key);
        fixture.History.Hold(_factory);

        // Acknowledged (the call returned) while the history has written nothing.
        for (var seq = 1; seq <= 20; seq++)
        {
            var result = await machine.IngestAsync([new TelemetryMessage(seq, T0.AddSeconds(seq), [new SensorReading("temperature", 20 + seq, "degC")])]);
            Assert.Equal(1, result.Applied);
        }

        Assert.Empty(fixture.History.Written(key));

        // The history queue is lost (its process died) and the twin goes away; when it comes back
        // it hands over again what it has not seen written (called here, or woken by its history reminder).
        fixture.History.Lose(_factory);
        await fixture.Cluster.DeactivateAsync(machine);
        await machine.GetSnapshotAsync();

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Temperatures(key).Select(p => p.Seq).Distinct().Count() < 20 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), Temperatures(key).Select(p => p.Seq).Distinct().Order());
        Assert.All(Temperatures(key), p => Assert.Equal(20 + p.Seq, p.Value));
    }

    private IEnumerable<Twin.Grains.Infrastructure.HistoryPoint> Temperatures(string key) =>
        fixture.History.Written(key).Where(p => p.Sensor == "temperature");
}
