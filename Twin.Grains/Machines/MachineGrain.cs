using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Twin.Factories;
using Twin.Grains.Domain;
using Twin.Grains.Infrastructure;
using Twin.Machines;
using Orleans.Utilities;
using Twin.Live;
using Twin.Maintenance;
using Twin.WorkOrders;

namespace Twin.Grains.Machines;

/// <summary>
/// The machine twin. Reentrant so that concurrent ingest calls interleave while a write is in
/// flight and are group-committed; every turn mutates state synchronously, so interleaving at
/// awaits never sees a half-applied message.
/// </summary>
[Reentrant]
public sealed partial class MachineGrain(
    [PersistentState("machine", TwinStorage.Name)] IPersistentState<MachineState> state,
    IOptions<MachineTwinOptions> options,
    TwinClock clock,
    TwinMetrics metrics,
    IHistorySink history,
    ILogger<MachineGrain> logger) : Grain, IMachineGrain
{
    private readonly MachineTwinOptions _options = options.Value;
    private GroupCommit? _commit;
    private bool _flushing;
    private ObserverManager<ITwinObserver>? _observers;
    private IGrainTimer? _notifyTimer;
    private long _notifiedVersion;
    private long _notifiedAt = long.MinValue / 2;
    private string _factory = "";
    private string _id = "";

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_factory, _id) = TwinKey.Split(this.GetPrimaryKeyString());
        _commit = new GroupCommit(state, this);
        var period = _options.OfflineAfter / 2;
        this.RegisterGrainTimer(CheckHeartbeatAsync, period, period);
        metrics.Activated("machine");
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.Deactivated("machine");
        if (_commit is not null)
        {
            await _commit.DrainAsync();
        }
    }

    public async Task<IngestResult> IngestAsync(ImmutableArray<MachineMessage> messages)
    {
        var commit = _commit!;
        if (commit.Fault is not null)
        {
            await commit.WhenDurableAsync();
        }

        if (!state.State.Registered && !messages.IsDefaultOrEmpty)
        {
            // Listed in the factory directory before anything is applied: if this call fails,
            // nothing in memory has changed and the retry starts clean.
            await GrainFactory.GetGrain<IFactoryGrain>(_factory).RegisterAsync(TwinKind.Machine, _id);
            state.State.Registered = true;
        }

        // From here to the commit every step is synchronous: no await can interleave a half-applied batch.
        int applied = 0, late = 0, duplicates = 0, tooOld = 0;
        ImmutableArray<RejectedMessage>.Builder? rejected = null;
        var points = new List<HistoryPoint>();
        var departed = false;
        foreach (var message in messages)
        {
            switch (MachineRules.Apply(state.State, message, _options, points, out var reason))
            {
                case SequenceVerdict.Rejected:
                    (rejected ??= ImmutableArray.CreateBuilder<RejectedMessage>()).Add(new RejectedMessage(message.Seq, message.Source, reason!));
                    break;
                case SequenceVerdict.New:
                case SequenceVerdict.Restart:
                    applied++;
                    departed = message is OfflineMessage;
                    break;
                case SequenceVerdict.Late:
                    late++;
                    break;
                case SequenceVerdict.Duplicate:
                    duplicates++;
                    break;
                default:
                    tooOld++;
                    break;
            }
        }

        // A batch whose newest message is the device's death leaves it offline.
        var cameBack = false;
        if (departed)
        {
            MachineRules.Departed(state.State, clock.UtcNow);
        }
        else
        {
            cameBack = MachineRules.Heard(state.State, clock.UtcNow);
        }

        if (applied + late > 0 || cameBack)
        {
            await commit.CommitAsync();
            if (points.Count > 0)
            {
                history.Append(this.GetPrimaryKeyString(), points);
            }

            ScheduleNotify();
            if (state.State.Outbox.Count > 0 || state.State.ProductionOutbox.Count > 0)
            {
                _ = FlushOutboxAsync();
            }
        }
        else
        {
            // Nothing new, but a duplicate must not be acknowledged before its original is durable.
            await commit.WhenDurableAsync();
        }

        return new IngestResult(applied, late, duplicates, tooOld, state.State.Version, rejected?.ToImmutable() ?? []);
    }

    public Task SubscribeAsync(ITwinObserver observer)
    {
        // Created on the first subscriber: most twins are never watched.
        _observers ??= new ObserverManager<ITwinObserver>(TimeSpan.FromMinutes(1), logger);
        _observers.Subscribe(observer, observer);
        return Task.CompletedTask;
    }

    public Task UnsubscribeAsync(ITwinObserver observer)
    {
        _observers?.Unsubscribe(observer);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Pushes the new state to observers as soon as it is durable, but at most once per
    /// <see cref="NotifyInterval"/>: a change after a quiet spell goes out at once, while a hot
    /// twin sends its latest state ten times a second, not once per reading. Only durable state is pushed.
    /// </summary>
    private void ScheduleNotify()
    {
        if (_observers is not { Count: > 0 } || _notifyTimer is not null)
        {
            return;
        }

        var wait = _notifiedAt + (long)NotifyInterval.TotalMilliseconds - Environment.TickCount64;
        if (wait <= 0)
        {
            Notify();
            return;
        }

        _notifyTimer = this.RegisterGrainTimer(NotifyAsync, TimeSpan.FromMilliseconds(wait), Timeout.InfiniteTimeSpan);
    }

    private static readonly TimeSpan NotifyInterval = TimeSpan.FromMilliseconds(100);

    private Task NotifyAsync(CancellationToken cancellationToken)
    {
        _notifyTimer?.Dispose();
        _notifyTimer = null;
        Notify();
        return Task.CompletedTask;
    }

    private void Notify()
    {
        if (state.State.Version != _notifiedVersion && _observers is { Count: > 0 })
        {
            _notifiedVersion = state.State.Version;
            _notifiedAt = Environment.TickCount64;
            var change = new TwinChange($"machine:{_factory}/{_id}", state.State.Version, MachineRules.ToSnapshot(_factory, _id, state.State, clock.UtcNow, _options));
            _observers.Notify(o => o.OnChangedAsync(change));
        }
    }

    public async Task<MachineSnapshot> DefineAsync(MachineDefinition definition)
    {
        if (!state.State.Registered)
        {
            await GrainFactory.GetGrain<IFactoryGrain>(_factory).RegisterAsync(TwinKind.Machine, _id);
            state.State.Registered = true;
        }

        state.State.Definition = definition;
        state.State.Version++;
        await _commit!.CommitAsync();
        ScheduleNotify();
        return MachineRules.ToSnapshot(_factory, _id, state.State, clock.UtcNow, _options);
    }

    public Task<MachineSnapshot> GetSnapshotAsync() =>
        Task.FromResult(MachineRules.ToSnapshot(_factory, _id, state.State, clock.UtcNow, _options));

    public Task<MachineOee> GetOeeAsync() =>
        Task.FromResult(MachineRules.ToOee(_factory, _id, state.State, clock.UtcNow, _options));

    public Task<MachineSummary> GetSummaryAsync() =>
        Task.FromResult(MachineRules.ToSummary(_id, state.State, clock.UtcNow, _options));

    public Task<bool> ExistsAsync() => Task.FromResult(state.RecordExists || state.State.Version > 0);

    public Task JoinLineAsync(string line)
    {
        if (state.State.Line is { } current && current != line)
        {
            throw new TwinRuleException("line.machine-in-other-line", $"'{_id}' belongs to line '{current}'");
        }

        return SetLineAsync(line);
    }

    public Task LeaveLineAsync(string line) => state.State.Line == line ? SetLineAsync(null) : Task.CompletedTask;

    private async Task SetLineAsync(string? line)
    {
        if (state.State.Line == line)
        {
            return;
        }

        if (!state.State.Registered)
        {
            await GrainFactory.GetGrain<IFactoryGrain>(_factory).RegisterAsync(TwinKind.Machine, _id);
            state.State.Registered = true;
        }

        state.State.Line = line;
        state.State.Version++;
        await _commit!.CommitAsync();
        ScheduleNotify();
    }

    private async Task CheckHeartbeatAsync(CancellationToken cancellationToken)
    {
        var now = clock.UtcNow;
        var changed = false;
        if (MachineRules.CheckHeartbeat(state.State, now, _options))
        {
            LogOffline(_factory, _id, state.State.LastSeen);
            changed = true;
        }
        else if (MachineRules.EffectiveStatus(state.State, now, _options) != MachineStatus.Offline)
        {
            // A single sensor gone quiet while the machine still talks is its own fault.
            changed = MachineRules.CheckMissingSignals(state.State, now, _options);
        }

        if (changed)
        {
            await _commit!.CommitAsync();
            ScheduleNotify();
        }

        if (state.State.Outbox.Count > 0 || state.State.ProductionOutbox.Count > 0)
        {
            await FlushOutboxAsync();
        }
    }

    /// <summary>
    /// Delivers queued fault reports to their ticket desks, oldest first. A report leaves the
    /// outbox only once its desk has taken it; the desk ignores a report id it has seen, so
    /// sending again after a crash is harmless. Failures stay queued for the next tick.
    /// </summary>
    private async Task FlushOutboxAsync()
    {
        if (_flushing)
        {
            return;
        }

        _flushing = true;
        try
        {
            while (state.State.ProductionOutbox.Count > 0)
            {
                var production = state.State.ProductionOutbox[0];
                var order = GrainFactory.GetGrain<IWorkOrderGrain>(TwinKey.Compose(_factory, state.State.ProductionOutboxOrders[0]));
                try
                {
                    await order.RecordProductionAsync(production with { ReportId = $"{_id}:{production.ReportId}", Machine = _id });
                }
                catch (TwinRuleException rule) when (rule.IsNotFound)
                {
                    // Parts for an order nobody created: counted on the machine, not sent again.
                    LogUnknownOrder(_factory, _id, state.State.ProductionOutboxOrders[0]);
                }

                if (state.State.ProductionOutbox.Count > 0 && state.State.ProductionOutbox[0].ReportId == production.ReportId)
                {
                    state.State.ProductionOutbox.RemoveAt(0);
                    state.State.ProductionOutboxOrders.RemoveAt(0);
                }
            }

            while (state.State.Outbox.Count > 0)
            {
                var report = state.State.Outbox[0];
                var desk = GrainFactory.GetGrain<IMaintenanceTicketGrain>($"{_factory}/{_id}.{report.Kind}");
                await desk.ReportAsync(report with { Machine = _id });
                if (state.State.Outbox.Count > 0 && state.State.Outbox[0].ReportId == report.ReportId)
                {
                    state.State.Outbox.RemoveAt(0);
                }
            }

            await _commit!.CommitAsync();
        }
        catch (Exception ex)
        {
            LogOutboxFailed(ex, _factory, _id, state.State.Outbox.Count);
        }
        finally
        {
            _flushing = false;
        }
    }

    [LoggerMessage(EventId = TwinEvents.MachineGrainUnknownOrder, Level = LogLevel.Warning, Message = "Machine {Factory}/{Machine} counted parts for work order {WorkOrder}, which does not exist")]
    private partial void LogUnknownOrder(string factory, string machine, string workOrder);

    [LoggerMessage(EventId = TwinEvents.MachineGrainOutboxFailed, Level = LogLevel.Warning, Message = "Machine {Factory}/{Machine} could not deliver {Count} fault reports yet")]
    private partial void LogOutboxFailed(Exception exception, string factory, string machine, int count);

    [LoggerMessage(EventId = TwinEvents.MachineGrainOffline, Level = LogLevel.Information, Message = "Machine {Factory}/{Machine} is offline: nothing heard since {LastSeen}")]
    private partial void LogOffline(string factory, string machine, DateTimeOffset? lastSeen);
}
