namespace Twin.Grains.Domain;

/// <summary>What to do with a message, judged by its sequence number and event time.</summary>
public enum SequenceVerdict
{
    /// <summary>Newer than anything seen: apply.</summary>
    New,

    /// <summary>Older than the newest but never seen: apply without overwriting newer state.</summary>
    Late,

    /// <summary>Already applied: ignore.</summary>
    Duplicate,

    /// <summary>Older than the window, so it cannot be told apart from a duplicate: ignore.</summary>
    TooOld,

    /// <summary>
    /// A sequence number at or below the newest, but with an event time newer than anything seen:
    /// the device restarted its numbering. Apply and restart the window from it.
    /// </summary>
    Restart,
}

/// <summary>
/// Per-device anti-replay window: the highest sequence number seen and a bitmap of the
/// <see cref="Size"/> numbers below it. Duplicates and reordering within the window are
/// recognised exactly; anything older is refused as too old.
/// </summary>
[GenerateSerializer, Alias("twin.SequenceWindow")]
public sealed class SequenceWindow
{
    /// <summary>How many sequence numbers (including the highest) the window remembers.</summary>
    public const int Size = 64;

    /// <summary>Highest sequence number applied; 0 when none.</summary>
    [Id(0)]
    public long Highest { get; set; }

    /// <summary>Bit i set: sequence number <c>Highest − i</c> was applied.</summary>
    [Id(1)]
    public ulong Seen { get; set; }

    /// <summary>Newest event time of any applied message.</summary>
    [Id(2)]
    public DateTimeOffset LatestEventTime { get; set; }

    public SequenceVerdict Check(long seq, DateTimeOffset eventTime)
    {
        if (Highest == 0 || seq > Highest)
        {
            return SequenceVerdict.New;
        }

        // A real duplicate carries its original event time, which cannot be newer than
        // everything applied; a newer one below the highest sequence means the device restarted.
        if (eventTime > LatestEventTime)
        {
            return SequenceVerdict.Restart;
        }

        var distance = Highest - seq;
        if (distance >= Size)
        {
            return SequenceVerdict.TooOld;
        }

        return (Seen & (1UL << (int)distance)) != 0 ? SequenceVerdict.Duplicate : SequenceVerdict.Late;
    }

    /// <summary>Records <paramref name="seq"/> as applied, as judged by <see cref="Check"/>.</summary>
    public void Mark(long seq, DateTimeOffset eventTime, SequenceVerdict verdict)
    {
        if (verdict == SequenceVerdict.Restart)
        {
            Highest = seq;
            Seen = 1;
        }
        else if (Highest == 0 || seq > Highest)
        {
            var shift = Highest == 0 ? Size : seq - Highest;
            Seen = shift >= Size ? 1UL : (Seen << (int)shift) | 1UL;
            Highest = seq;
        }
        else
        {
            Seen |= 1UL << (int)(Highest - seq);
        }

        if (eventTime > LatestEventTime)
        {
            LatestEventTime = eventTime;
        }
    }
}
