using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using Twin.Grains.Kpis;
using Twin.Grains.Machines;
using Twin.Kpis;
using Twin.Machines;
using Twin.Quality;

namespace Twin.Grains.Tests.Cluster;

/// <summary>
/// Work a twin saved but had not finished (a KPI report, readings for the history) is finished
/// after the twin went away, without anyone calling it again: its wake reminder brings it back.
/// </summary>
[Collection(ClusterCollection.Name)]
public class WakeReminderTests(ClusterFixture fixture)
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);
    private readonly string _factory = "wake-" + Guid.NewGuid().ToString("N")[..8];

    private IReminderTable Table => fixture.Cluster.Silos[0].ServiceProvider.GetRequiredService<IReminderTable>();

    private InspectionRecord Part(int n) =>
        new($"part-{n}", "press", fixture.Clock.GetUtcNow().AddMinutes(-1), fixture.Clock.GetUtcNow(), $"P-{n}", null, null, n % 2 == 0 ? "burr" : null, false, ImmutableArray<MeasuredValue>.Empty, null);

    [Fact]
    public async Task A_kpi_report_saved_but_never_sent_reaches_the_factory_kpis_after_the_twin_went_away()
    {
        var kpis = fixture.Client.GetGrain<IFactoryKpiGrain>(_factory);
        Assert.Null((await kpis.GetAsync()).Quality);

        // The inspection is durable with its report pending, but the report never gets there.
        fixture.Kpis.Down(_factory);
        var log = fixture.Client.GetGrain<IInspectionLogGrain>(TwinKey.Compose(_factory, "press"));
        await log.RecordAsync(Part(1));
        await log.RecordAsync(Part(2));
        await Until(async () => await Table.ReadRow(log.GetGrainId(), KpiFeed.Reminder) is not null, "the kpi reminder is set");

        // As after a restart: the twin is gone and nobody calls it again.
        await fixture.Cluster.DeactivateAsync(log);
        fixture.Kpis.Up(_factory);

        await Until(async () => (await kpis.GetAsync()).Quality is { Inspected: 2, Scrap: 1 }, "the factory KPIs count both parts");
        await Until(async () => await Table.ReadRow(log.GetGrainId(), KpiFeed.Reminder) is null, "the kpi reminder is gone once nothing is pending");
    }

    [Fact]
    public async Task The_kpi_reminder_exists_before_the_write_that_leaves_a_report_pending()
    {
        // A crash right after the write must find the reminder: the write (and so the answer) waits for it.
        var log = fixture.Client.GetGrain<IInspectionLogGrain>(TwinKey.Compose(_factory, "lathe"));
        fixture.Reminders.HoldRegistrations(_factory, KpiFeed.Reminder);
        Task record;
        try
        {
            record = log.RecordAsync(Part(1));
            await Until(() => Task.FromResult(fixture.Reminders.Waiting > 0), "the kpi reminder registration under way");
            await Task.Delay(TimeSpan.FromMilliseconds(500));
            Assert.False(record.IsCompleted, "the inspection was made durable before its kpi reminder existed");
        }
        finally
        {
            fixture.Reminders.Release(_factory);
        }

        await record;
        var kpis = fixture.Client.GetGrain<IFactoryKpiGrain>(_factory);
        await Until(async () => (await kpis.GetAsync()).Quality is { Inspected: 1 }, "the factory KPIs count the part");
    }

    [Fact]
    public async Task Readings_the_history_lost_are_written_after_the_twin_went_away_without_a_call()
    {
        var key = TwinKey.Compose(_factory, "kiln");
        var machine = fixture.Client.GetGrain<IMachineGrain>(key);
        fixture.History.Hold(_factory);
        for (var seq = 1; seq <= 10; seq++)
        {
            var result = await machine.IngestAsync([new TelemetryMessage(seq, T0.AddSeconds(seq), [new SensorReading("temperature", 20 + seq, "degC")])]);
            Assert.Equal(1, result.Applied);
        }

        Assert.NotNull(await Table.ReadRow(machine.GetGrainId(), MachineGrain.HistoryReminder));
        Assert.Empty(fixture.History.Written(key));

        // The history queue is lost (its process died) and the twin goes away; nobody reads or feeds it again.
        fixture.History.Lose(_factory);
        await fixture.Cluster.DeactivateAsync(machine);

        await Until(() => Task.FromResult(fixture.History.Written(key).Select(p => p.Seq).Distinct().Count() == 10), "the ten readings written");
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), fixture.History.Written(key).Select(p => p.Seq).Distinct().Order());
        await Until(async () => await Table.ReadRow(machine.GetGrainId(), MachineGrain.HistoryReminder) is null, "the history reminder is gone once nothing is pending");
    }

    [Fact]
    public async Task A_busy_twin_keeps_its_history_reminder_through_ticks_that_find_its_readings_written()
    {
        // Every busy twin's reminder ticks in the same second: removed at a tick that found the
        // readings written and registered again by the next write, it put a reminder-table write in
        // front of every twin's next commit at once.
        var key = TwinKey.Compose(_factory, "press");
        var machine = fixture.Client.GetGrain<IMachineGrain>(key);
        var id = machine.GetGrainId();
        var busy = System.Diagnostics.Stopwatch.StartNew();
        var seq = 0;

        // Four readings a second, each written to the history at once, for three reminder periods (2 s each).
        while (busy.Elapsed < TimeSpan.FromSeconds(7))
        {
            seq++;
            var result = await machine.IngestAsync([new TelemetryMessage(seq, T0.AddSeconds(seq), [new SensorReading("temperature", 20 + seq, "degC")])]);
            Assert.Equal(1, result.Applied);
            await Task.Delay(TimeSpan.FromMilliseconds(250));
        }

        await Until(() => Task.FromResult(fixture.History.Written(key).Select(p => p.Seq).Distinct().Count() == seq), "every reading written");
        Assert.NotNull(await Table.ReadRow(id, MachineGrain.HistoryReminder));
        Assert.Equal(0, fixture.Reminders.Removals(id, MachineGrain.HistoryReminder));
        Assert.Equal(1, fixture.Reminders.Registrations(id, MachineGrain.HistoryReminder));

        // Idle now: a period without new work, and it goes.
        await Until(async () => await Table.ReadRow(id, MachineGrain.HistoryReminder) is null, "the history reminder is gone once the twin is idle");
    }

    private static async Task Until(Func<Task<bool>> condition, string what) =>
        await Eventually.ForAsync(async () => await condition() ? "" : null, what);
}
