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

    /// <summary>Refused by a rule of the twin (see the reason); not applied, not remembered.</summary>
    Rejected,

    /// <summary>
    /// A sequence number at or below the newest, but with an event time newer than anything seen:
    /// the device restarted its numbering. Apply and restart the window from it.
    /// </summary>
    Restart,
}

/// <summary>
/// Per-device anti-replay window: the highest sequence number applied and a ring of bits for the
/// <see cref="Size"/> numbers up to it. Duplicates and reordering within the window are recognised
/// exactly; anything older is refused as too old, since it cannot be told from a duplicate.
/// </summary>
[GenerateSerializer, Alias("twin.SequenceWindow")]
public sealed class SequenceWindow
{
    /// <summary>How many sequence numbers (including the highest) the window remembers.</summary>
    public const int Size = 1024;

    private const int Words = Size / 64;

    /// <summary>Highest sequence number applied; 0 when none.</summary>
    [Id(0)]
    public long Highest { get; set; }

    /// <summary>Bit <c>seq % Size</c> set: that sequence number (within the window) was applied.</summary>
    [Id(1)]
    public ulong[] Bits { get; set; } = new ulong[Words];

    /// <summary>Newest event time of any applied message.</summary>
    [Id(2)]
    public DateTimeOffset LatestEventTime { get; set; }

    /// <summary>Event time of the first message since the device last restarted its numbering.</summary>
    [Id(3)]
    public DateTimeOffset EpochStart { get; set; }

    /// <summary>
    /// The window from before the last restart: messages with an event time before
    /// <see cref="EpochStart"/> (redeliveries from before the restart) are judged by it.
    /// </summary>
    [Id(4)]
    public SequenceWindow? Previous { get; set; }

    public SequenceVerdict Check(long seq, DateTimeOffset eventTime)
    {
        if (Previous is { } previous && eventTime < EpochStart)
        {
            var verdict = previous.CheckWithinEpoch(seq, eventTime, allowRestart: false);
            return verdict == SequenceVerdict.New ? SequenceVerdict.Late : verdict;
        }

        return CheckWithinEpoch(seq, eventTime, allowRestart: true);
    }

    /// <summary>Records <paramref name="seq"/> as applied, as judged by <see cref="Check"/>.</summary>
    public void Mark(long seq, DateTimeOffset eventTime, SequenceVerdict verdict)
    {
        if (verdict == SequenceVerdict.Restart)
        {
            // Keep the old epoch to recognise its redeliveries; forget anything older.
            Previous = new SequenceWindow { Highest = Highest, Bits = (ulong[])Bits.Clone(), LatestEventTime = LatestEventTime, EpochStart = EpochStart };
            Array.Clear(Bits);
            Highest = seq;
            EpochStart = eventTime;
            Set(seq);
            LatestEventTime = eventTime;
            return;
        }

        if (Previous is { } previous && eventTime < EpochStart)
        {
            previous.MarkWithinEpoch(seq, eventTime);
            return;
        }

        if (Highest == 0)
        {
            EpochStart = eventTime;
        }

        MarkWithinEpoch(seq, eventTime);
    }

    private SequenceVerdict CheckWithinEpoch(long seq, DateTimeOffset eventTime, bool allowRestart)
    {
        if (Highest == 0 || seq > Highest)
        {
            return SequenceVerdict.New;
        }

        // A real duplicate carries its original event time, which cannot be newer than
        // everything applied; a newer one at or below the highest sequence means the device restarted.
        if (allowRestart && eventTime > LatestEventTime)
        {
            return SequenceVerdict.Restart;
        }

        if (Highest - seq >= Size)
        {
            return SequenceVerdict.TooOld;
        }

        return IsSet(seq) ? SequenceVerdict.Duplicate : SequenceVerdict.Late;
    }

    private void MarkWithinEpoch(long seq, DateTimeOffset eventTime)
    {
        if (Highest == 0 || seq - Highest >= Size)
        {
            Array.Clear(Bits);
            Highest = seq;
        }
        else if (seq > Highest)
        {
            // Forget the numbers the window slides past.
            for (var s = Highest + 1; s < seq; s++)
            {
                Clear(s);
            }

            Highest = seq;
        }

        Set(seq);
        if (eventTime > LatestEventTime)
        {
            LatestEventTime = eventTime;
        }
    }

    private static (int Word, ulong Mask) Position(long seq)
    {
        var bit = (int)(((seq % Size) + Size) % Size);
        return (bit >> 6, 1UL << (bit & 63));
    }

    private bool IsSet(long seq)
    {
        var (word, mask) = Position(seq);
        return (Bits[word] & mask) != 0;
    }

    private void Set(long seq)
    {
        var (word, mask) = Position(seq);
        Bits[word] |= mask;
    }

    private void Clear(long seq)
    {
        var (word, mask) = Position(seq);
        Bits[word] &= ~mask;
    }
}
