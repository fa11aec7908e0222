using System.Collections.Immutable;
using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Twin.Bins;
using Twin.DeadLetters;
using Twin.Genealogy;
using Twin.Integration;
using Twin.Maintenance;
using Twin.Purchasing;
using Twin.Quality;
using Twin.Scheduling;
using Twin.WorkOrders;

namespace Twin.Grains.Infrastructure;

/// <summary>Delivers an event to the configured external targets; throws when any target did not take it.</summary>
public interface IOutboundDelivery
{
    /// <summary>True when there is at least one target; without targets events are delivered to nobody at once.</summary>
    bool HasTargets { get; }

    Task DeliverAsync(OutboundEvent outboundEvent, CancellationToken cancellationToken);
}

/// <summary>
/// Something a twin must hand to another twin or to an external system. Kept in the twin's
/// persisted outbox, written in the same state write as the change that produced it.
/// </summary>
[GenerateSerializer, Alias("twin.OutboxMessage")]
public abstract record OutboxMessage
{
    /// <summary>Where it goes, relative to the owning twin's factory: messages of one lane are delivered in order, and a lane that fails holds up only itself.</summary>
    public abstract string Lane { get; }
}

/// <summary>A fault report for the machine's ticket desk of that fault kind.</summary>
[GenerateSerializer, Immutable, Alias("twin.outbox.Fault")]
public sealed record FaultMessage([property: Id(0)] FaultReport Report) : OutboxMessage
{
    public override string Lane => $"ticket-desk:{Report.Kind}";
}

/// <summary>Parts counted by a machine for a work order.</summary>
[GenerateSerializer, Immutable, Alias("twin.outbox.Production")]
public sealed record ProductionMessage([property: Id(0)] string WorkOrder, [property: Id(1)] ProductionReport Report) : OutboxMessage
{
    public override string Lane => $"work-order:{WorkOrder}";
}

/// <summary>A stock notice for the bin's purchasing desk.</summary>
[GenerateSerializer, Immutable, Alias("twin.outbox.StockNotice")]
public sealed record StockNoticeMessage([property: Id(0)] StockNotice Notice) : OutboxMessage
{
    public override string Lane => "purchase-desk";
}

/// <summary>A stock movement another bin must apply (a transfer's arrival, a backflush issue).</summary>
[GenerateSerializer, Immutable, Alias("twin.outbox.Movement")]
public sealed record MovementMessage([property: Id(0)] string Bin, [property: Id(1)] StockMovement Movement) : OutboxMessage
{
    public override string Lane => $"bin:{Bin}";
}

/// <summary>A workflow event for the external targets (webhooks, MQTT).</summary>
[GenerateSerializer, Immutable, Alias("twin.outbox.External")]
public sealed record ExternalMessage([property: Id(0)] OutboundEvent Event) : OutboxMessage
{
    public override string Lane => "external";
}

/// <summary>A change the factory's planner must hear of (a machine down or up, an order changed, a predicted failure, a shortage).</summary>
[GenerateSerializer, Immutable, Alias("twin.outbox.Planning")]
public sealed record PlanningMessage([property: Id(0)] PlanningSignal Signal) : OutboxMessage
{
    public override string Lane => "planning";
}

/// <summary>An inspected part for the machine's inspection log.</summary>
[GenerateSerializer, Immutable, Alias("twin.outbox.Inspection")]
public sealed record InspectionMessage([property: Id(0)] InspectionRecord Record) : OutboxMessage
{
    public override string Lane => "inspection-log";
}

/// <summary>A measurement for its characteristic's control chart on the machine.</summary>
[GenerateSerializer, Immutable, Alias("twin.outbox.Spc")]
public sealed record SpcMessage([property: Id(0)] string Characteristic, [property: Id(1)] SpcSample Sample) : OutboxMessage
{
    public override string Lane => $"characteristic:{Characteristic}";
}

