using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Twin.Grains.Infrastructure;

/// <summary>What every twin's wake reminders share: their period and logging.</summary>
public sealed partial class WakeServices(IOptions<OutboxOptions> options, IReminderTable table, TimeProvider time, ILogger<WakeServices> logger)
{
    internal TimeSpan Period => options.Value.ReminderPeriod;

    /// <summary>The silo's reminder table, which holds the twins' wake rows (see <see cref="WakeTable"/>).</summary>
    internal IReminderTable Table => table;

    internal DateTime Now => time.GetUtcNow().UtcDateTime;

    [LoggerMessage(EventId = TwinEvents.WakeReminderFailed, Level = LogLevel.Warning, Message = "Twin {Twin} could not set or clear its {Reminder} reminder yet (tried again with the next write or tick)")]
    internal partial void LogReminderFailed(Exception exception, string twin, string reminder);

    [LoggerMessage(EventId = TwinEvents.WakeReminderCommitFailed, Level = LogLevel.Warning, Message = "Twin {Twin} could not save that its {Reminder} work is done; the reminder stays")]
    internal partial void LogCommitFailed(Exception exception, string twin, string reminder);
}

/// <summary>The work a <see cref="WakeReminder"/> brings its twin back for.</summary>
internal interface IWakeWork
{
    /// <summary>True while the twin's in-memory state holds work the reminder is for.</summary>
    bool Pending { get; }

    /// <summary>Does the pending work (a tick, or the twin's activation after one); must not throw.</summary>
    Task WakeAsync();
}

/// <summary>
/// The one way a twin makes sure it comes back for work it saved but has not finished (outbox
/// messages, a KPI report, readings for the history): a wake row in the reminder table (see
/// <see cref="WakeTable"/>; the <see cref="WakeSweeperGrain"/>s tick it once a period, as a
/// reminder of the twin's own would tick, without an Orleans reminder per twin in the silo's
/// memory) that exists whenever the stored state may hold such work. It is registered before the write that stores the work (the
/// <see cref="GroupCommit"/> awaits it), so a crash right after that write still brings the twin
/// back; once registered it is not asked for again in this activation, so a busy twin's writes
/// cost nothing more. Each tick calls <c>wake</c> to finish the work; a tick that then finds
/// nothing pending saves that (when the stored state may still say otherwise) and removes the
/// reminder once a whole period went by without new work (the outbox also removes it when a
/// delivery round leaves nothing to send). A busy twin keeps it: removed at every
/// tick that happened to find its work done and registered again by its next write, it put a
/// reminder-table write in front of that write, for every busy twin in the same second (their
/// reminders tick together), and held up the whole plant's live feed for up to a second a minute.
/// </summary>
/// <remarks>
/// Single-threaded use only (a grain's turns). Registrations and removals run one after another,
/// each deciding on what is pending when it runs, so a removal under way cannot undo the
/// registration for work that arrived meanwhile.
/// </remarks>
internal sealed class WakeReminder
{
    private readonly IGrainBase _owner;
    private readonly IWakeWork _work;
    private readonly GroupCommit _commit;
    private readonly WakeServices _services;
    private bool? _registered;
    private bool _stored;
    private bool _stopped;

    // Work was pending at a write since the last tick: the twin is busy, keep the reminder.
    private bool _busy;
    private Task _ops = Task.CompletedTask;

    /// <param name="name">The reminder's name, unique within the twin.</param>
    /// <param name="work">What the reminder is for (an interface rather than two delegates: every active twin holds one or two of these).</param>
    public WakeReminder(IGrainBase owner, string name, IWakeWork work, GroupCommit commit, WakeServices services)
    {
        _owner = owner;
        Name = name;
        _work = work;
        _commit = commit;
        _services = services;
        // As loaded: the stored state holds what the state holds now.
        _stored = work.Pending;
        commit.Add(this);
    }

    public string Name { get; }

    /// <summary>Writes no longer register it (a deactivating twin whose outbox is stopping); <see cref="SetAsync"/> still does.</summary>
    public void Stop() => _stopped = true;

    /// <summary>Awaited by the group commit right before each write. Never throws.</summary>
    internal Task BeforeWriteAsync()
    {
        var pending = _work.Pending;
        _stored = pending;
        _busy |= pending;
        return !pending || _stopped || _registered == true ? Task.CompletedTask : SetAsync(true);
    }

    /// <summary>
    /// Registers the reminder when <paramref name="wanted"/> and work is pending, or removes it when
    /// not wanted and nothing is pending, at the time the operation runs. Never throws.
    /// </summary>
    public Task SetAsync(bool wanted)
    {
        if (_ops.IsCompleted && _registered == wanted)
        {
            return Task.CompletedTask;
        }

        _ops = Next(_ops, wanted);
        return _ops;

        async Task Next(Task previous, bool set)
        {
            await previous;
            try
            {
                var pending = _work.Pending;
                var grain = _owner.GrainContext.GrainId;
                if (set && pending && _registered != true)
                {
                    await _services.Table.UpsertRow(new ReminderEntry { GrainId = grain, ReminderName = Name, StartAt = _services.Now, Period = WakeTable.WakePeriod });
                    _registered = true;
                }
                else if (!set && !pending && _registered != false)
                {
                    // Unknown while it goes: a write meanwhile asks for the registration again (queued after this).
                    _registered = null;
                    if (await _services.Table.ReadRow(grain, Name) is { } row)
                    {
                        if (WakeTable.IsWake(row))
                        {
                            await _services.Table.RemoveRow(grain, Name, row.ETag ?? "");
                        }
                        else if (await _owner.GetReminder(Name) is { } reminder)
                        {
                            // An Orleans reminder of this name, from a version before wake rows: Orleans removes it.
                            await _owner.UnregisterReminder(reminder);
                        }
                    }

                    _registered = false;
                }
            }
            catch (Exception ex)
            {
                _registered = null;
                _services.LogReminderFailed(ex, _owner.GrainContext.GrainId.ToString(), Name);
            }
        }
    }

    /// <summary>For the twin's <c>ReceiveReminder</c>: true when the tick was this reminder's. Never throws.</summary>
    public async Task<bool> OnReminderAsync(string name)
    {
        if (name != Name)
        {
            return false;
        }

        // A tick proves the reminder is there (a fresh activation did not know).
        _registered ??= true;
        var busy = _busy;
        _busy = false;
        if (_work.Pending)
        {
            await _work.WakeAsync();
        }

        if (_work.Pending)
        {
            return true;
        }

        if (_stored)
        {
            // Done in memory only: save that first, or the next activation would find the work again and no reminder.
            try
            {
                await _commit.CommitAsync();
            }
            catch (Exception ex)
            {
                _services.LogCommitFailed(ex, _owner.GrainContext.GrainId.ToString(), Name);
                return true;
            }
        }

        // Writes during the wake (it may wait for the history) count for this tick too.
        if (busy || _busy)
        {
            return true;
        }

        await SetAsync(false);
        return true;
    }
}
