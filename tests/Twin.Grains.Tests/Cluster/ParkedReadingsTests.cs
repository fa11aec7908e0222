using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using Twin.DeadLetters;
using Twin.Machines;

namespace Twin.Grains.Tests.Cluster;

/// <summary>Readings a gateway parked reach their twin once, however often they were parked, and refusals become dead letters.</summary>
[Collection(ClusterCollection.Name)]
public class ParkedReadingsTests(ClusterFixture fixture)
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);
    private readonly string _factory = "f-" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task Parked_readings_reach_the_twin_once_even_when_parked_in_two_slots_and_sent_directly()
    {
        var key = TwinKey.Compose(_factory, "press");
        var readings = Enumerable.Range(1, 600)
            .Select(seq => (MachineMessage)new TelemetryMessage(seq, T0.AddSeconds(seq), [new SensorReading("temperature", seq, "degC")]))
            .ToList();

        // A gateway parked the first 400 in slot 0, timed out on slot 0 for the last 300 and parked
        // them again in slot 1; the twin itself took 300–350 directly meanwhile.
        await fixture.Client.GetGrain<IParkedReadingsGrain>(IParkedReadingsGrain.Key(key, 0)).ParkAsync([.. readings.Take(400)]);
        await fixture.Client.GetGrain<IParkedReadingsGrain>(IParkedReadingsGrain.Key(key, 1)).ParkAsync([.. readings.Skip(300)]);
        await fixture.Client.GetGrain<IMachineGrain>(key).IngestAsync([.. readings.Skip(299).Take(51)]);

        var machine = fixture.Client.GetGrain<IMachineGrain>(key);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        MachineSnapshot snapshot;
        do
        {
            await Task.Delay(50);
            snapshot = await machine.GetSnapshotAsync();
        }
        while (snapshot.Ingest.Applied + snapshot.Ingest.Late < 600 && DateTime.UtcNow < deadline);

        Assert.Equal(600, snapshot.Ingest.Applied + snapshot.Ingest.Late);
        Assert.Equal(600, snapshot.LastSeq);
        var temperature = Assert.Single(snapshot.Sensors, s => s.Sensor == "temperature");
        Assert.Equal(600, temperature.Value);
        Assert.Equal(0, await fixture.Client.GetGrain<IParkedReadingsGrain>(IParkedReadingsGrain.Key(key, 0)).WaitingAsync());
        Assert.Equal(0, await fixture.Client.GetGrain<IParkedReadingsGrain>(IParkedReadingsGrain.Key(key, 1)).WaitingAsync());
    }

    [Fact]
    public async Task A_parked_reading_the_twin_refuses_becomes_a_dead_letter()
    {
        var key = TwinKey.Compose(_factory, "tiny");
        await fixture.Client.GetGrain<IMachineGrain>(key).IngestAsync([new TelemetryMessage(1, T0, [new SensorReading("a", 1, null)])]);
        var tooMany = Enumerable.Range(0, 501).Select(i => new SensorReading($"s{i}", i, null)).ToList();
        await fixture.Client.GetGrain<IParkedReadingsGrain>(IParkedReadingsGrain.Key(key, 0)).ParkAsync([new TelemetryMessage(2, T0.AddSeconds(1), [.. tooMany])]);

        var letters = fixture.Client.GetGrain<IDeadLetterGrain>(_factory);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await letters.ListAsync("sensors.too-many", 10)).Items.Length == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        var letter = Assert.Single((await letters.ListAsync("sensors.too-many", 10)).Items);
        Assert.Equal("parked", letter.Source);
        Assert.Equal($"factory/{_factory}/machine/tiny", letter.Topic);
    }

    [Fact]
    public async Task Parks_that_race_the_end_of_a_delivery_are_delivered_at_once_and_the_reminder_goes_with_the_last()
    {
        // Parks arrive while the slot hands earlier ones over and drops its reminder: each must be
        // delivered by the slot itself, well inside the reminder's one-minute period.
        var key = TwinKey.Compose(_factory, "racer");
        var slot = fixture.Client.GetGrain<IParkedReadingsGrain>(IParkedReadingsGrain.Key(key, 0));
        var machine = fixture.Client.GetGrain<IMachineGrain>(key);
        const int Waves = 40;
        const int PerPark = 3;
        var seq = 0;
        for (var wave = 0; wave < Waves; wave++)
        {
            var parks = Enumerable.Range(0, 1 + (wave % 3)).Select(_ =>
            {
                var batch = Enumerable.Range(0, PerPark)
                    .Select(_ => (MachineMessage)new TelemetryMessage(++seq, T0.AddSeconds(seq), [new SensorReading("temperature", seq, "degC")]))
                    .ToImmutableArray();
                return slot.ParkAsync(batch);
            }).ToList();
            await Task.WhenAll(parks);

            // Sometimes right away, sometimes once the slot has had time to empty and drop its reminder.
            await Task.Delay(wave % 4 == 0 ? 60 : 1);
        }

        var sent = seq;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        MachineSnapshot snapshot;
        do
        {
            await Task.Delay(50);
            snapshot = await machine.GetSnapshotAsync();
        }
        while (snapshot.Ingest.Applied + snapshot.Ingest.Late < sent && clock.Elapsed < TimeSpan.FromSeconds(20));

        Assert.Equal(sent, snapshot.Ingest.Applied + snapshot.Ingest.Late);
        Assert.Equal(0, await slot.WaitingAsync());
        var table = fixture.Cluster.Silos[0].ServiceProvider.GetRequiredService<IReminderTable>();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (await table.ReadRow(slot.GetGrainId(), "parked") is not null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Null(await table.ReadRow(slot.GetGrainId(), "parked"));
    }
}
