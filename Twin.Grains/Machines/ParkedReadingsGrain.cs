using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Twin.DeadLetters;
using Twin.Grains.Infrastructure;
using Twin.Machines;

namespace Twin.Grains.Machines;

[GenerateSerializer, Alias("twin.ParkedReadingsState")]
public sealed class ParkedReadingsState
{
    /// <summary>Readings not yet taken by the twin, in the order they were parked.</summary>
    [Id(0)] public List<MachineMessage> Waiting { get; set; } = [];
}

/// <summary>
/// Keeps readings a gateway parked and hands them to their machine twin, oldest first, in batches;
/// retried with backoff by a timer while active and by a reminder across restarts. What the twin
/// refuses becomes a dead letter, as it would have on the direct path.
/// </summary>
[Reentrant]
public sealed partial class ParkedReadingsGrain(
    [PersistentState("parked", TwinStorage.Name)] IPersistentState<ParkedReadingsState> state,
    TimeProvider time,
    ILogger<ParkedReadingsGrain> logger) : Grain, IParkedReadingsGrain, IRemindable
{
    private const string Reminder = "parked";
    private const int Batch = 512;
    private GroupCommit? _commit;
    private Task _delivering = Task.CompletedTask;
    private Task _reminderChange = Task.CompletedTask;
    private IGrainTimer? _retry;
    private int _failures;
    private bool _reminder;
    private string _machineKey = "";

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var key = this.GetPrimaryKeyString();
        _machineKey = key[..key.LastIndexOf('#')];
        _commit = new GroupCommit(state, this);
        Deliver();
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _commit?.CloseAsync(cancellationToken) ?? Task.CompletedTask;

    public async Task ParkAsync(ImmutableArray<MachineMessage> messages)
    {
        if (state.State.Waiting.Count + messages.Length > IParkedReadingsGrain.MaxWaiting)
        {
            throw new TwinRuleException("parking.full", $"{state.State.Waiting.Count} readings of {_machineKey} are waiting here already; try another slot.");
        }

        state.State.Waiting.AddRange(messages);
        await _commit!.CommitAsync();

        // Before the gateway acknowledges: the reminder brings this twin back for them after a restart.
        await ChangeReminderAsync(keep: true);
        Deliver();
    }

    public Task<int> WaitingAsync() => Task.FromResult(state.State.Waiting.Count);

    public Task ReceiveReminder(string reminderName, TickStatus status)
    {
        _reminder = true;
        Deliver();
        return Task.CompletedTask;
    }

    private void Deliver()
    {
        if (_delivering.IsCompleted && (state.State.Waiting.Count > 0 || _reminder))
        {
            _delivering = DeliverAsync();
        }
    }

    /// <summary>
    /// Registers or drops the reminder, one change after the other: a park that arrives while the
    /// reminder is being dropped waits for the drop and registers it again before it answers, so an
    /// acknowledged reading is never left without a reminder. A drop happens only while nothing waits.
    /// </summary>
    private Task ChangeReminderAsync(bool keep)
    {
        _reminderChange = ChangeAfterAsync(_reminderChange, keep);
        return _reminderChange;

        async Task ChangeAfterAsync(Task previous, bool keep)
        {
            try
            {
                await previous;
            }
            catch (Exception)
            {
                // Its caller saw that failure; this change is tried on its own.
            }

            if (keep)
            {
                if (!_reminder)
                {
                    await this.RegisterOrUpdateReminder(Reminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
                    _reminder = true;
                }
            }
            else if (_reminder && state.State.Waiting.Count == 0)
            {
                if (await this.GetReminder(Reminder) is { } reminder)
                {
                    await this.UnregisterReminder(reminder);
                }

                _reminder = false;
            }
        }
    }

    /// <summary>
    /// Hands everything waiting to the twin, batch by batch. It looks at the list again after every
    /// await, so readings parked meanwhile are never left behind, and it keeps the reminder while
    /// anything waits: it ends only when nothing waits and the reminder is gone. Any failure (the
    /// twin out of reach, the reminder table refusing a change) is retried by a timer while active
    /// and by the reminder after a restart.
    /// </summary>
    private async Task DeliverAsync()
    {
        var twin = GrainFactory.GetGrain<IMachineGrain>(_machineKey);
        while (true)
        {
            try
            {
                if (state.State.Waiting.Count == 0)
                {
                    if (!_reminder)
                    {
                        DeactivateOnIdle();
                        return;
                    }

                    // Parked meanwhile: the drop leaves the reminder and the loop delivers them.
                    await ChangeReminderAsync(keep: false);
                    continue;
                }

                await ChangeReminderAsync(keep: true);
                var batch = state.State.Waiting.Take(Batch).ToImmutableArray();
                var result = await twin.IngestAsync(batch);
                if (!result.Rejected.IsDefaultOrEmpty)
                {
                    var (factory, machine) = TwinKey.Split(_machineKey);
                    var now = time.GetUtcNow();
                    await GrainFactory.GetGrain<IDeadLetterGrain>(factory).RecordAsync([.. result.Rejected.Select(r =>
                        new DeadLetter(now, "parked", $"factory/{factory}/machine/{machine}", r.Reason, $"seq {r.Seq}{(r.Source is null ? "" : $" of {r.Source}")}").Bounded())]);
                }

                state.State.Waiting.RemoveRange(0, batch.Length);
                await _commit!.CommitAsync();
                _failures = 0;
            }
            catch (Exception ex)
            {
                _failures++;
                LogDeliveryFailed(ex, _machineKey, state.State.Waiting.Count, _failures);
                _retry?.Dispose();
                _retry = this.RegisterGrainTimer(
                    _ =>
                    {
                        Deliver();
                        return Task.CompletedTask;
                    },
                    new GrainTimerCreationOptions(TimeSpan.FromSeconds(Math.Min(30, Math.Pow(2, Math.Min(_failures, 5)))), Timeout.InfiniteTimeSpan) { Interleave = true });
                return;
            }
        }
    }

    [LoggerMessage(EventId = TwinEvents.ParkedReadingsDeliveryFailed, Level = LogLevel.Warning, Message = "{Count} parked readings of {Machine} could not be handed to the twin yet (attempt {Attempt}; retried)")]
    private partial void LogDeliveryFailed(Exception exception, string machine, int count, int attempt);
}
