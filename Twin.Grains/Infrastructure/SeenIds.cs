namespace Twin.Grains.Infrastructure;

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
