using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Twin.Factories;
using Twin.Grains.Infrastructure;
using Twin.Grains.Kpis;
using Twin.Kpis;
using Twin.Quality;

namespace Twin.Grains.Quality;

[GenerateSerializer, Alias("twin.InspectionLogState")]
public sealed class InspectionLogState : IRegisteredState
{
    [Id(0)] public bool Registered { get; set; }

    /// <summary>The latest inspected parts, in the order they arrived.</summary>
    [Id(1)] public List<InspectionRecord> Records { get; set; } = [];

    /// <summary>The machine's recent hours, for the factory's quality KPIs.</summary>
    [Id(2)] public List<QualityBucket> Hours { get; set; } = [];

    [Id(3)] public long Version { get; set; }

    /// <summary>The factory KPIs have not yet taken the latest change.</summary>
    [Id(4)] public bool KpiPending { get; set; }
}

/// <summary>
/// A machine's inspected parts: the latest records for root-cause analysis, and its hourly quality
/// counts, which it reports (as a versioned summary, like the ticket desks) to the factory KPIs.
/// </summary>
public sealed partial class InspectionLogGrain(
    [PersistentState("inspections", TwinStorage.Name)] IPersistentState<InspectionLogState> state,
    IOptions<QualityOptions> options,
    WakeServices wake,
    ILogger<InspectionLogGrain> logger) : Grain, IInspectionLogGrain, IRemindable
{
    // Parts come every few seconds per machine: the factory KPIs hear of them at most this often.
    private static readonly TimeSpan KpiInterval = TimeSpan.FromSeconds(2);

    private GroupCommit? _commit;
    private KpiFeed? _kpis;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _commit = new GroupCommit(state, this);
        _kpis = new KpiFeed(this, SendKpisAsync, ex => LogKpiFailed(ex, this.GetPrimaryKeyString()), KpiInterval);
        _kpis.Wake(() => state.State.KpiPending, _commit, wake);
        if (state.State.KpiPending)
        {
            _kpis.Kick();
        }

        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _commit?.CloseAsync(cancellationToken) ?? Task.CompletedTask;

    public Task ReceiveReminder(string reminderName, TickStatus status) => _kpis!.OnReminderAsync(reminderName);

    public async Task RecordAsync(InspectionRecord record)
    {
        if (state.State.Records.Exists(r => r.Id == record.Id))
        {
            await _commit!.WhenDurableAsync();
            return;
        }

        await this.RegisterOnceAsync(state.State, TwinKind.InspectionLog);
        state.State.Records.Add(record);
        var kept = options.Value.PartsKept;
        if (state.State.Records.Count > kept)
        {
            state.State.Records.RemoveRange(0, state.State.Records.Count - kept);
        }

        QualityLedger.Add(state.State.Hours, record);
        state.State.Version++;
        state.State.KpiPending = true;
        await _commit!.CommitAsync();
        _kpis!.Kick();
    }

    public Task<ImmutableArray<InspectionRecord>> ListAsync(DateTimeOffset from, DateTimeOffset to) =>
        Task.FromResult(state.State.Records.Where(r => r.Time >= from && r.Time < to).OrderBy(r => r.Time).ToImmutableArray());

    private async Task SendKpisAsync()
    {
        var (factory, machine) = TwinKey.Split(this.GetPrimaryKeyString());
        var version = state.State.Version;
        await GrainFactory.GetGrain<IFactoryKpiGrain>(factory).ReportQualityAsync(new QualityKpiReport(machine, version, [.. state.State.Hours]));
        if (state.State.Version == version)
        {
            state.State.KpiPending = false;
        }
    }

    [LoggerMessage(EventId = TwinEvents.InspectionLogGrainKpiFailed, Level = LogLevel.Warning, Message = "Inspection log {Log} could not report to the factory KPIs yet (retried)")]
    private partial void LogKpiFailed(Exception exception, string log);
}
