using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Twin.Factories;
using Twin.Grains.Domain;
using Twin.Grains.Infrastructure;
using Twin.Machines;
using Microsoft.Extensions.DependencyInjection;
using Twin.Grains.Live;
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
    OutboxServices outboxServices,
    HeartbeatWheel heartbeats,
    ILogger<MachineGrain> logger) : Grain, IMachineGrain, IRemindable, IWakeWork, IHeartbeat, IOutboxOwner
{
    List<OutboxEntry> IOutboxOwner.Outbox => state.State.Outbox;

    /// <summary>The reminder that brings the twin back for readings the history has not written.</summary>
    public const string HistoryReminder = "history";

    /// <summary>Longest a reminder tick waits for the history.</summary>
    private static readonly TimeSpan HistoryTickWait = TimeSpan.FromSeconds(30);

    private readonly MachineTwinOptions _options = options.Value;
    private GroupCommit? _commit;
    private Outbox? _outbox;
    private WakeReminder? _historyReminder;
    private LivePublisher? _live;
    private long _liveUntil = long.MinValue;
    private string _factory = "";
    private string _id = "";
    private Task _history = Task.CompletedTask;
    private int _historyRunning;
    private bool _deactivating;
    private bool _beating;

    // The offline moment as of the last check, for the heartbeat wheel, which reads it off this
    // activation's scheduler (grain state may only be touched on it).
    private long _checkDue = long.MaxValue;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_factory, _id) = TwinKey.Split(this.GetPrimaryKeyString());
        _commit = new GroupCommit(state, this);
        _outbox = new Outbox(this, _commit, outboxServices);
        _historyReminder = new WakeReminder(this, HistoryReminder, this, _commit, outboxServices.Wake);
        metrics.Activated("machine");
        if (MachineRules.Upgrade(state.State))
        {
            // Saved before the one outbox: deliver from the new place once that is durable.
            await _commit.CommitAsync();
        }

        _outbox.Kick();
        if (state.State.HistoryPending is { Count: > 0 } pending)
        {
            // Applied before the last deactivation or crash, not known to be written: hand over again.
            RecordHistory([.. pending]);
        }

        // Last: an activation that failed before this never joins.
        Volatile.Write(ref _checkDue, MachineRules.OfflineDue(state.State, _options));
        heartbeats.Join(this, _options.OfflineAfter / 2);
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.Deactivated("machine");
        _deactivating = true;
        if (_commit is not null)
        {
            await _commit.CloseAsync(cancellationToken, _outbox);
        }
    }

    public async Task<IngestResult> IngestAsync(ImmutableArray<MachineMessage> messages)
    {
        var commit = _commit!;
        if (commit.Fault is not null)
        {
            await commit.WhenDurableAsync();
        }

        if (state.State.HistoryPending?.Count > _options.MaxHistoryPending)
        {
            // The history is behind (its store is slow or down): take nothing more until it catches up.
            await _history;
        }

        if (!messages.IsDefaultOrEmpty)
        {
            await this.RegisterOnceAsync(state.State, TwinKind.Machine);
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
                    // Too old to tell from a duplicate: counted, and refused with its reason (a dead letter).
                    tooOld++;
                    (rejected ??= ImmutableArray.CreateBuilder<RejectedMessage>()).Add(new RejectedMessage(message.Seq, message.Source, reason!));
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
            if (points.Count > 0)
            {
                (state.State.HistoryPending ??= []).AddRange(points);
            }

            await commit.CommitAsync();
            if (points.Count > 0)
            {
                RecordHistory(points);
            }

            ScheduleNotify();
            _outbox!.Kick();
        }
        else
        {
            // Nothing new, but a duplicate must not be acknowledged before its original is durable.
            await commit.WhenDurableAsync();
        }

        return new IngestResult(applied, late, duplicates, tooOld, state.State.Version, rejected?.ToImmutable() ?? []);
    }

    /// <summary>
    /// Hands durable readings to the history in the background; once written they leave the pending
    /// list (persisted with the next write). A failure leaves them pending for the next activation.
    /// </summary>
    private void RecordHistory(List<HistoryPoint> points)
    {
        var previous = _history;
        _historyRunning++;
        var running = RecordHistoryAsync(previous, points);
        _history = running.IsCompleted ? Task.CompletedTask : running;
    }

    private async Task RecordHistoryAsync(Task previous, List<HistoryPoint> points)
    {
        try
        {
            // Handed over at once (the writer keeps the order); taken off the list in order.
            var append = history.AppendAsync(this.GetPrimaryKeyString(), points);
            await previous;
            try
            {
                await append;
            }
            catch (Exception ex)
            {
                LogHistoryFailed(ex, _factory, _id, points.Count);
                return;
            }

            if (_deactivating)
            {
                // This activation is going away: the state it would change is no longer its own. The
                // readings stay pending in storage and the next activation hands them over again.
                return;
            }

            try
            {
                HistoryRules.Written(state.State, points);
            }
            catch (InvalidOperationException)
            {
                // The activation was dropped meanwhile (its silo left the cluster): as above.
            }
        }
        finally
        {
            if (--_historyRunning == 0)
            {
                // Nothing left to wait for: let the finished task go (every active twin would keep one).
                _history = Task.CompletedTask;
            }
        }
    }

    public Task KeepLiveAsync()
    {
        _liveUntil = Environment.TickCount64 + (long)TwinTopic.LiveLease.TotalMilliseconds;
        return Task.CompletedTask;
    }

    /// <summary>
    /// Publishes the new durable state to the twin's stream while someone watches (throttled, never
    /// awaited; see <see cref="LivePublisher"/>). Unwatched, nothing is built or sent.
    /// </summary>
    private void ScheduleNotify()
    {
        if (Environment.TickCount64 < _liveUntil)
        {
            Live.Changed();
        }
    }

    private LivePublisher Live => _live ??= new LivePublisher(
        this,
        TwinTopic.Machine(_factory, _id),
        ServiceProvider.GetRequiredService<IOptions<LiveFeedOptions>>().Value,
        () => new TwinChange(TwinTopic.Machine(_factory, _id).ToString(), state.State.Version, MachineRules.ToSnapshot(_factory, _id, state.State, clock.UtcNow, _options)),
        logger);

    public async Task<bool> RecordInspectionAsync(string inspectionId, Twin.Quality.QualityMessage inspection)
    {
        await this.RegisterOnceAsync(state.State, TwinKind.Machine);
        if (!MachineRules.Inspect(state.State, $"mes:{inspectionId}", inspection, _options))
        {
            await _commit!.WhenDurableAsync();
            return false;
        }

        await _commit!.CommitAsync();
        ScheduleNotify();
        _outbox!.Kick();
        return true;
    }

    public async Task<MachineSnapshot> DefineAsync(MachineDefinition definition)
    {
        await this.RegisterOnceAsync(state.State, TwinKind.Machine);

        var previous = state.State.Definition;
        var calendarChanged = definition.Calendar != state.State.Definition?.Calendar;
        state.State.Definition = definition;
        state.State.Version++;
        if (calendarChanged)
        {
            // The planner lays its work out on the machine's shifts.
            var signal = new Twin.Scheduling.PlanningSignal($"calendar:{_id}:{state.State.Version}", Twin.Scheduling.PlanningSignalKind.MachineCalendar, "", clock.UtcNow, "shift calendar set", Calendar: definition.Calendar);
            OutboxRules.Add(state.State.Outbox, $"planning:{signal.Id}", new PlanningMessage(signal), clock.UtcNow);
        }

        // New master data is an action whose effect the factory verifies; only a machine that had
        // data before (not the first definition) has a "before" to compare with.
        if (previous is not null && !SameDefinition(previous, definition))
        {
            var action = new Twin.Effects.ActionRecord(
                $"settings:{_id}:{state.State.Version}", Twin.Effects.ActionKind.MachineSettingsChanged, _id, null, $"machine/{_id}", clock.UtcNow, null, "master data set");
            OutboxRules.Add(state.State.Outbox, $"effects:{action.Id}", new ActionMessage(action), clock.UtcNow);
        }

        await _commit!.CommitAsync();
        ScheduleNotify();
        _outbox!.Kick();
        return MachineRules.ToSnapshot(_factory, _id, state.State, clock.UtcNow, _options);
    }

    private static bool SameDefinition(MachineDefinition a, MachineDefinition b) =>
        a.Name == b.Name && a.IdealCycleTime == b.IdealCycleTime && SameCalendar(a.Calendar, b.Calendar)
        && a.Sensors.Count == b.Sensors.Count && a.Sensors.All(p => b.Sensors.TryGetValue(p.Key, out var other) && Equals(p.Value, other));

    private static bool SameCalendar(ShiftCalendar? a, ShiftCalendar? b) =>
        a is null || b is null ? a is null && b is null
        : a.UtcOffset == b.UtcOffset && a.Shifts.AsSpan().SequenceEqual(b.Shifts.AsSpan()) && a.Stops.AsSpan().SequenceEqual(b.Stops.AsSpan());

    /// <summary>The event time of the machine's newest message of any kind: status, telemetry, counts, inspections.</summary>
    private DateTimeOffset? HeardUntil(OeeLedger ledger, Twin.Grains.Effects.EffectWatch watch)
    {
        DateTimeOffset? latest = null;
        void Take(DateTimeOffset? t)
        {
            if (t is { } value && (latest is null || value > latest))
            {
                latest = value;
            }
        }

        Take(ledger.LastHeard);
        Take(state.State.RunStateTimestamp);
        Take(state.State.LastInspection);
        Take(state.State.CurrentWorkOrderTimestamp);
        Take(watch.CountedUntil);
        foreach (var (_, sensor) in state.State.Sensors)
        {
            Take(sensor.Timestamp);
        }

        return latest;
    }

    public async Task<Twin.Effects.EffectProbe> ProbeEffectAsync(string actionId, DateTimeOffset at, TimeSpan window, bool release)
    {
        var watches = state.State.EffectWatches ??= [];
        var existed = watches.Exists(w => w.Action == actionId);
        var watch = Twin.Grains.Effects.EffectRules.Watch(watches, actionId, at, at + window);
        if (release)
        {
            watches.Remove(watch);
        }

        if (release ? existed : !existed)
        {
            if (watches.Count == 0)
            {
                state.State.EffectWatches = null;
            }

            await _commit!.CommitAsync();
        }

        var ledger = state.State.Oee ?? new OeeLedger();
        var calendar = state.State.Definition?.Calendar;
        var ideal = state.State.Definition?.IdealCycleTime;
        OeeFigures Window(string name, DateTimeOffset from, DateTimeOffset to) =>
            OeeMath.Figures(name, from, to, ledger.Sum(from, to, _options.OfflineAfter), OeeMath.PlannedSeconds(calendar, from, to), ideal);
        return new Twin.Effects.EffectProbe(
            Window("before", at - window, at),
            Window("after", at, at + window),
            watch.Good,
            watch.Scrap,
            HeardUntil(ledger, watch),
            ideal,
            [.. state.State.Sensors.Keys.Order(StringComparer.Ordinal)],
            existed || !release);
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

        await this.RegisterOnceAsync(state.State, TwinKind.Machine);

        state.State.Line = line;
        state.State.Version++;
        await _commit!.CommitAsync();
        ScheduleNotify();
    }

    bool IHeartbeat.HeartbeatStopped => _deactivating;

    /// <summary>
    /// The moment the machine goes offline if nothing comes before, so that it is recorded then, not
    /// up to half a period later. Refreshed at every check: a message after it only moves the moment
    /// later (a check that finds it still online refreshes it), and a period's check always comes
    /// before a moment that is a whole offline time after the last message.
    /// </summary>
    long IHeartbeat.CheckDue => Volatile.Read(ref _checkDue);

    void IHeartbeat.Beat()
    {
        if (_beating || _deactivating)
        {
            // The previous check is still running (a slow write): as with a timer, ticks do not overlap.
            return;
        }

        _beating = true;
        _ = BeatAsync();
    }

    private async Task BeatAsync()
    {
        try
        {
            await CheckHeartbeatAsync();
        }
        catch (Exception ex)
        {
            LogHeartbeatFailed(ex, _factory, _id);
        }
        finally
        {
            _beating = false;
        }
    }

    private async Task CheckHeartbeatAsync()
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

        Volatile.Write(ref _checkDue, MachineRules.OfflineDue(state.State, _options));

        if (changed)
        {
            await _commit!.CommitAsync();
            ScheduleNotify();
            _outbox!.Kick();
        }
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (!await _outbox!.OnReminderAsync(reminderName))
        {
            await _historyReminder!.OnReminderAsync(reminderName);
        }
    }

    /// <summary>The history reminder's work: readings not yet known to be written.</summary>
    bool IWakeWork.Pending => state.State.HistoryPending is { Count: > 0 };

    /// <summary>A history reminder tick: hands over again what a failed append left pending, and waits (a while) for the history.</summary>
    async Task IWakeWork.WakeAsync()
    {
        if (_history.IsCompleted && state.State.HistoryPending is { Count: > 0 } pending)
        {
            RecordHistory([.. pending]);
        }

        try
        {
            await _history.WaitAsync(HistoryTickWait);
        }
        catch (TimeoutException)
        {
            // Still writing; the next tick looks again.
        }
    }

    [LoggerMessage(EventId = TwinEvents.MachineGrainHistoryFailed, Level = LogLevel.Warning, Message = "Machine {Factory}/{Machine}: {Count} readings are not yet in the history; they stay with the twin and are written again on its next activation")]
    private partial void LogHistoryFailed(Exception exception, string factory, string machine, int count);

    [LoggerMessage(EventId = TwinEvents.MachineGrainHeartbeatFailed, Level = LogLevel.Warning, Message = "Machine {Factory}/{Machine}: the heartbeat check failed; the next one tries again")]
    private partial void LogHeartbeatFailed(Exception exception, string factory, string machine);

    [LoggerMessage(EventId = TwinEvents.MachineGrainOffline, Level = LogLevel.Information, Message = "Machine {Factory}/{Machine} is offline: nothing heard since {LastSeen}")]
    private partial void LogOffline(string factory, string machine, DateTimeOffset? lastSeen);
}