/// <summary>A Nelson rule that started firing on a characteristic, for its quality ticket desk.</summary>
[GenerateSerializer, Immutable, Alias("twin.outbox.QualityAlarm")]
public sealed record QualityAlarmMessage([property: Id(0)] string Machine, [property: Id(1)] string Characteristic, [property: Id(2)] FaultReport Report) : OutboxMessage
{
    public override string Lane => $"ticket-desk:{Report.Kind}";
}

/// <summary>A receipt of a lot into a bin, for the lot's index.</summary>
[GenerateSerializer, Immutable, Alias("twin.Lot.outbox.Receipt")]
public sealed record LotReceiptMessage([property: Id(0)] string Lot, [property: Id(1)] LotReceipt Receipt) : OutboxMessage
{
    public override string Lane => $"lot:{Lot}";
}

/// <summary>A work order that used a lot, for the lot's index.</summary>
[GenerateSerializer, Immutable, Alias("twin.Lot.outbox.Use")]
public sealed record LotUseMessage([property: Id(0)] string Lot, [property: Id(1)] LotUse Use) : OutboxMessage
{
    public override string Lane => $"lot:{Lot}";
}

/// <summary>An action (a ticket resolved, a setting changed, a re-plan) whose effect the factory is to verify.</summary>
[GenerateSerializer, Immutable, Alias("twin.ActionMessage")]
public sealed record ActionMessage([property: Id(0)] Twin.Effects.ActionRecord Action) : OutboxMessage
{
    public override string Lane => "effects";
}

/// <summary>A work order telling its product twin of itself (created, changed, status).</summary>
[GenerateSerializer, Immutable, Alias("twin.ProductOrderMessage")]
public sealed record ProductOrderMessage([property: Id(0)] string Product, [property: Id(1)] Twin.Products.ProductOrder Order) : OutboxMessage
{
    public override string Lane => $"product:{Product}";
}

/// <summary>One message waiting in an outbox, with its retry schedule.</summary>
[GenerateSerializer, Alias("twin.OutboxEntry")]
public sealed class OutboxEntry
{
    /// <summary>Unique within the outbox: adding an id that waits already changes nothing.</summary>
    [Id(0)] public required string Id { get; set; }
    [Id(1)] public required OutboxMessage Message { get; set; }
    [Id(2)] public DateTimeOffset Queued { get; set; }
    [Id(3)] public int Attempts { get; set; }
    [Id(4)] public DateTimeOffset NextAttempt { get; set; }
    [Id(5)] public string? LastError { get; set; }

    /// <summary>Being delivered right now (not saved): its message must not change.</summary>
    [NonSerialized]
    internal bool Sending;
}

/// <summary>An external event waiting for delivery as saved before the one outbox: moved into the outbox on load.</summary>
[GenerateSerializer, Alias("twin.PendingEvent")]
public sealed class PendingEvent
{
    [Id(0)] public required OutboundEvent Event { get; set; }
    [Id(1)] public int Attempts { get; set; }
    [Id(2)] public DateTimeOffset NextAttempt { get; set; }
    [Id(3)] public string? LastError { get; set; }
}

/// <summary>Settings of every twin's outbox (<c>Twin:Outbox</c>).</summary>
public sealed class OutboxOptions : ITwinOptions, IValidatableObject
{
    public const string Section = "Twin:Outbox";

    static string ITwinOptions.Section => Section;

    /// <summary>
    /// Most messages one twin keeps waiting. Past it the oldest are parked: moved to the factory's
    /// dead letters (reason <c>outbox.full</c>) and counted in <c>twin_outbox_parked_total</c>, never dropped unseen.
    /// </summary>
    [SettingRange(10, 1_000_000)]
    public int MaxEntries { get; set; } = 1000;

