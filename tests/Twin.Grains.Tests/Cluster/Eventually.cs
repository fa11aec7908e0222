namespace Twin.Grains.Tests.Cluster;

/// <summary>Awaits what the cluster delivers in the background (outboxes, reminders) with a deadline, never a fixed sleep.</summary>
internal static class Eventually
{
    /// <summary>The probe's first non-null answer within 20 s; a twin not found yet counts as no answer.</summary>
    public static async Task<T> ForAsync<T>(Func<Task<T?>> probe, string what)
        where T : class
    {
        var until = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < until)
        {
            try
            {
                if (await probe() is { } value)
                {
                    return value;
                }
            }
            catch (TwinRuleException rule) when (rule.IsNotFound)
            {
            }

            await Task.Delay(20);
        }

        throw new TimeoutException("not within 20 s: " + what);
    }
}
