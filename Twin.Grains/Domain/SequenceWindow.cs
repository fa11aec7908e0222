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
/// Per-device anti-replay record, exact for every sequence number it has seen: the highest number
/// applied, a ring of bits for the <see cref="Size"/> numbers up to it (the fast path), and below
/// the ring the ranges of numbers never applied (<see cref="Missing"/>). A number older than the
/// ring is late when it falls in a missing range and a duplicate otherwise, so a backlog that
/// arrives long after newer readings (a restarted gateway, a reconnecting device) is applied once,
/// not dropped. The ranges are bounded (<see cref="MaxGaps"/>); only numbers below what was
/// forgotten are too old, and those are refused visibly (a dead letter), never taken silently.
/// A device that restarts its numbering starts a new epoch; <see cref="MaxEpochs"/> earlier epochs
/// are kept to judge their redeliveries.
/// </summary>
[GenerateSerializer, Alias("twin.SequenceWindow")]
public sealed class SequenceWindow
{
    /// <summary>How many sequence numbers (including the highest) the ring of bits covers.</summary>
    public const int Size = 1024;

    /// <summary>
    /// Most missing ranges kept below the ring; past it the oldest are forgotten. Sized for the
    /// worst pattern a healthy cluster makes: two gateways in a shared subscription take a
    /// machine's messages in turn, so while one of them stalls (a hung silo, a database outage)
    /// every other number is missing — one range per message — until its backlog arrives. 4,096
    /// ranges hold that for minutes at tens of messages a second per machine, at a few bytes each
    /// in the saved state, and only while the holes are open.
    /// </summary>
    public const int MaxGaps = 4096;

    /// <summary>Most earlier epochs (before device restarts) kept.</summary>
    public const int MaxEpochs = 4;

    private const int Words = Size / 64;
    private const int CurrentFormat = 1;

    /// <summary>Highest sequence number applied; 0 when none.</summary>
    [Id(0)]
    public long Highest { get; set; }

    /// <summary>Bit <c>seq % Size</c> set: that sequence number (within the ring) was applied.</summary>
    [Id(1)]
    public ulong[] Bits { get; set; } = new ulong[Words];

    /// <summary>Newest event time of any applied message.</summary>
    [Id(2)]
    public DateTimeOffset LatestEventTime { get; set; }

    /// <summary>Event time of the first message since the device last restarted its numbering.</summary>
    [Id(3)]
    public DateTimeOffset EpochStart { get; set; }

    /// <summary>
    /// The epoch before the last restart (and through it, earlier ones): messages with an event
    /// time before <see cref="EpochStart"/> (redeliveries from before the restart) are judged by it.
    /// </summary>
    [Id(4)]
    public SequenceWindow? Previous { get; set; }

    /// <summary>Ranges <c>[from, to]</c> of numbers below the ring never applied, as pairs, ascending.</summary>
    [Id(5)]
    public List<long>? Missing { get; set; }

    /// <summary>Numbers below this are judged by <see cref="Missing"/>, not by the ring: the lowest number the ring has covered since the epoch began.</summary>
    [Id(6)]
    public long Floor { get; set; }

    /// <summary>Numbers below this were forgotten (the gap bound, or a window saved before gaps were kept): too old.</summary>
    [Id(7)]
    public long KnownFrom { get; set; }

    /// <summary>0: saved before missing ranges were kept (upgraded on first use).</summary>
    [Id(8)]
    public int Format { get; set; }

    /// <summary>Restarts of the numbering before this epoch: 0 for the first.</summary>
    [Id(9)]
    public int Epoch { get; set; }

    /// <summary>Messages with an event time before this belong to epochs that were forgotten: too old.</summary>
    [Id(10)]
    public DateTimeOffset ForgottenBefore { get; set; }

