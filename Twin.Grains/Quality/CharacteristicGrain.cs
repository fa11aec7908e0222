using System.Globalization;
using Microsoft.Extensions.Options;
using Twin.Factories;
using Twin.Grains.Infrastructure;
using Twin.Maintenance;
using Twin.Quality;

namespace Twin.Grains.Quality;

[GenerateSerializer, Alias("twin.CharacteristicState")]
public sealed class CharacteristicState : IRegisteredState
{
    [Id(0)] public bool Registered { get; set; }
    [Id(1)] public SpcState? Chart { get; set; }

    /// <summary>Ids of the latest samples taken, to take each once.</summary>
    [Id(2)] public List<string> Seen { get; set; } = [];

    /// <summary>Rule signals for the quality ticket desks not yet taken.</summary>
    [Id(3)] public List<OutboxEntry> Outbox { get; set; } = [];

    [Id(4)] public long Version { get; set; }

    /// <summary>The latest explicit re-baseline: when, and who asked.</summary>
    [Id(5)] public DateTimeOffset? RebaselinedAt { get; set; }
    [Id(6)] public string? RebaselinedBy { get; set; }
}

/// <summary>
/// One characteristic's control chart: the pure rules of <see cref="SpcChart"/> kept durably; a
/// rule that starts firing goes to the quality ticket desk of the characteristic and rule through
/// the outbox (the desk keeps at most one open ticket and adds later signals as evidence).
/// </summary>
public sealed class CharacteristicGrain(
    [PersistentState("characteristic", TwinStorage.Name)] IPersistentState<CharacteristicState> state,
    IOptions<QualityOptions> options,
    OutboxServices outboxServices,
    TwinClock clock) : Grain, ICharacteristicGrain, IRemindable, IOutboxOwner
{
    List<OutboxEntry> IOutboxOwner.Outbox => state.State.Outbox;

    /// <summary>Sample ids remembered (a repeat arrives from the machine's outbox, so soon after).</summary>
    public const int SamplesRemembered = 1000;

    private CharacteristicKey _key;
    private GroupCommit? _commit;
    private Outbox? _outbox;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _key = CharacteristicKey.Parse(this.GetPrimaryKeyString());
        _commit = new GroupCommit(state, this);
        _outbox = new Outbox(this, _commit, outboxServices);
        _outbox.Kick();
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _commit?.CloseAsync(cancellationToken, _outbox) ?? Task.CompletedTask;

    public async Task RecordAsync(SpcSample sample)
    {
        if (state.State.Seen.Contains(sample.Id))
        {
            await _commit!.WhenDurableAsync();
            return;
        }

        await this.RegisterOnceAsync(state.State, TwinKind.Characteristic, _key.Id);
        SeenIds.Remember(state.State.Seen, sample.Id, SamplesRemembered);
        var o = options.Value;
        var chart = state.State.Chart ??= new SpcState { SubgroupSize = o.SubgroupSize, BaselineSubgroups = o.BaselineSubgroups };
        var step = SpcChart.Add(chart, sample.Value, sample.Time, sample.Spec, sample.Part, clock.UtcNow, o.PointsKept);
        if (step is { Started: not 0, Point: { } point } && chart.Limits is { } limits)
        {
            foreach (var kind in SpcRules.Kinds(step.Started))
            {
                var rule = SpcRules.Rule(kind);
                var note = string.Create(
                    CultureInfo.InvariantCulture,
                    $"Nelson rule {rule} ({SpcRules.Describe(rule)}) at point {point.Number} = {point.Value:G6}{(point.Part is { } part ? $" (part {part})" : "")}; centre {limits.Center:G6}, sigma {limits.Sigma:G4}, limits {limits.Lower:G6} to {limits.Upper:G6}");
                var report = new FaultReport($"{_key.Id}:{kind}:{point.Number}", _key.Machine, kind, new FaultEvidence(point.Time, _key.Characteristic, point.Value, 1, note));
                OutboxRules.Add(state.State.Outbox, $"quality:{kind}:{point.Number}", new QualityAlarmMessage(_key.Machine, _key.Characteristic, report), clock.UtcNow);
            }
        }

        state.State.Version++;
        await _commit!.CommitAsync();
        _outbox!.Kick();
    }

    public Task<CharacteristicSnapshot> GetAsync() =>
        Task.FromResult(state.State.Chart is null
            ? throw new TwinRuleException("characteristic.not-found", $"Nothing was measured of '{_key.Characteristic}' on machine '{_key.Machine}' yet.")
            : Snapshot());

    public async Task<CharacteristicSnapshot> RebaselineAsync(SpcSettings? settings, string? by, DateTimeOffset? from = null)
    {
        if (settings is not null)
        {
            SpcChart.Validate(settings);
        }

        if (state.State.Chart is null)
        {
            throw new TwinRuleException("characteristic.not-found", $"Nothing was measured of '{_key.Characteristic}' on machine '{_key.Machine}' yet; there is no chart to re-baseline.");
        }

        var o = options.Value;
        SpcChart.Rebaseline(state.State.Chart, settings, from ?? clock.UtcNow);
        state.State.RebaselinedAt = clock.UtcNow;
        state.State.RebaselinedBy = by;
        state.State.Version++;
        await _commit!.CommitAsync();
        return Snapshot();
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => _outbox!.OnReminderAsync(reminderName);

    private CharacteristicSnapshot Snapshot()
    {
        var chart = state.State.Chart!;
        return new CharacteristicSnapshot(
            _key.Factory,
            _key.Machine,
            _key.Characteristic,
            chart.Spec,
            chart.SubgroupSize,
            chart.BaselineSubgroups,
            chart.Limits is null ? "learning" : "monitoring",
            chart.Baseline.Count,
            chart.Limits,
            SpcChart.Capability(chart, chart.BaselineSubgroups),
            [.. chart.Points],
            chart.Readings,
            chart.OutOfSpec,
            SpcRules.Kinds(chart.Firing),
            state.State.Version,
            state.State.RebaselinedAt,
            state.State.RebaselinedBy,
            chart.From,
            chart.BeforeRebaseline);
    }
}
