using System.Collections.Immutable;
using Twin.Lines;
using Twin.Machines;

namespace Twin.Grains.Tests.Cluster;

/// <summary>A simulated line where one machine is slow: it is named the bottleneck and line OEE matches the hand computation.</summary>
[Collection(ClusterCollection.Name)]
public class OeeTests(ClusterFixture fixture)
{
    [Fact]
    public async Task The_slow_machine_is_the_bottleneck_and_line_OEE_matches_the_hand_computed_value()
    {
        var factory = "oee-" + Guid.NewGuid().ToString("N")[..8];
        // Align "now" with a 15-minute boundary so the last hour is exactly four ledger buckets.
        var now = fixture.Clock.GetUtcNow();
        var aligned = new DateTimeOffset((now.UtcTicks / TimeSpan.FromMinutes(15).Ticks + 1) * TimeSpan.FromMinutes(15).Ticks, TimeSpan.Zero);
        fixture.Clock.Advance(aligned - now);
        now = aligned;
        var start = now.AddHours(-1);

        // Flow order: saw (fast, ideal 10 s) → mill (slow, ideal 20 s) → pack (output, ideal 10 s).
        (string Id, double Ideal, int RunMinutes, int DownMinutes)[] machines =
        [
            ("saw", 10, 18, 0),   // runs 30 %, waits the rest (blocked by the mill)
            ("mill", 20, 54, 3),  // runs 90 %, down 5 %, idle 5 %
            ("pack", 10, 27, 0),  // runs 45 %, waits the rest (starved by the mill)
        ];
        foreach (var (id, ideal, run, down) in machines)
        {
            var grain = fixture.Client.GetGrain<IMachineGrain>(TwinKey.Compose(factory, id));
            await grain.DefineAsync(new MachineDefinition(id, ImmutableDictionary<string, SensorLimit>.Empty, TimeSpan.FromSeconds(ideal)));
            // Status on every change, and a heartbeat reading every 20 s (a twin not heard from
            // for its offline timeout is not timed at all).
            var messages = new List<MachineMessage>
            {
                new StatusMessage(1, start, MachineRunState.Running),
                new StatusMessage(2, start.AddMinutes(run), down > 0 ? MachineRunState.Down : MachineRunState.Idle),
                new StatusMessage(3, start.AddMinutes(run + down), MachineRunState.Idle),
                new StatusMessage(4, now, MachineRunState.Idle),
            };
            for (var s = 20; s < 3600; s += 20)
            {
                messages.Add(new TelemetryMessage(10 + s, start.AddSeconds(s), [new SensorReading("spindle", 1, null)]));
            }

            await grain.IngestAsync([.. messages.OrderBy(m => m.Timestamp)]);
        }

        // The output machine made 150 parts in the hour, 5 of them scrap.
        var pack = fixture.Client.GetGrain<IMachineGrain>(TwinKey.Compose(factory, "pack"));
        var counts = Enumerable.Range(0, 15).Select(i => (MachineMessage)new CountsMessage(10_000 + i, start.AddMinutes(2 + (i * 3)), i < 5 ? 9 : 10, i < 5 ? 1 : 0, null)).ToImmutableArray();
        await pack.IngestAsync(counts);

        var line = fixture.Client.GetGrain<ILineGrain>(TwinKey.Compose(factory, "shafts"));
        await line.DefineAsync(new LineDefinition("Shafts", ["saw", "mill", "pack"]));
        var performance = await line.GetPerformanceAsync();

        Assert.NotNull(performance.Bottleneck);
        Assert.Equal("mill", performance.Bottleneck.Machine);
        Assert.Equal(0.95, performance.Bottleneck.Active, 3);
        Assert.Equal(TimeSpan.FromSeconds(20), performance.IdealCycleTime);

        // By hand: availability 54/60 = 0.9; performance 20 s × 150 / 3240 s = 0.9259;
        // quality 145/150 = 0.9667; OEE = 20 s × 145 / 3600 s = 0.8056.
        var hour = Assert.Single(performance.Windows, w => w.Window == "1h");
        Assert.Equal(0.9, hour.Availability!.Value, 3);
        Assert.Equal(20.0 * 150 / 3240, hour.Performance!.Value, 3);
        Assert.Equal(145.0 / 150, hour.Quality!.Value, 3);
        Assert.InRange(hour.Oee!.Value, (20.0 * 145 / 3600) - 0.005, (20.0 * 145 / 3600) + 0.005);

        // The machine view agrees: the mill ran 3240 s of the hour and was down 180 s.
        var mill = await fixture.Client.GetGrain<IMachineGrain>(TwinKey.Compose(factory, "mill")).GetOeeAsync();
        var millHour = Assert.Single(mill.Windows, w => w.Window == "1h");
        Assert.Equal(3240, millHour.RunSeconds, 0);
        Assert.Equal(180, millHour.DownSeconds, 0);
        Assert.Null(millHour.Quality); // the mill reports no parts
    }
}
