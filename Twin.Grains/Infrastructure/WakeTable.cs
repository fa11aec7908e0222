namespace Twin.Grains.Infrastructure;

/// <summary>
/// The durable list of twins with saved but unfinished work (outbox messages, a KPI report,
/// readings for the history), kept as rows of the cluster's reminder table: a twin's wake row is
/// a reminder row with a period of zero, under the same name a reminder would have
/// (<c>"outbox"</c>, <c>"kpi"</c>, <c>"history"</c>). Orleans' reminder service never sees
/// them (this table hides them from the reads it makes), so a wake row costs no memory in the
/// silo; the <see cref="WakeSweeperGrain"/>s read them once a period and bring each twin back
/// with the tick its reminder would have brought. One Orleans reminder per active twin cost about
/// 1.4 KB of silo memory for as long as the twin was busy, that is, for every machine of a plant.
/// </summary>
/// <remarks>
/// Wraps the table the storage mode configures (SQLite, PostgreSQL, in memory) and is registered
/// as the silo's <see cref="IReminderTable"/>; every other read and write passes through unchanged.
/// </remarks>
public sealed class WakeTable(IReminderTable inner) : IReminderTable
{
    /// <summary>Number of <see cref="IWakeSweeperGrain"/>s (keys 0 to 15); the ring is cut into this many equal ranges. Never change it on a running cluster without a full stop.</summary>
    public const int Sweepers = 16;

    /// <summary>The ring range (begin, end] sweeper <paramref name="index"/> reads; together they cover the ring once (the last one wraps to 0).</summary>
    public static (uint Begin, uint End) SweeperRange(int index)
    {
        const long step = (1L << 32) / Sweepers;
        return (unchecked((uint)(index * step)), unchecked((uint)((index + 1) * step)));
    }

    /// <summary>The period that marks a row as a wake row (an Orleans reminder never has it).</summary>
    public static readonly TimeSpan WakePeriod = TimeSpan.Zero;

    /// <summary>True for a twin's wake row, false for an Orleans reminder.</summary>
    public static bool IsWake(ReminderEntry entry) => entry.Period == WakePeriod;

    public Task StartAsync(CancellationToken cancellationToken = default) => inner.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken = default) => inner.StopAsync(cancellationToken);

    public async Task<ReminderTableData> ReadRows(GrainId grainId) => Reminders(await inner.ReadRows(grainId));

    public async Task<ReminderTableData> ReadRows(uint begin, uint end) => Reminders(await inner.ReadRows(begin, end));

    public Task<ReminderEntry?> ReadRow(GrainId grainId, string reminderName) => inner.ReadRow(grainId, reminderName);

    public Task<string?> UpsertRow(ReminderEntry entry) => inner.UpsertRow(entry);

    public Task<bool> RemoveRow(GrainId grainId, string reminderName, string eTag) => inner.RemoveRow(grainId, reminderName, eTag);

    public Task TestOnlyClearTable() => inner.TestOnlyClearTable();

    /// <summary>The wake rows of the ring range (<paramref name="begin"/>, <paramref name="end"/>], for a sweeper.</summary>
    public async Task<List<ReminderEntry>> ReadWakeRowsAsync(uint begin, uint end)
    {
        var rows = await inner.ReadRows(begin, end);
        var wakes = new List<ReminderEntry>();
        foreach (var row in rows.Reminders)
        {
            if (IsWake(row))
            {
                wakes.Add(row);
            }
        }

        return wakes;
    }

    private static ReminderTableData Reminders(ReminderTableData data)
    {
        foreach (var row in data.Reminders)
        {
            if (IsWake(row))
            {
                return new ReminderTableData(data.Reminders.Where(r => !IsWake(r)).ToList());
            }
        }

        return data;
    }
}
