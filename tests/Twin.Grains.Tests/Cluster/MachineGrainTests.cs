using System.Collections.Immutable;
using Twin.Factories;
using Twin.Machines;

namespace Twin.Grains.Tests.Cluster;

[Collection(ClusterCollection.Name)]
public class MachineGrainTests(ClusterFixture fixture)
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);

    private static string NewKey(string factory = "t") => TwinKey.Compose(factory, "m-" + Guid.NewGuid().ToString("N")[..12]);

    private static TelemetryMessage Reading(long seq, double value) =>
        new(seq, T0.AddMilliseconds(seq * 100), [new SensorReading("temperature", value, "degC"), new SensorReading("vibration", value / 10, "mm/s")]);

    [Fact]
    public async Task Concurrent_ingests_are_group_committed_and_all_survive_reactivation()
    {
        const int n = 300;
        var key = NewKey();
        var machine = fixture.Client.GetGrain<IMachineGrain>(key);

        var results = await Task.WhenAll(Enumerable.Range(1, n).Select(i => machine.IngestAsync([Reading(i, i)])));
        Assert.Equal(n, results.Sum(r => r.Applied + r.Late));

        var writes = fixture.Writes.For("machine/" + key);
        Assert.InRange(writes, 1, n / 3);

        await fixture.Cluster.DeactivateAsync(machine);
        var snapshot = await machine.GetSnapshotAsync();
        Assert.Equal(n, snapshot.LastSeq);
        Assert.Equal(n, snapshot.Ingest.Applied + snapshot.Ingest.Late);
        Assert.Equal(n, snapshot.Version);
        var temperature = Assert.Single(snapshot.Sensors, s => s.Sensor == "temperature");
        Assert.Equal(n, temperature.Value);

        // Every sequence number is remembered: a full replay is all duplicates and changes nothing.
        var replay = await machine.IngestAsync([.. Enumerable.Range(1, n).Select(i => (MachineMessage)Reading(i, -1))]);
        Assert.Equal(n, replay.Duplicates);
        Assert.Equal(n, (await machine.GetSnapshotAsync()).Version);
    }

    [Fact]
    public async Task Duplicates_and_reordering_apply_each_sequence_once_and_keep_the_newest_value()
    {
        var machine = fixture.Client.GetGrain<IMachineGrain>(NewKey());
        var random = new Random(11);
        var seqs = Enumerable.Range(1, 50).ToList();
        var deliveries = seqs.Concat(seqs.Where(_ => random.NextDouble() < 0.3)).OrderBy(_ => random.Next()).ToList();
        foreach (var chunk in deliveries.Chunk(7))
        {
            await machine.IngestAsync([.. chunk.Select(s => (MachineMessage)Reading(s, s))]);
        }

        var snapshot = await machine.GetSnapshotAsync();
        Assert.Equal(50, snapshot.Ingest.Applied + snapshot.Ingest.Late);
        Assert.Equal(deliveries.Count - 50, snapshot.Ingest.Duplicates);
        Assert.Equal(50, snapshot.Sensors.Single(s => s.Sensor == "temperature").Value);
        Assert.Equal(50, snapshot.Sensors.Single(s => s.Sensor == "temperature").Statistics.Count);
    }

    [Fact]
    public async Task Status_counts_and_heartbeat_offline()
    {
        var machine = fixture.Client.GetGrain<IMachineGrain>(NewKey());
        await machine.IngestAsync(
        [
            new StatusMessage(1, T0, MachineRunState.Running),
            new CountsMessage(2, T0.AddSeconds(5), 4, 1, "WO-9"),
        ]);
        var snapshot = await machine.GetSnapshotAsync();
        Assert.Equal(MachineStatus.Running, snapshot.Status);
        Assert.Equal(4, snapshot.Counts.Good);
        Assert.Equal(1, snapshot.Counts.Scrap);
        Assert.Equal("WO-9", snapshot.CurrentWorkOrder);

        fixture.Clock.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(MachineStatus.Offline, (await machine.GetSummaryAsync()).Status);

        await machine.IngestAsync([new StatusMessage(3, T0.AddSeconds(10), MachineRunState.Idle)]);
        Assert.Equal(MachineStatus.Idle, (await machine.GetSummaryAsync()).Status);
    }

    [Fact]
    public async Task A_machine_that_sends_data_is_listed_in_its_factory()
    {
        var factory = "f-" + Guid.NewGuid().ToString("N")[..8];
        var key = NewKey(factory);
        var machine = fixture.Client.GetGrain<IMachineGrain>(key);
        Assert.False(await machine.ExistsAsync());
        await machine.IngestAsync([Reading(1, 20)]);
        Assert.True(await machine.ExistsAsync());
        var ids = (await fixture.Client.GetGrain<IFactoryGrain>(factory).ListAsync(TwinKind.Machine)).ToArray();
        Assert.Equal([TwinKey.Split(key).Id], ids);
    }

    [Fact]
    public async Task A_batch_of_only_duplicates_completes_without_a_write()
    {
        var key = NewKey();
        var machine = fixture.Client.GetGrain<IMachineGrain>(key);
        await machine.IngestAsync([Reading(1, 1)]);
        var before = fixture.Writes.For("machine/" + key);
        var result = await machine.IngestAsync([Reading(1, 1), Reading(1, 1)]);
        Assert.Equal(2, result.Duplicates);
        Assert.Equal(before, fixture.Writes.For("machine/" + key));
        Assert.Equal(ImmutableArray<MachineMessage>.Empty.Length, (await machine.IngestAsync([])).Applied);
    }
}
