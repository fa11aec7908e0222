using Microsoft.Extensions.DependencyInjection;
using Twin.DeadLetters;
using Twin.Machines;
using Twin.Maintenance;
using Twin.Quality;

namespace Twin.Grains.Tests.Cluster;

/// <summary>The one outbox, seen from outside the twins: retried until taken, kept across deactivation, never dropped unseen.</summary>
[Collection(ClusterCollection.Name)]
public class OutboxTests(ClusterFixture fixture)
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);
    private readonly string _factory = "f-" + Guid.NewGuid().ToString("N")[..8];

    private T Grain<T>(string id)
        where T : IGrainWithStringKey => fixture.Client.GetGrain<T>(TwinKey.Compose(_factory, id));

    private static FaultReport Fault(int n) => new($"t:LimitHigh:mqtt:{n}", "m1", FaultKind.LimitHigh, new FaultEvidence(T0.AddSeconds(n), "t", 99, 1));

    [Fact]
    public async Task An_event_its_target_refused_waits_across_deactivation_and_goes_out_when_the_target_is_back()
    {
        fixture.External.Down(_factory);
        var desk = Grain<IMaintenanceTicketGrain>("m1.LimitHigh");
        await desk.ReportAsync(Fault(1));

        // Waiting, with the reminder that brings the desk back for it after a restart.
        var table = fixture.Cluster.Silos[0].ServiceProvider.GetRequiredService<IReminderTable>();
        await Until(async () => await table.ReadRow(desk.GetGrainId(), "outbox") is not null, "the outbox reminder is set");
        Assert.Empty(fixture.External.Taken(_factory));

        await fixture.Cluster.DeactivateAsync(desk);
        fixture.External.Up(_factory);
        await desk.ListAsync();

        await Until(() => Task.FromResult(fixture.External.Taken(_factory).Count == 1), "the ticket.opened event arrived once");
        Assert.Equal("ticket.opened", fixture.External.Taken(_factory)[0].Type);
        await Until(async () => await table.ReadRow(desk.GetGrainId(), "outbox") is null, "the reminder is gone once nothing waits");
    }

    [Fact]
    public async Task Past_its_bound_an_outbox_parks_the_oldest_as_dead_letters_and_delivers_the_rest_in_order()
    {
        // 60 events (open, resolve, open, …) while the target is down; the fixture's bound is 50.
        fixture.External.Down(_factory);
        var desk = Grain<IMaintenanceTicketGrain>("m1.LimitHigh");
        for (var n = 1; n <= 30; n++)
        {
            await desk.ReportAsync(Fault(n));
            await desk.MoveAsync(n, TicketStatus.Resolved, "tester", null);
        }

        var letters = fixture.Client.GetGrain<IDeadLetterGrain>(_factory);
        await Until(async () => (await letters.ListAsync("outbox.full", 100)).Items.Length == 10, "ten events parked as outbox.full");
        var parked = (await letters.ListAsync("outbox.full", 100)).Items;
        Assert.All(parked, l => Assert.Equal("outbox", l.Source));
        Assert.All(parked, l => Assert.Contains("ticket:", l.Payload, StringComparison.Ordinal));

        fixture.External.Up(_factory);
        await Until(() => Task.FromResult(fixture.External.Taken(_factory).Count == 50), "the other 50 arrived");
        var taken = fixture.External.Taken(_factory);
        Assert.Equal(50, taken.Select(e => e.Id).Distinct().Count());

        // Nothing lost: the ten oldest are the dead letters, the rest arrived in the order they were queued.
        var queued = Enumerable.Range(1, 30).SelectMany(n => new[] { $"ticket:m1.LimitHigh.{n}:opened", $"ticket:m1.LimitHigh.{n}:resolved.1" }).ToList();
        Assert.Equal(queued[10..], taken.Select(e => e.Id));
        var parkedIds = parked.Select(l => System.Text.Json.JsonDocument.Parse(l.Payload).RootElement.GetProperty("Event").GetProperty("Id").GetString()!);
        Assert.Equal(queued[..10].Order(StringComparer.Ordinal), parkedIds.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_message_queued_while_the_outbox_clears_its_reminder_is_still_delivered()
    {
        // The machine's outbox has just delivered its last message and is looking up its reminder to
        // clear it; an inspection queued at that moment must not wait for a next change that may never
        // come, and its write waits for the reminder to be registered again (a crash right after that
        // write must still find the twin).
        static QualityMessage Inspection(long seq) => new(seq, T0.AddSeconds(seq), [new Measurement("bore", 10.0, new SpecLimits(9.0, 11.0))], $"P-{seq}");
        var machine = Grain<IMachineGrain>("lathe");
        var log = Grain<IInspectionLogGrain>("lathe");
        fixture.Reminders.Hold(_factory);
        Task second;
        try
        {
            await machine.IngestAsync([Inspection(1)]);
            await Until(async () => (await log.ListAsync(T0, T0.AddHours(1))).Length == 1 && fixture.Reminders.Waiting > 0, "the first inspection logged, the reminder lookup under way");
            second = machine.IngestAsync([Inspection(2)]);
            await Task.Delay(TimeSpan.FromMilliseconds(500));
            Assert.False(second.IsCompleted, "the second inspection was made durable while its outbox reminder was being removed");
        }
        finally
        {
            fixture.Reminders.Release(_factory);
        }

        await second;
        await Until(async () => (await log.ListAsync(T0, T0.AddHours(1))).Length == 2, "the second inspection logged too");
    }

    [Fact]
    public async Task The_outbox_reminder_exists_before_the_write_that_leaves_a_message_in_the_outbox()
    {
        // A crash right after the write must find the reminder that brings the twin back to deliver:
        // the write (and so the answer to the device) waits for the registration.
        var machine = Grain<IMachineGrain>("kiln");
        fixture.Reminders.HoldRegistrations(_factory);
        Task ingest;
        try
        {
            ingest = machine.IngestAsync([new QualityMessage(1, T0, [new Measurement("bore", 10.0, new SpecLimits(9.0, 11.0))], "P-1")]);
            await Until(() => Task.FromResult(fixture.Reminders.Waiting > 0), "the reminder registration under way");
            await Task.Delay(TimeSpan.FromMilliseconds(500));
            Assert.False(ingest.IsCompleted, "the inspection was made durable before its outbox reminder existed");
        }
        finally
        {
            fixture.Reminders.Release(_factory);
        }

        await ingest;
        var log = Grain<IInspectionLogGrain>("kiln");
        await Until(async () => (await log.ListAsync(T0.AddHours(-1), T0.AddHours(1))).Length == 1, "the inspection logged");
        var table = fixture.Cluster.Silos[0].ServiceProvider.GetRequiredService<IReminderTable>();
        await Until(async () => await table.ReadRow(machine.GetGrainId(), "outbox") is null, "the reminder is gone once nothing waits");
    }

    [Fact]
    public async Task Parts_for_a_work_order_nobody_created_become_a_dead_letter_not_a_silent_drop()
    {
        var machine = Grain<IMachineGrain>("press");
        await machine.IngestAsync([new CountsMessage(1, T0, 5, 1, "WO-nobody")]);

        var letters = fixture.Client.GetGrain<IDeadLetterGrain>(_factory);
        await Until(async () => (await letters.ListAsync("outbox.refused", 10)).Items.Length == 1, "the refused report is a dead letter");
        var letter = (await letters.ListAsync("outbox.refused", 10)).Items[0];
        Assert.Contains("workorder.not-found", letter.Reason, StringComparison.Ordinal);
        Assert.Contains("WO-nobody", letter.Payload, StringComparison.Ordinal);
    }

    private static async Task Until(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Not within 30 s: {what}.");
            }

            await Task.Delay(50);
        }
    }
}
