namespace Twin.Grains.Infrastructure;

/// <summary>
/// Writes that leave no half-state behind: when a write fails, the in-memory state holds a change
/// that is not durable, so the activation is dropped and the next call reloads from storage.
/// Without this a retry would see "already applied" and report success for something lost.
/// </summary>
internal static class StateWrites
{
    public static async Task WriteOrResetAsync<T>(this IGrainBase grain, IPersistentState<T> state)
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            grain.DeactivateOnIdle();
            throw;
        }
    }
}

/// <summary>A bounded memory of ids already handled, for idempotent commands.</summary>
internal static class SeenIds
{
    /// <summary>Remembers <paramref name="id"/>; false when it was seen before. Keeps the latest <paramref name="capacity"/>.</summary>
    public static bool Remember(List<string> seen, string id, int capacity)
    {
        if (seen.Contains(id))
        {
            return false;
        }

        seen.Add(id);
        if (seen.Count > capacity)
        {
            seen.RemoveRange(0, seen.Count - capacity);
        }

        return true;
    }
}