    public SequenceVerdict Check(long seq, DateTimeOffset eventTime)
    {
        Upgrade();
        if (IsEarlierEpoch(seq, eventTime))
        {
            if (eventTime < ForgottenBefore)
            {
                return SequenceVerdict.TooOld;
            }

            var epoch = EpochAt(eventTime);
            var verdict = epoch.CheckWithinEpoch(seq, eventTime, allowRestart: false);
            return verdict == SequenceVerdict.New ? SequenceVerdict.Late : verdict;
        }

        return CheckWithinEpoch(seq, eventTime, allowRestart: true);
    }

    /// <summary>The epoch number a message with <paramref name="eventTime"/> belongs to (for ids that must differ between epochs).</summary>
    public int EpochOf(long seq, DateTimeOffset eventTime) =>
        IsEarlierEpoch(seq, eventTime) ? EpochAt(eventTime).Epoch : Epoch;

    /// <summary>
    /// Whether a message belongs to an epoch before the current one: its event time is before the
    /// current epoch's first message — unless it is newer than everything of the epoch before
    /// while numbered within it. A device numbers in the order of its clock, so such a message
    /// cannot be a redelivery from before the restart: it is one sent just after the restart that
    /// arrived after a later one (two gateways, a redelivery), and it belongs to the current epoch.
    /// </summary>
    private bool IsEarlierEpoch(long seq, DateTimeOffset eventTime) =>
        eventTime < EpochStart && Previous is { } previous && !(eventTime > previous.LatestEventTime && seq <= previous.Highest);

    /// <summary>Records <paramref name="seq"/> as applied, as judged by <see cref="Check"/>.</summary>
    public void Mark(long seq, DateTimeOffset eventTime, SequenceVerdict verdict)
    {
        Upgrade();
        if (verdict == SequenceVerdict.Restart)
        {
            // Keep the old epoch (and a few before it) to recognise their redeliveries.
            Previous = new SequenceWindow
            {
                Highest = Highest, Bits = (ulong[])Bits.Clone(), LatestEventTime = LatestEventTime, EpochStart = EpochStart, Previous = Previous,
                Missing = Missing, Floor = Floor, KnownFrom = KnownFrom, Format = CurrentFormat, Epoch = Epoch,
            };
            TrimEpochs();
            Epoch++;
            Array.Clear(Bits);
            Highest = 0;
            Missing = null;
            KnownFrom = 0;
            EpochStart = eventTime;
            MarkWithinEpoch(seq, eventTime);
            return;
        }

        if (IsEarlierEpoch(seq, eventTime))
        {
            EpochAt(eventTime).MarkWithinEpoch(seq, eventTime);
            return;
        }

        if (Highest == 0 || eventTime < EpochStart)
        {
            // The epoch began with its earliest message, which may arrive after later ones.
            EpochStart = eventTime;
        }

        MarkWithinEpoch(seq, eventTime);
    }

    /// <summary>The kept epoch whose span holds <paramref name="eventTime"/> (the oldest kept for anything older).</summary>
    private SequenceWindow EpochAt(DateTimeOffset eventTime)
    {
        var epoch = Previous!;
        while (eventTime < epoch.EpochStart && epoch.Previous is not null)
        {
            epoch = epoch.Previous;
        }

        return epoch;
    }

    private void TrimEpochs()
    {
        var kept = Previous;
        for (var i = 1; i < MaxEpochs && kept is not null; i++)
        {
            kept = kept.Previous;
        }

        if (kept?.Previous is not null)
        {
            ForgottenBefore = kept.EpochStart;
            kept.Previous = null;
        }
    }

    /// <summary>A window saved before missing ranges were kept knows nothing below its ring.</summary>
    private void Upgrade()
    {
        if (Format == CurrentFormat)
        {
            return;
        }

        Format = CurrentFormat;
        if (Highest > 0)
        {
            KnownFrom = Math.Max(0, Highest - Size + 1);
            Floor = KnownFrom;
        }

        Previous?.Upgrade();
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

        if (seq >= Floor && Highest - seq < Size)
        {
            return IsSet(seq) ? SequenceVerdict.Duplicate : SequenceVerdict.Late;
        }

        if (seq < KnownFrom)
        {
            return SequenceVerdict.TooOld;
        }

        return IndexOfGap(seq) >= 0 ? SequenceVerdict.Late : SequenceVerdict.Duplicate;
    }

