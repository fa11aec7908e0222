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
