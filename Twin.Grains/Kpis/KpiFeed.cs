using System.Diagnostics;
using Twin.Grains.Infrastructure;

namespace Twin.Grains.Kpis;

/// <summary>
/// The source side of the factory KPIs: after a twin's change is durable (with its "KPI report
/// pending" flag set in the same write), <see cref="Kick"/> sends the twin's current summary to
/// the factory's KPI grain in the background, so the twin's own call neither waits for it nor
/// fails with it. One send at a time: changes made while one runs go out together in the next,
/// carrying the latest version. A failed send is retried by a grain timer while the twin is
/// active, and the persisted flag makes the next activation send again: nothing is dropped. The
/// "kpi" <see cref="WakeReminder"/> (see <see cref="Wake"/>) brings that activation about after a
/// deactivation or a restart, without waiting for anyone to call the twin.
/// </summary>
/// <remarks>
/// <paramref name="send"/> builds the summary from the twin's state, calls the KPI grain and,
/// when what it sent is still the twin's latest, clears the flag in memory (the twin's next write
/// persists that; a flag left set only causes one idempotent resend).
/// <paramref name="minInterval"/> spaces the sends of a busy twin (processing time, not twin time).
/// </remarks>
internal sealed class KpiFeed(IGrainBase owner, Func<Task> send, Action<Exception> failed, TimeSpan minInterval) : IWakeWork
{
    public const string Reminder = "kpi";

    private static readonly TimeSpan RetryPeriod = TimeSpan.FromSeconds(10);

    /// <summary>Longest a reminder tick waits for the send it started.</summary>
    private static readonly TimeSpan TickWait = TimeSpan.FromSeconds(30);

    private Task _running = Task.CompletedTask;
    private bool _dirty;
    private long _lastSent = long.MinValue;
    private IGrainTimer? _timer;
    private WakeReminder? _wake;
    private Func<bool> _pending = static () => false;

    /// <summary>Sends (soon) the twin's current summary. Never throws, never waits.</summary>
    public void Kick()
    {
        _dirty = true;
        if (!_running.IsCompleted)
        {
            // The running send goes once more when it is done.
            return;
        }

        if (TooSoon())
        {
            EnsureTimer();
            return;
        }

        _running = RunAsync();
    }

    /// <summary>
    /// Keeps the "kpi" reminder while <paramref name="pending"/> (the twin's persisted flag) says a
    /// report is pending; its ticks send it. Call once, on activation, with the twin's group commit.
    /// </summary>
    public void Wake(Func<bool> pending, GroupCommit commit, WakeServices services)
    {
        _pending = pending;
        _wake = new WakeReminder(owner, Reminder, this, commit, services);
    }

    bool IWakeWork.Pending => _pending();

    async Task IWakeWork.WakeAsync()
    {
        Kick();
        await WhenSentAsync(TickWait);
    }

    /// <summary>For the twin's <c>ReceiveReminder</c>: true when the tick was the KPI reminder's.</summary>
    public Task<bool> OnReminderAsync(string name) => _wake?.OnReminderAsync(name) ?? Task.FromResult(false);

    /// <summary>Waits for the running send up to <paramref name="max"/> (for rare changes a reader expects to see at once). Never throws.</summary>
    public async Task WhenSentAsync(TimeSpan max)
    {
        try
        {
            await _running.WaitAsync(max);
        }
        catch (TimeoutException)
        {
            // Still running; it completes (or is retried) on its own.
        }
    }

    private bool TooSoon() =>
        minInterval > TimeSpan.Zero && _lastSent != long.MinValue && Stopwatch.GetElapsedTime(_lastSent) < minInterval;

    private async Task RunAsync()
    {
        while (_dirty)
        {
            _dirty = false;
            _lastSent = Stopwatch.GetTimestamp();
            try
            {
                await send();
            }
            catch (Exception ex)
            {
                _dirty = true;
                failed(ex);
                EnsureTimer();
                return;
            }

            if (_dirty && TooSoon())
            {
                EnsureTimer();
                return;
            }
        }

        _timer?.Dispose();
        _timer = null;
    }

    private void EnsureTimer()
    {
        if (_timer is not null)
        {
            return;
        }

        var period = minInterval > RetryPeriod || minInterval <= TimeSpan.Zero ? RetryPeriod : minInterval;
        _timer = owner.RegisterGrainTimer(
            _ =>
            {
                if (_dirty && _running.IsCompleted)
                {
                    _running = RunAsync();
                }

                return Task.CompletedTask;
            },
            new GrainTimerCreationOptions(period, period) { Interleave = true });
    }
}
