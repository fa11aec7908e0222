using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Twin.Testing;
using Twin.Grains.Infrastructure;
using Twin.Machines;
using Twin.History;
using Twin.Silo.History;

namespace Twin.Silo.Tests.History;

/// <summary>The writer between the twins and the store: hands back when written, never drops, batches, drains on stop.</summary>
public sealed class HistoryWriterTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _temp = new();

    [Fact]
    public async Task A_stuck_store_makes_appends_wait_and_loses_none_of_them()
    {
        var store = new GatedStore(new MemoryHistoryStore());
        await using var writer = NewWriter(store, new TwinHistoryOptions { QueueCapacity = 3, FlushInterval = TimeSpan.Zero });
        await writer.StartAsync(CancellationToken.None);

        var first = writer.AppendAsync("f1/m1", Points(1, 2));
        await Wait.UntilAsync(() => Task.FromResult(store.Waiting), TimeSpan.FromSeconds(10), "the writer is inside the stuck store");

        // The store does not answer: the queue holds three appends, the others wait for room. None
        // completes (a twin keeps those readings pending) and none is dropped.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var rest = Enumerable.Range(0, 10).Select(i => writer.AppendAsync("f1/m1", Points(10 + (2 * i), 2))).ToList();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"Handing over took {clock.Elapsed}");
        Assert.False(first.IsCompleted);
        Assert.DoesNotContain(rest, t => t.IsCompleted);
        Assert.Equal(0, writer.Dropped);

        store.Open();
        await Task.WhenAll(rest.Append(first)).WaitAsync(TimeSpan.FromSeconds(30));
        var raw = await store.ReadRawAsync(new HistoryQuery("f1", "m1", "temperature", Start.AddHours(-1), Start.AddHours(1), 1000));
        Assert.Equal([1L, 2, .. Enumerable.Range(10, 20).Select(i => (long)i)], raw.Points.Select(p => (long)p.Value));
        Assert.Equal(22, writer.Written);
        Assert.Equal(0, writer.Dropped);
    }

    [Fact]
    public async Task Stopping_writes_everything_that_was_appended_in_batches_of_the_configured_size()
    {
        var sqlite = new SqliteHistoryStore(_temp.Sub("history.db"), fullSync: false);
        var store = new GatedStore(sqlite);
        store.Open();
        var writer = NewWriter(store, new TwinHistoryOptions { BatchSize = 100, FlushInterval = TimeSpan.FromSeconds(30) });
        await writer.StartAsync(CancellationToken.None);

        var appends = Enumerable.Range(0, 50).Select(i => writer.AppendAsync($"f1/m{i % 5}", Points(1 + (i * 10), 10))).ToList();

        await writer.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        await writer.DisposeAsync();
        await Task.WhenAll(appends);

        Assert.Equal(500, writer.Written);
        Assert.Equal(0, writer.Dropped);
        Assert.All(store.BatchSizes, size => Assert.InRange(size, 1, 100));
        var raw = await sqlite.ReadRawAsync(new HistoryQuery("f1", "m3", "temperature", Start.AddHours(-1), Start.AddHours(1), 1000));
        Assert.Equal(100, raw.Points.Length);
        sqlite.Dispose();
    }

    [Fact]
    public async Task A_failing_store_is_retried_until_it_takes_the_batch()
    {
        var store = new GatedStore(new MemoryHistoryStore()) { Failures = 2 };
        store.Open();
        await using var writer = NewWriter(store, new TwinHistoryOptions { FlushInterval = TimeSpan.Zero });
        await writer.StartAsync(CancellationToken.None);

        await writer.AppendAsync("f1/m1", Points(1, 5)).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(5, writer.Written);
        Assert.Equal(3, store.Attempts);
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _temp.Dispose();
    }

    private static HistoryWriter NewWriter(IHistoryStore store, TwinHistoryOptions options) =>
        new(store, Options.Create(options), NullLogger<HistoryWriter>.Instance);

    private static List<HistoryPoint> Points(int firstSeq, int count) =>
        [.. Enumerable.Range(firstSeq, count).Select(seq => new HistoryPoint("temperature", Start.AddSeconds(seq), seq, ReadingQuality.Good, 0, null, seq))];

    /// <summary>A real store behind a gate the test opens, that can also fail its first writes.</summary>
    private sealed class GatedStore(IHistoryStore inner) : IHistoryStore
    {
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile bool _waiting;

        public int Failures { get; set; }

        public int Attempts { get; private set; }

        public bool Waiting => _waiting;

        public System.Collections.Concurrent.ConcurrentQueue<int> BatchSizes { get; } = new();

        public string? UnavailableReason => null;

        public void Open() => _open.TrySetResult();

        public Task InitializeAsync(CancellationToken cancellationToken = default) => inner.InitializeAsync(cancellationToken);

        public async Task<int> WriteAsync(IReadOnlyList<HistoryEntry> entries, CancellationToken cancellationToken = default)
        {
            _waiting = true;
            await _open.Task.WaitAsync(cancellationToken);
            if (++Attempts <= Failures)
            {
                throw new IOException("the store is down");
            }

            BatchSizes.Enqueue(entries.Count);
            return await inner.WriteAsync(entries, cancellationToken);
        }

        public Task<HistoryPage<HistoryRawPoint>> ReadRawAsync(HistoryQuery query, CancellationToken cancellationToken = default) => inner.ReadRawAsync(query, cancellationToken);

        public Task<HistoryPage<HistoryBucket>> ReadAggregatesAsync(HistoryQuery query, TimeSpan step, CancellationToken cancellationToken = default) => inner.ReadAggregatesAsync(query, step, cancellationToken);

        public Task<HistoryPurge> PurgeAsync(DateTimeOffset rawBefore, DateTimeOffset aggregatesBefore, int batchSize, CancellationToken cancellationToken = default) =>
            inner.PurgeAsync(rawBefore, aggregatesBefore, batchSize, cancellationToken);
    }
}