    private void MarkWithinEpoch(long seq, DateTimeOffset eventTime)
    {
        if (Highest == 0)
        {
            // Nothing of this epoch was applied yet: every number below the first is unseen
            // (numbering starts at 1; 0 means "none").
            Array.Clear(Bits);
            Highest = seq;
            Floor = seq;
            var from = Math.Max(KnownFrom, 1);
            if (seq > from)
            {
                AddGap(from, seq - 1);
            }
        }
        else if (seq > Highest)
        {
            Slide(seq);
        }
        else if (seq < Floor || Highest - seq >= Size)
        {
            RemoveFromGaps(seq);
            Touch(eventTime);
            return;
        }

        Set(seq);
        Touch(eventTime);
    }

    private void Touch(DateTimeOffset eventTime)
    {
        if (eventTime > LatestEventTime)
        {
            LatestEventTime = eventTime;
        }
    }

    /// <summary>Moves the ring up to <paramref name="seq"/>: numbers that leave it unset become missing ranges.</summary>
    private void Slide(long seq)
    {
        var leavingTo = seq - Size;
        if (leavingTo >= Floor)
        {
            // Numbers [Floor or the ring's bottom, leavingTo] leave the ring: below the old ring
            // bottom they were never in it (a jump past the ring), so they are unseen.
            var ringBottom = Math.Max(Floor, Highest - Size + 1);
            var to = Math.Min(leavingTo, Highest);
            for (var s = ringBottom; s <= to; s++)
            {
                if (!IsSet(s))
                {
                    AddGap(s, s);
                }
            }

            if (leavingTo > Highest)
            {
                AddGap(Highest + 1, leavingTo);
            }

            Floor = leavingTo + 1;
        }

        if (seq - Highest >= Size)
        {
            Array.Clear(Bits);
        }
        else
        {
            for (var s = Highest + 1; s < seq; s++)
            {
                Clear(s);
            }
        }

        Highest = seq;
    }

    /// <summary>Adds <c>[from, to]</c> (above every kept range, or joining the last) to the missing ranges, forgetting the oldest past the bound.</summary>
    private void AddGap(long from, long to)
    {
        var gaps = Missing ??= [];
        if (gaps.Count > 0 && gaps[^1] == from - 1)
        {
            gaps[^1] = to;
        }
        else
        {
            gaps.Add(from);
            gaps.Add(to);
        }

        TrimGaps();
    }

    private void TrimGaps()
    {
        while (Missing is { } gaps && gaps.Count > MaxGaps * 2)
        {
            // The oldest range and everything below it are forgotten: too old from now on.
            KnownFrom = gaps[1] + 1;
            gaps.RemoveRange(0, 2);
        }
    }

    private int IndexOfGap(long seq)
    {
        if (Missing is not { Count: > 0 } gaps)
        {
            return -1;
        }

        // Binary search over the range starts.
        int lo = 0, hi = (gaps.Count / 2) - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) / 2;
            if (gaps[mid * 2] > seq)
            {
                hi = mid - 1;
            }
            else if (gaps[(mid * 2) + 1] < seq)
            {
                lo = mid + 1;
            }
            else
            {
                return mid * 2;
            }
        }

        return -1;
    }

    private void RemoveFromGaps(long seq)
    {
        var i = IndexOfGap(seq);
        if (i < 0)
        {
            return;
        }

        var gaps = Missing!;
        var (from, to) = (gaps[i], gaps[i + 1]);
        if (from == to)
        {
            gaps.RemoveRange(i, 2);
        }
        else if (seq == from)
        {
            gaps[i] = seq + 1;
        }
        else if (seq == to)
        {
            gaps[i + 1] = seq - 1;
        }
        else
        {
            gaps[i + 1] = seq - 1;
            gaps.InsertRange(i + 2, [seq + 1, to]);
            TrimGaps();
        }

        if (Missing is { Count: 0 })
        {
            Missing = null;
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