    /// <summary>Wait before the first retry of a failed delivery; it doubles with each failure.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00.1", "01:00:00")]
    public TimeSpan FirstRetry { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Longest wait between retries of one message.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00.1", "1.00:00:00")]
    public TimeSpan MaxRetryInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Period of the reminders that bring a twin back, after a deactivation or a restart, for work it
    /// saved but had not finished: its outbox, a KPI report, readings for the history. The silo lowers
    /// Orleans' minimum reminder period to it when it is shorter.
    /// </summary>
    [SettingRange(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan ReminderPeriod { get; set; } = TimeSpan.FromMinutes(1);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (MaxRetryInterval < FirstRetry)
        {
            yield return new ValidationResult($"{Section}:MaxRetryInterval ({MaxRetryInterval}) must be at least {Section}:FirstRetry ({FirstRetry}).");
        }
    }
}

[OptionsValidator]
public sealed partial class OutboxOptionsValidator : IValidateOptions<OutboxOptions>;

/// <summary>The pure rules of an outbox list: what may be added, what is due, how long to wait.</summary>
public static class OutboxRules
{
    /// <summary>Queues a message; false when a message with that id waits already.</summary>
    public static bool Add(List<OutboxEntry> entries, string id, OutboxMessage message, DateTimeOffset now)
    {
        if (entries.Exists(e => e.Id == id))
        {
            return false;
        }

        entries.Add(new OutboxEntry { Id = id, Message = message, Queued = now, NextAttempt = DateTimeOffset.MinValue });
        return true;
    }

    /// <summary>
    /// The entries to try now, in queue order: per lane only the oldest entries up to the first
    /// that is not yet due, so a lane's messages arrive in the order they were queued.
    /// </summary>
    public static List<OutboxEntry> Due(List<OutboxEntry> entries, DateTimeOffset now)
    {
        var held = new HashSet<string>(StringComparer.Ordinal);
        var due = new List<OutboxEntry>();
        foreach (var entry in entries)
        {
            var lane = entry.Message.Lane;
            if (held.Contains(lane))
            {
                continue;
            }

            if (entry.NextAttempt > now)
            {
                held.Add(lane);
                continue;
            }

            due.Add(entry);
        }

        return due;
    }

    /// <summary>Records a failed attempt: the wait doubles from <see cref="OutboxOptions.FirstRetry"/> up to <see cref="OutboxOptions.MaxRetryInterval"/>.</summary>
    public static void Failed(OutboxEntry entry, string error, DateTimeOffset now, OutboxOptions options)
    {
        entry.Attempts++;
        entry.LastError = error.Length > 300 ? error[..300] : error;
        var wait = options.FirstRetry * Math.Pow(2, Math.Min(entry.Attempts - 1, 20));
        entry.NextAttempt = now + (wait > options.MaxRetryInterval ? options.MaxRetryInterval : wait);
    }

    /// <summary>The oldest entries past <paramref name="max"/>, to park.</summary>
    public static List<OutboxEntry> Overflow(List<OutboxEntry> entries, int max) =>
        entries.Count > max ? entries.GetRange(0, entries.Count - max) : [];

    /// <summary>Queues an external event; false when it waits already.</summary>
    public static bool AddEvent(List<OutboxEntry> entries, OutboundEvent outboundEvent) =>
        Add(entries, outboundEvent.Id, new ExternalMessage(outboundEvent), outboundEvent.At);

    /// <summary>Moves external events saved before the one outbox into <paramref name="entries"/>, ahead of what is there; true when any moved.</summary>
    public static bool Upgrade(List<PendingEvent> earlier, List<OutboxEntry> entries)
    {
        if (earlier.Count == 0)
        {
            return false;
        }

        var moved = new List<OutboxEntry>();
        foreach (var pending in earlier)
        {
            AddEvent(moved, pending.Event);
        }

        Prepend(entries, moved);
        earlier.Clear();
        return true;
    }

    /// <summary>Puts <paramref name="earlier"/> (saved before the one outbox) ahead of what waits, leaving out ids that wait already.</summary>
    public static void Prepend(List<OutboxEntry> entries, List<OutboxEntry> earlier) =>
        entries.InsertRange(0, earlier.Where(m => !entries.Exists(e => e.Id == m.Id)));

    /// <summary>The earliest time any entry is due.</summary>
    public static DateTimeOffset? NextDue(List<OutboxEntry> entries) =>
        entries.Count == 0 ? null : entries.Min(e => e.NextAttempt);
}

/// <summary>Delivers outbox messages: to the twin they name, or to the external targets.</summary>
public sealed class OutboxDelivery(IGrainFactory grains, IOutboundDelivery external)
{
    /// <summary>
    /// Delivers <paramref name="message"/> for the twin <paramref name="owner"/> of <paramref name="factory"/>.
    /// Null when it was taken; a reason when it was refused for good (retrying cannot help);
    /// throws when the outcome is unknown (retried: every receiver is idempotent by id).
    /// </summary>
    public async Task<string?> DeliverAsync(string factory, string owner, OutboxMessage message) =>
        (await DeliverWithAnswerAsync(factory, owner, message)).Refused;

    /// <summary>
    /// <see cref="DeliverAsync"/>, with what the receiver answered when the sender may want to
    /// record it (a bin's <see cref="LotMovementResult"/> for a movement; null for the others).
    /// </summary>
    public async Task<(string? Refused, object? Answer)> DeliverWithAnswerAsync(string factory, string owner, OutboxMessage message)
    {
        if (message is MovementMessage movement)
        {
            var traced = await grains.GetGrain<IStockBinGrain>(TwinKey.Compose(factory, movement.Bin)).ApplyTracedMovementAsync(movement.Movement);
            return traced.Result.Outcome == MovementOutcome.Refused ? (traced.Result.Reason ?? "stock.refused: the bin gave no reason", null) : (null, traced);
        }

        return (await DeliverOtherAsync(factory, owner, message), null);
    }

    private async Task<string?> DeliverOtherAsync(string factory, string owner, OutboxMessage message)
    {
        switch (message)
        {
            case FaultMessage fault:
                await grains.GetGrain<IMaintenanceTicketGrain>(new TicketDeskKey(factory, owner, fault.Report.Kind).GrainKey).ReportAsync(fault.Report with { Machine = owner });
                return null;
            case ProductionMessage production:
                try
                {
                    await grains.GetGrain<IWorkOrderGrain>(TwinKey.Compose(factory, production.WorkOrder))
                        .RecordProductionAsync(production.Report with { ReportId = $"{owner}:{production.Report.ReportId}", Machine = owner });
                    return null;
                }
                catch (TwinRuleException rule) when (rule.IsNotFound)
                {
                    return $"workorder.not-found: machine {owner} counted parts for work order {production.WorkOrder}, which does not exist";
                }

            case InspectionMessage inspection:
                await grains.GetGrain<IInspectionLogGrain>(TwinKey.Compose(factory, owner)).RecordAsync(inspection.Record with { Machine = owner });
                return null;
            case SpcMessage spc:
                await grains.GetGrain<ICharacteristicGrain>(new CharacteristicKey(factory, owner, spc.Characteristic).GrainKey).RecordAsync(spc.Sample);
                return null;
            case QualityAlarmMessage alarm:
                await grains.GetGrain<IMaintenanceTicketGrain>(new TicketDeskKey(factory, alarm.Machine, alarm.Report.Kind, alarm.Characteristic).GrainKey).ReportAsync(alarm.Report with { Machine = alarm.Machine });
                return null;
            case StockNoticeMessage notice:
                await grains.GetGrain<IPurchaseRequestGrain>(TwinKey.Compose(factory, owner)).NoticeAsync(notice.Notice);
                return null;
            case LotReceiptMessage receipt:
                await grains.GetGrain<ILotGrain>(TwinKey.Compose(factory, receipt.Lot)).RecordReceiptAsync(receipt.Receipt);
                return null;
            case LotUseMessage use:
                await grains.GetGrain<ILotGrain>(TwinKey.Compose(factory, use.Lot)).RecordUseAsync(use.Use);
                return null;
            case PlanningMessage planning:
                var signal = planning.Signal.Subject.Length == 0 ? planning.Signal with { Subject = owner } : planning.Signal;
                await grains.GetGrain<IPlanningGrain>(factory).SignalAsync(signal);
                return null;
            case ActionMessage action:
                await grains.GetGrain<Twin.Effects.IActionEffectGrain>(factory).TrackAsync(action.Action);
                return null;
            case ProductOrderMessage product:
                await grains.GetGrain<Twin.Products.IProductGrain>(TwinKey.Compose(factory, product.Product)).TrackOrderAsync(product.Order with { WorkOrder = owner });
                return null;
            case ExternalMessage outbound:
                if (external.HasTargets)
                {
                    await external.DeliverAsync(outbound.Event, CancellationToken.None);
                }

                return null;
            default:
                return $"outbox.unknown: no delivery for {message.GetType().Name}";
        }
    }
}

/// <summary>What every twin's outbox shares: delivery, settings, clock, metrics, logging.</summary>
/// <remarks>Retries run on processing time (<see cref="TimeProvider"/>), never on the twins' event time.</remarks>
public sealed partial class OutboxServices(
    IGrainFactory grains,
    OutboxDelivery delivery,
    IOptions<OutboxOptions> options,
    TimeProvider clock,
    TwinMetrics metrics,
    WakeServices wake,
    ILogger<OutboxServices> logger)
{
    internal WakeServices Wake => wake;

    internal IGrainFactory Grains => grains;

    internal OutboxDelivery Delivery => delivery;

    internal OutboxOptions Options => options.Value;

    internal TimeProvider Clock => clock;

    internal TwinMetrics Metrics => metrics;

    internal ILogger Logger => logger;

    [LoggerMessage(EventId = TwinEvents.OutboxDeliveryFailed, Level = LogLevel.Warning, Message = "Twin {Twin} could not deliver {Message} to {Lane} yet (attempt {Attempts}; retried)")]
    internal partial void LogFailed(Exception exception, string twin, string message, string lane, int attempts);

    [LoggerMessage(EventId = TwinEvents.OutboxParked, Level = LogLevel.Error, Message = "Twin {Twin} parked {Message} for {Lane} as a dead letter: {Reason}")]
    internal partial void LogParked(string twin, string message, string lane, string reason);

    [LoggerMessage(EventId = TwinEvents.OutboxParkFailed, Level = LogLevel.Warning, Message = "Twin {Twin} could not park {Count} outbox messages as dead letters yet (kept; retried)")]
    internal partial void LogParkFailed(Exception exception, string twin, int count);

    [LoggerMessage(EventId = TwinEvents.OutboxCommitFailed, Level = LogLevel.Warning, Message = "Twin {Twin} could not save its outbox after delivering (the twin reloads; receivers drop the repeats)")]
    internal partial void LogCommitFailed(Exception exception, string twin);
}

/// <summary>
/// The one outbox of a twin: a persisted, ordered list of messages (in the twin's own state),
/// delivered after the write that queued them and retried until taken — by a grain timer while
/// the twin is active, by a reminder ("outbox") across deactivation and restarts. Every receiver
/// is idempotent by id, so a delivery repeated after a crash is harmless. A message refused for
/// good is handed to the twin's <c>refused</c> rule, or else parked; past
/// <see cref="OutboxOptions.MaxEntries"/> the oldest are parked. Parked means written to the
/// factory's dead letters and counted: nothing leaves an outbox unseen.
/// </summary>
/// <remarks>One flush at a time; state is changed only between awaits, as every grain turn does.</remarks>
internal sealed class Outbox : IWakeWork
{
    public const string Reminder = "outbox";

    private readonly IOutboxOwner _owner;
    private readonly GroupCommit _commit;
    private readonly OutboxServices _services;
    private readonly Func<OutboxEntry, string, bool>? _refused;
    private readonly Func<OutboxEntry, object?, bool>? _taken;
    private readonly WakeReminder _reminder;
    private Task _running = Task.CompletedTask;
    private bool _again;
    private IGrainTimer? _timer;
    private bool _stopped;

    /// <param name="refused">Handles a message refused for good (true: handled, drop it); otherwise it is parked.</param>
    /// <param name="taken">
    /// Sees each message taken with the receiver's answer, before it leaves the outbox, to record it in
    /// the same write (true: it queued more messages, delivered in the same flush).
    /// </param>
    public Outbox(IOutboxOwner owner, GroupCommit commit, OutboxServices services, Func<OutboxEntry, string, bool>? refused = null, Func<OutboxEntry, object?, bool>? taken = null)
    {
        _taken = taken;
        _owner = owner;
        _commit = commit;
        _services = services;
        _refused = refused;
        // The reminder must exist before the write that leaves a message in the outbox: a crash
        // right after that write would otherwise leave the message where no activation looks for it.
        _reminder = new WakeReminder(owner, Reminder, this, commit, services.Wake);
    }

    bool IWakeWork.Pending => _owner.Outbox.Count > 0;

    Task IWakeWork.WakeAsync() => DeliverAsync();

    // Names for deliveries and logs, built when needed: every active twin holds an outbox, most of them empty.
    private string TwinName => _owner.GrainContext.GrainId.ToString();

    /// <summary>A twin's key is {factory}/{id}; a factory-wide grain (the planner) is keyed by its factory alone.</summary>
    private (string Factory, string Id) Key()
    {
        var key = _owner.GrainContext.GrainId.Key.ToString()!;
        return key.Contains('/', StringComparison.Ordinal) ? TwinKey.Split(key) : (key, key);
    }

    /// <summary>Delivers in the background what is due (after a commit). Never throws, never waits.</summary>
    public void Kick()
    {
        if (!_stopped && _owner.Outbox.Count > 0)
        {
            _ = DeliverAsync();
        }
    }

    /// <summary>Delivers what is due now; completes when this round is done. Never throws.</summary>
    public Task DeliverAsync()
    {
        if (_stopped)
        {
            return _running;
        }

        if (!_running.IsCompleted)
        {
            _again = true;
            return _running;
        }

        _running = RunAsync();
        return _running;
    }

    /// <summary>For deactivation: starts no new round and completes when the running one is done. Never throws.</summary>
    public Task StopAsync()
    {
        _stopped = true;
        _again = false;
        _reminder.Stop();
        _timer?.Dispose();
        _timer = null;
        return _running;
    }

    /// <summary>For the twin's <c>ReceiveReminder</c>: true when the reminder was the outbox's.</summary>
    public Task<bool> OnReminderAsync(string name) => _reminder.OnReminderAsync(name);

    private async Task RunAsync()
    {
        // A message queued while the round schedules (its reminder calls await) sets _again too:
        // go round once more, or it would wait for the twin's next change.
        do
        {
            do
            {
                _again = false;
                try
                {
                    await RoundAsync();
                }
                catch (Exception ex)
                {
                    // A bug or a failed write: the entries are still in the state; the timer or reminder retries.
                    _services.LogCommitFailed(ex, TwinName);
                }
            }
            while (_again);

            try
            {
                await ScheduleAsync();
            }
            catch (Exception ex)
            {
                _services.LogCommitFailed(ex, TwinName);
            }
        }
        while (_again && !_stopped);
    }

    private async Task RoundAsync()
    {
        var entries = _owner.Outbox;
        if (entries.Count == 0)
        {
            return;
        }

        var options = _services.Options;
        var now = _services.Clock.GetUtcNow();
        var (factory, id) = Key();
        var changed = false;
        var park = new List<(OutboxEntry Entry, string Reason)>();
        foreach (var entry in OutboxRules.Due(entries, now))
        {
            string? refused;
            object? answer;
            entry.Sending = true;
            try
            {
                (refused, answer) = await _services.Delivery.DeliverWithAnswerAsync(factory, id, entry.Message);
            }
            catch (Exception ex)
            {
                entry.Sending = false;
                OutboxRules.Failed(entry, $"{ex.GetType().Name}: {ex.Message}", now, options);
                _services.LogFailed(ex, TwinName, entry.Id, entry.Message.Lane, entry.Attempts);
                changed = true;
                continue;
            }

            entry.Sending = false;
            if (refused is not null && _refused?.Invoke(entry, refused) != true)
            {
                park.Add((entry, $"outbox.refused: {refused}"));
                continue;
            }

            if (refused is null && _taken?.Invoke(entry, answer) == true)
            {
                _again = true;
            }

            entries.Remove(entry);
            changed = true;
        }

        foreach (var entry in OutboxRules.Overflow(entries, options.MaxEntries))
        {
            if (!park.Exists(p => p.Entry == entry))
            {
                park.Add((entry, $"outbox.full: more than {options.MaxEntries} messages waiting; {entry.Message.Lane} has not taken this one since {entry.Queued:O} ({entry.Attempts} attempts, last error: {entry.LastError ?? "none"})"));
            }
        }

        if (park.Count > 0 && await ParkAsync(park, now))
        {
            foreach (var (entry, _) in park)
            {
                entries.Remove(entry);
            }

            changed = true;
        }

        if (changed)
        {
            await _commit.CommitAsync();
        }
    }

    private async Task<bool> ParkAsync(List<(OutboxEntry Entry, string Reason)> park, DateTimeOffset now)
    {
        var letters = park.Select(p => new DeadLetter(
            now,
            "outbox",
            $"{TwinName} -> {p.Entry.Message.Lane}",
            p.Reason,
            JsonSerializer.Serialize(p.Entry.Message, p.Entry.Message.GetType())).Bounded()).ToImmutableArray();
        try
        {
            await _services.Grains.GetGrain<IDeadLetterGrain>(Key().Factory).RecordAsync(letters);
        }
        catch (Exception ex)
        {
            _services.LogParkFailed(ex, TwinName, park.Count);
            return false;
        }

        foreach (var (entry, reason) in park)
        {
            _services.Metrics.OutboxParked(DeadLetter.ReasonCodeOf(reason));
            _services.LogParked(TwinName, entry.Id, entry.Message.Lane, reason);
        }

        return true;
    }

    /// <summary>While anything waits: a timer for the next due entry (active twin) and the reminder (across deactivation). Neither when empty.</summary>
    private async Task ScheduleAsync()
    {
        _timer?.Dispose();
        _timer = null;
        var entries = _owner.Outbox;
        if (OutboxRules.NextDue(entries) is { } next)
        {
            var wait = next - _services.Clock.GetUtcNow();
            var due = wait < TimeSpan.FromMilliseconds(100) ? TimeSpan.FromMilliseconds(100) : wait;
            // A deactivating twin keeps only the reminder: the next activation takes over.
            _timer = _stopped ? null : _owner.RegisterGrainTimer(_ => DeliverAsync(), new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan) { Interleave = true });
            await _reminder.SetAsync(true);
        }
        else
        {
            await _reminder.SetAsync(false);
        }
    }
}

/// <summary>A grain with an <see cref="Outbox"/>: where its persisted entries are (read on each use, as the state object is replaced when it is read again).</summary>
internal interface IOutboxOwner : IGrainBase
{
    List<OutboxEntry> Outbox { get; }
}
