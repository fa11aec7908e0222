using Twin.Integration;

namespace Twin.Grains.Integration;

/// <summary>Delivers an event to the configured targets; throws when any target did not take it.</summary>
public interface IOutboundDelivery
{
    /// <summary>True when there is at least one target; without targets events are dropped at once.</summary>
    bool HasTargets { get; }

    Task DeliverAsync(OutboundEvent outboundEvent, CancellationToken cancellationToken);
}

/// <summary>An event waiting for delivery, with its retry schedule.</summary>
[GenerateSerializer, Alias("twin.PendingEvent")]
public sealed class PendingEvent
{
    [Id(0)] public required OutboundEvent Event { get; set; }
    [Id(1)] public int Attempts { get; set; }
    [Id(2)] public DateTimeOffset NextAttempt { get; set; }
    [Id(3)] public string? LastError { get; set; }
}

/// <summary>
/// A grain's persisted outbox of outbound events: kept in the grain's state, delivered after the
/// state is written, retried with exponential backoff (1, 2, 4 … 30 minutes) by the grain's
/// reminder until every target has acknowledged.
/// </summary>
public static class Outbox
{
    public const string Reminder = "outbox";
    public const int MaxPending = 500;
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(30);

    public static void Add(List<PendingEvent> pending, OutboundEvent outboundEvent)
    {
        if (pending.Exists(p => p.Event.Id == outboundEvent.Id))
        {
            return;
        }

        pending.Add(new PendingEvent { Event = outboundEvent, NextAttempt = DateTimeOffset.MinValue });
        if (pending.Count > MaxPending)
        {
            pending.RemoveAt(0);
        }
    }

    /// <summary>Tries every event that is due; returns whether the list changed.</summary>
    public static async Task<bool> FlushAsync(List<PendingEvent> pending, IOutboundDelivery delivery, DateTimeOffset now)
    {
        if (pending.Count == 0)
        {
            return false;
        }

        if (!delivery.HasTargets)
        {
            pending.Clear();
            return true;
        }

        var changed = false;
        foreach (var item in pending.Where(p => p.NextAttempt <= now).ToList())
        {
            try
            {
                await delivery.DeliverAsync(item.Event, CancellationToken.None);
                pending.Remove(item);
            }
            catch (Exception ex)
            {
                item.Attempts++;
                item.LastError = ex.Message;
                var backoff = TimeSpan.FromMinutes(Math.Pow(2, Math.Min(item.Attempts - 1, 10)));
                item.NextAttempt = now + (backoff > MaxBackoff ? MaxBackoff : backoff);
            }

            changed = true;
        }

        return changed;
    }
}

/// <summary>The grain side of an outbox: deliver after the state is written, keep a reminder while anything waits.</summary>
internal static class OutboxGrainExtensions
{
    public static async Task DeliverOutboxAsync(this Grain grain, List<PendingEvent> pending, IOutboundDelivery delivery, DateTimeOffset now, Func<Task> write)
    {
        if (await Outbox.FlushAsync(pending, delivery, now))
        {
            await write();
        }

        var reminder = await grain.GetReminder(Outbox.Reminder);
        if (pending.Count > 0 && reminder is null)
        {
            await grain.RegisterOrUpdateReminder(Outbox.Reminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        }
        else if (pending.Count == 0 && reminder is not null)
        {
            await grain.UnregisterReminder(reminder);
        }
    }
}
