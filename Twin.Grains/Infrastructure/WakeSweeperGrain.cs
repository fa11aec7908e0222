using Microsoft.Extensions.Logging;

namespace Twin.Grains.Infrastructure;

/// <summary>One of the grains that bring twins back for the work their wake rows say they left (see <see cref="WakeTable"/>).</summary>
[Alias("twin.IWakeSweeperGrain")]
public interface IWakeSweeperGrain : IGrainWithIntegerKey
{
    /// <summary>Makes sure its reminder exists (each silo asks every sweeper at start).</summary>
    Task StartAsync();
}

/// <summary>
/// Reads, once a <see cref="OutboxOptions.ReminderPeriod"/>, the wake rows of its share of the
/// ring (<see cref="Count"/> sweepers, each with one Orleans reminder, cover it once) and sends each
/// twin the reminder tick its row stands for; the twin does the work and removes its row when it
/// has none left, as it did with a reminder of its own. Nothing per twin stays in memory between
/// sweeps. A sweep still running when the next tick comes (twins waiting for a slow history) makes
/// that tick skip; at most <see cref="InFlight"/> twins are called at a time, and a twin that takes
/// longer than <see cref="CallWait"/> finishes on its own while the sweep goes on.
/// </summary>
internal sealed partial class WakeSweeperGrain(WakeTable table, WakeServices services, TimeProvider time, ILogger<WakeSweeperGrain> logger)
    : Grain, IWakeSweeperGrain, IRemindable
{
    public const int Count = WakeTable.Sweepers;

    public const string Reminder = "wake-sweep";

    private const int InFlight = 64;
    private static readonly TimeSpan CallWait = TimeSpan.FromSeconds(5);

    private Task _sweep = Task.CompletedTask;

    public async Task StartAsync()
    {
        var period = services.Period;
        await this.RegisterOrUpdateReminder(Reminder, period, period);
    }

    public Task ReceiveReminder(string reminderName, TickStatus status)
    {
        // Not awaited by the tick (Orleans times a tick out after 30 s); one sweep at a time.
        if (reminderName == Reminder && _sweep.IsCompleted)
        {
            _sweep = SweepAsync();
        }

        return Task.CompletedTask;
    }

    private async Task SweepAsync()
    {
        var (begin, end) = WakeTable.SweeperRange((int)this.GetPrimaryKeyLong());
        List<ReminderEntry> rows;
        try
        {
            rows = await table.ReadWakeRowsAsync(begin, end);
        }
        catch (Exception ex)
        {
            LogReadFailed(ex, begin, end);
            return;
        }

        var now = time.GetUtcNow().UtcDateTime;
        var failed = 0;
        Exception? last = null;
        var calls = new List<Task>(Math.Min(rows.Count, InFlight));
        foreach (var row in rows)
        {
            if (calls.Count >= InFlight)
            {
                calls.Remove(await Task.WhenAny(calls));
            }

            calls.Add(WakeAsync(row));
        }

        await Task.WhenAll(calls);
        if (failed > 0)
        {
            LogCallsFailed(last!, failed, rows.Count);
        }

        async Task WakeAsync(ReminderEntry row)
        {
            var tick = GrainFactory.GetGrain<IRemindable>(row.GrainId).ReceiveReminder(row.ReminderName, new TickStatus(row.StartAt, services.Period, now));
            try
            {
                await tick.WaitAsync(CallWait);
            }
            catch (TimeoutException) when (!tick.IsCompleted)
            {
                // Still at work (waiting for the history): it finishes on its own; the next sweep calls again if it must.
                _ = tick.ContinueWith(static t => t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
            }
            catch (Exception ex)
            {
                failed++;
                last = ex;
            }
        }
    }

    [LoggerMessage(EventId = TwinEvents.WakeSweepReadFailed, Level = LogLevel.Warning, Message = "Could not read the wake rows of ring range ({Begin}, {End}]; the next sweep tries again")]
    private partial void LogReadFailed(Exception exception, uint begin, uint end);

    [LoggerMessage(EventId = TwinEvents.WakeSweepCallsFailed, Level = LogLevel.Warning, Message = "{Failed} of {Rows} twins with saved work could not be woken in this sweep; the next sweep calls them again")]
    private partial void LogCallsFailed(Exception exception, int failed, int rows);
}
