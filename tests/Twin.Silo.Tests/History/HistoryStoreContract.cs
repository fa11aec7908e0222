using Twin.Grains.Infrastructure;
using Twin.Machines;
using Twin.History;
using Twin.Silo.History;

namespace Twin.Silo.Tests.History;

/// <summary>What every history store does, run against each of them (SQLite file, PostgreSQL server, memory).</summary>
public abstract class HistoryStoreContract
{
    // A whole minute, so that readings at 15 s intervals fill minutes with four each.
    protected static readonly DateTimeOffset Start = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);

    /// <summary>A new, empty store for one test.</summary>
    protected abstract Task<IHistoryStore> CreateStoreAsync();

    [Fact]
    public async Task Writing_the_same_readings_again_stores_and_aggregates_them_once()
    {
        var store = await CreateStoreAsync();
        var entries = Readings("f1", "m1", "temperature", count: 8).ToList();

        Assert.Equal(8, await store.WriteAsync(entries));
        Assert.Equal(0, await store.WriteAsync(entries));
        Assert.Equal(2, await store.WriteAsync([.. entries.Take(3), .. Readings("f1", "m1", "temperature", count: 10).Skip(8)]));

        var raw = await store.ReadRawAsync(Query("f1", "m1", "temperature"));
        Assert.Equal(Enumerable.Range(1, 10).Select(i => 20.0 + i), raw.Points.Select(p => p.Value));
        var minutes = await store.ReadAggregatesAsync(Query("f1", "m1", "temperature"), TimeSpan.FromMinutes(1));
        Assert.Equal([4L, 4L, 2L], minutes.Points.Select(b => b.Count));
    }

    [Fact]
    public async Task Raw_readings_come_back_in_time_order_with_quality_and_score_within_from_inclusive_to_exclusive()
    {
        var store = await CreateStoreAsync();
        var entries = Readings("f1", "m1", "temperature", count: 12).ToList();
        entries.Reverse();
        await store.WriteAsync(entries);
        await store.WriteAsync(Readings("f1", "m1", "vibration", count: 12).ToList());
        await store.WriteAsync(Readings("f1", "m2", "temperature", count: 12).ToList());

        var raw = await store.ReadRawAsync(Query("f1", "m1", "temperature") with { From = Start.AddSeconds(15), To = Start.AddSeconds(60) });

        Assert.False(raw.Truncated);
        Assert.Equal([Start.AddSeconds(15), Start.AddSeconds(30), Start.AddSeconds(45)], raw.Points.Select(p => p.Time));
        Assert.Equal([22.0, 23.0, 24.0], raw.Points.Select(p => p.Value));
        Assert.Equal([0.2, 0.3, 0.4], raw.Points.Select(p => p.AnomalyScore));
        Assert.All(raw.Points, p => Assert.Equal(TimeSpan.Zero, p.Time.Offset));

        var limited = await store.ReadRawAsync(Query("f1", "m1", "temperature") with { Limit = 5 });
        Assert.True(limited.Truncated);
        Assert.Equal(5, limited.Points.Length);
        Assert.Equal(Start, limited.Points[0].Time);
    }

    [Fact]
    public async Task Aggregates_leave_out_bad_readings_and_add_up_per_step_aligned_to_the_step()
    {
        var store = await CreateStoreAsync();
        var entries = Readings("f1", "m1", "temperature", count: 12).ToList();
        // An implausible reading: kept raw, left out of the aggregates.
        entries.Add(Entry("f1", "m1", new HistoryPoint("temperature", Start.AddSeconds(20), 9999, ReadingQuality.Bad, 0, null, 100)));
        entries.Add(Entry("f1", "m1", new HistoryPoint("temperature", Start.AddSeconds(25), 20.5, ReadingQuality.Uncertain, 0, null, 101)));
        await store.WriteAsync(entries);

        var raw = await store.ReadRawAsync(Query("f1", "m1", "temperature"));
        Assert.Equal(14, raw.Points.Length);
        Assert.Equal(ReadingQuality.Bad, raw.Points.Single(p => p.Value == 9999).Quality);

        var minutes = await store.ReadAggregatesAsync(Query("f1", "m1", "temperature"), TimeSpan.FromMinutes(1));
        Assert.False(minutes.Truncated);
        Assert.Equal([Start, Start.AddMinutes(1), Start.AddMinutes(2)], minutes.Points.Select(b => b.Time));
        Assert.Equal([5L, 4L, 4L], minutes.Points.Select(b => b.Count));
        Assert.Equal([20.5, 25, 29], minutes.Points.Select(b => b.Min));
        Assert.Equal([24.0, 28, 32], minutes.Points.Select(b => b.Max));
        Assert.Equal((21 + 22 + 23 + 24 + 20.5) / 5, minutes.Points[0].Avg, 9);
        Assert.Equal(26.5, minutes.Points[1].Avg, 9);

        // 5-minute buckets start at multiples of five minutes; the first one holds 'from'.
        var fives = await store.ReadAggregatesAsync(Query("f1", "m1", "temperature") with { From = Start.AddMinutes(1).AddSeconds(30) }, TimeSpan.FromMinutes(5));
        var bucket = Assert.Single(fives.Points);
        Assert.Equal(Start, bucket.Time);
        Assert.Equal(13, bucket.Count);
        Assert.Equal(20.5, bucket.Min);
        Assert.Equal(32, bucket.Max);

        // 'to' ends the range: a minute is in when it starts before 'to'.
        var early = await store.ReadAggregatesAsync(Query("f1", "m1", "temperature") with { To = Start.AddMinutes(1).AddSeconds(1) }, TimeSpan.FromMinutes(1));
        Assert.Equal([Start, Start.AddMinutes(1)], early.Points.Select(b => b.Time));
        var limited = await store.ReadAggregatesAsync(Query("f1", "m1", "temperature") with { Limit = 2 }, TimeSpan.FromMinutes(1));
        Assert.True(limited.Truncated);
        Assert.Equal(2, limited.Points.Length);
    }

    [Fact]
    public async Task Readings_from_another_source_or_after_a_device_restart_are_kept_apart()
    {
        var store = await CreateStoreAsync();
        var device = new HistoryPoint("temperature", Start, 1, ReadingQuality.Good, 0, null, 7);
        var backfill = device with { Value = 2, Source = "csv-2026-11" };
        var restarted = device with { Timestamp = Start.AddSeconds(5), Value = 3 };

        Assert.Equal(3, await store.WriteAsync([Entry("f1", "m1", device), Entry("f1", "m1", backfill), Entry("f1", "m1", restarted)]));

        var raw = await store.ReadRawAsync(Query("f1", "m1", "temperature"));
        Assert.Equal([1.0, 2.0, 3.0], raw.Points.Select(p => p.Value).Order());
    }

    [Fact]
    public async Task An_unknown_sensor_or_machine_has_an_empty_history()
    {
        var store = await CreateStoreAsync();
        await store.WriteAsync(Readings("f1", "m1", "temperature", count: 3).ToList());

        Assert.Empty((await store.ReadRawAsync(Query("f1", "m1", "pressure"))).Points);
        Assert.Empty((await store.ReadRawAsync(Query("f1", "m9", "temperature"))).Points);
        Assert.Empty((await store.ReadAggregatesAsync(Query("f2", "m1", "temperature"), TimeSpan.FromHours(1))).Points);
    }

    [Fact]
    public async Task Cleanup_deletes_raw_readings_and_minutes_past_their_cutoffs_in_batches()
    {
        var store = await CreateStoreAsync();
        await store.WriteAsync(Readings("f1", "m1", "temperature", count: 40).ToList());
        await store.WriteAsync(Readings("f1", "m2", "vibration", count: 40).ToList());

        // Raw before minute 7 (28 readings per series), minutes before minute 3 (3 per series); batches of 5 rows.
        var purged = await store.PurgeAsync(Start.AddMinutes(7), Start.AddMinutes(3), batchSize: 5);

        Assert.Equal(new HistoryPurge(56, 6), purged);
        var raw = await store.ReadRawAsync(Query("f1", "m1", "temperature"));
        Assert.Equal(12, raw.Points.Length);
        Assert.Equal(Start.AddMinutes(7), raw.Points[0].Time);
        var minutes = await store.ReadAggregatesAsync(Query("f1", "m2", "vibration"), TimeSpan.FromMinutes(1));
        Assert.Equal(Start.AddMinutes(3), minutes.Points[0].Time);
        Assert.Equal(7, minutes.Points.Length);
        Assert.Equal(default, await store.PurgeAsync(Start.AddMinutes(7), Start.AddMinutes(3), batchSize: 5));
    }

    protected static HistoryQuery Query(string factory, string machine, string sensor) =>
        new(factory, machine, sensor, Start.AddHours(-1), Start.AddHours(1), 10_000);

    protected static HistoryEntry Entry(string factory, string machine, HistoryPoint point) => new(factory, machine, point);

    /// <summary>Readings 1..count every 15 s from <see cref="Start"/>: value 20 + n, score n / 10 (capped at 1).</summary>
    protected static IEnumerable<HistoryEntry> Readings(string factory, string machine, string sensor, int count) =>
        Enumerable.Range(1, count).Select(n => Entry(factory, machine, new HistoryPoint(
            sensor, Start.AddSeconds(15 * (n - 1)), 20 + n, ReadingQuality.Good, Math.Min(1, n / 10.0), null, n)));
}
