using Twin.Effects;
using Twin.Machines;
using Twin.Maintenance;

namespace Twin.Grains.Tests.Cluster;

/// <summary>A resolved ticket gets its effect report, also when the effects grain was deactivated in between.</summary>
[Collection(ClusterCollection.Name)]
public class ActionEffectTests(ClusterFixture fixture)
{
    private static readonly TimeSpan Window = TimeSpan.FromHours(8); // the default Twin:Effects:Window

    private readonly string _factory = "fx-" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task Resolving_a_ticket_yields_a_before_after_report_that_survives_deactivation()
    {
        var now = fixture.Clock.GetUtcNow();
        var machine = fixture.Client.GetGrain<IMachineGrain>(TwinKey.Compose(_factory, "press"));
        var desk = fixture.Client.GetGrain<IMaintenanceTicketGrain>(new TicketDeskKey(_factory, "press", FaultKind.LimitHigh).GrainKey);
        var effects = fixture.Client.GetGrain<IActionEffectGrain>(_factory);

        // Before: running for two hours, 8 good and 2 scrap; a fault opens a ticket.
        await machine.IngestAsync([
            new StatusMessage(1, now.AddHours(-2), MachineRunState.Running),
            new CountsMessage(2, now.AddMinutes(-90), 6, 2, null),
            new CountsMessage(3, now.AddMinutes(-30), 2, 0, null),
        ]);
        await desk.ReportAsync(new FaultReport("r1", "press", FaultKind.LimitHigh, new FaultEvidence(now.AddMinutes(-20), "temperature", 95, 1)));
        fixture.Clock.Advance(TimeSpan.FromMinutes(1));
        var at = fixture.Clock.GetUtcNow();

        await desk.MoveAsync(1, TicketStatus.Resolved, "anna", "fan replaced");

        // The resolution reached the effects grain through the ticket's outbox: open, with the before figures.
        var open = await effects.GetAsync("ticket:press.LimitHigh.1:resolved.1");
        Assert.NotNull(open);
        Assert.Equal((ActionStatus.Open, ActionKind.TicketResolved, "press", "press.LimitHigh.1", "anna", at), (open.Status, open.Action.Kind, open.Action.Machine, open.Action.Ticket, open.Action.By, open.Action.At));
        var scrapBefore = open.Figures.Single(f => f.Kpi == "scrapRate").Before;
        Assert.Equal((0.2, 10L, 2L), (scrapBefore.Value!.Value, scrapBefore.Samples, scrapBefore.Hits!.Value));
        Assert.Equal(ActionStatus.Open, (await effects.ListAsync(ActionStatus.Open)).Single().Status);

        // Tracking the same action again changes nothing.
        await effects.TrackAsync(open.Action with { Text = "again" });
        Assert.Equal("fan replaced", Assert.Single(await effects.ListAsync(null)).Action.Text!.Split(": ")[^1]);

        // Deactivated while the after-window runs: the machine counts the parts on its own.
        await fixture.Cluster.DeactivateAsync(effects);
        await machine.IngestAsync([
            new CountsMessage(4, at.AddHours(1), 7, 0, null),
            new CountsMessage(5, at.AddHours(5), 3, 0, null),
        ]);
        Assert.Equal(ActionStatus.Open, (await effects.GetAsync(open.Action.Id))!.Status);

        // The machine's event time passes t + window: the next check (on activation here, by the reminder in production) completes the report.
        await machine.IngestAsync([new StatusMessage(6, at + Window + TimeSpan.FromMinutes(1), MachineRunState.Running)]);
        await fixture.Cluster.DeactivateAsync(effects);
        var report = await Eventually.ForAsync(async () => await effects.GetAsync(open.Action.Id) is { Status: ActionStatus.Verified } r ? r : null, "the verified report");

        var scrap = report.Figures.Single(f => f.Kpi == "scrapRate");
        Assert.Equal((0.2, 10L), (scrap.Before.Value!.Value, scrap.Before.Samples));
        Assert.Equal((0.0, 10L, 0L), (scrap.After!.Value!.Value, scrap.After.Samples, scrap.After.Hits!.Value));
        Assert.Equal(("better", -0.2), (scrap.Verdict, Math.Round(scrap.Change!.Value, 9)));

        // The fault that opened the ticket is the one failure before; none after.
        var failures = report.Figures.Single(f => f.Kpi == "failures");
        Assert.Equal((1.0, 0.0), (failures.Before.Value!.Value, failures.After!.Value!.Value));
        Assert.NotNull(report.VerifiedAt);
        Assert.Contains("scrap 20% → 0%", report.Summary, StringComparison.Ordinal);

        var forTickets = await effects.ForTicketsAsync();
        Assert.Equal(ActionStatus.Verified, forTickets["press.LimitHigh.1"].Status);
        Assert.Empty(await effects.ListAsync(ActionStatus.Open));
    }

    [Fact]
    public async Task Changed_master_data_is_an_action_and_the_first_definition_or_the_same_values_are_not()
    {
        var machine = fixture.Client.GetGrain<IMachineGrain>(TwinKey.Compose(_factory, "oven"));
        var effects = fixture.Client.GetGrain<IActionEffectGrain>(_factory);
        MachineDefinition Limits(double high) => new("Oven", System.Collections.Immutable.ImmutableDictionary<string, SensorLimit>.Empty.Add("temperature", new SensorLimit(High: high)));

        await machine.DefineAsync(Limits(90));
        await machine.DefineAsync(Limits(90));
        await machine.DefineAsync(Limits(85));

        var action = await Eventually.ForAsync(async () => await effects.ListAsync(null) is { Length: > 0 } list ? list.ToArray() : null, "the settings action");
        var only = Assert.Single(action);
        Assert.Equal((ActionKind.MachineSettingsChanged, "oven", "machine/oven", ActionStatus.Open), (only.Action.Kind, only.Action.Machine, only.Action.Subject, only.Status));
        Assert.StartsWith("settings:oven:", only.Action.Id, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("telemetry")]
    [InlineData("counts")]
    public async Task A_machine_that_sends_no_status_is_heard_past_the_window_by_its_other_messages(string kind)
    {
        var now = fixture.Clock.GetUtcNow();
        var id = "quiet-" + kind;
        var machine = fixture.Client.GetGrain<IMachineGrain>(TwinKey.Compose(_factory, id));
        var effects = fixture.Client.GetGrain<IActionEffectGrain>(_factory);
        await machine.IngestAsync([new TelemetryMessage(1, now.AddMinutes(-30), [new SensorReading("temperature", 40, "degC")])]);
        await effects.TrackAsync(new ActionRecord($"manual:{id}", ActionKind.MachineSettingsChanged, id, null, $"machine/{id}", now, "anna", "limits changed"));
        Assert.Equal(ActionStatus.Open, (await effects.GetAsync($"manual:{id}"))!.Status);

        // Past t + window in the machine's own event time, by telemetry or by counts alone.
        var late = now + Window + TimeSpan.FromMinutes(1);
        MachineMessage message = kind == "telemetry"
            ? new TelemetryMessage(2, late, [new SensorReading("temperature", 41, "degC")])
            : new CountsMessage(2, late, 1, 0, null);
        await machine.IngestAsync([message]);
        await fixture.Cluster.DeactivateAsync(effects);
        await Eventually.ForAsync(async () => await effects.GetAsync($"manual:{id}") is { Status: ActionStatus.Verified } r ? r : null, "the report, without waiting for MaxWait");
    }
}
