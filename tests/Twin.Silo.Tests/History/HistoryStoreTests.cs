using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Twin.Grains.Infrastructure;
using Twin.Machines;
using Twin.Testing;
using Twin.History;
using Twin.Silo.History;
using Twin.Silo.Storage;

namespace Twin.Silo.Tests.History;

/// <summary>The embedded store: its own SQLite file.</summary>
public sealed class SqliteHistoryStoreTests : HistoryStoreContract, IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly List<SqliteHistoryStore> _stores = [];

    protected override async Task<IHistoryStore> CreateStoreAsync()
    {
        var store = new SqliteHistoryStore(_temp.Sub($"history-{_stores.Count}.db"), fullSync: false);
        _stores.Add(store);
        await store.InitializeAsync();
        return store;
    }

    [Fact]
    public async Task Sources_are_stored_whole_and_no_source_is_the_empty_source()
    {
        var store = await CreateStoreAsync();
        var device = new HistoryPoint("temperature", Start, 1, ReadingQuality.Good, 0, null, 7);
        var first = device with { Value = 2, Source = "a\0x" };
        var second = device with { Value = 3, Source = "a\0y" };
        var shorter = device with { Value = 4, Source = "a" };

        Assert.Equal(4, await store.WriteAsync([Entry("f1", "m1", device), Entry("f1", "m1", first), Entry("f1", "m1", second), Entry("f1", "m1", shorter)]));
        Assert.Equal(0, await store.WriteAsync([Entry("f1", "m1", device with { Source = "" }), Entry("f1", "m1", second)]));

        var raw = await store.ReadRawAsync(Query("f1", "m1", "temperature"));
        Assert.Equal([1.0, 2.0, 3.0, 4.0], raw.Points.Select(p => p.Value).Order());
    }

    [Fact]
    public async Task The_file_is_in_WAL_mode_and_has_a_readable_view()
    {
        var store = (SqliteHistoryStore)await CreateStoreAsync();
        await store.WriteAsync(Readings("f1", "m1", "temperature", count: 2).ToList());

        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={store.FilePath}");
        await connection.OpenAsync();
        await using var mode = connection.CreateCommand();
        mode.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", (string)(await mode.ExecuteScalarAsync())!);
        await using var view = connection.CreateCommand();
        view.CommandText = "SELECT factory || '/' || machine || ' ' || sensor || ' ' || time || ' ' || value FROM history ORDER BY time LIMIT 1";
        Assert.Equal("f1/m1 temperature 2026-11-26T08:00:00.000Z 21.0", (string)(await view.ExecuteScalarAsync())!);
    }

    public void Dispose()
    {
        foreach (var store in _stores)
        {
            store.Dispose();
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _temp.Dispose();
    }
}

/// <summary>The store of <c>Twin:Storage:Provider=Memory</c>.</summary>
public sealed class MemoryHistoryStoreTests : HistoryStoreContract
{
    protected override Task<IHistoryStore> CreateStoreAsync() => Task.FromResult<IHistoryStore>(new MemoryHistoryStore());
}

/// <summary>The cluster store, on a throwaway PostgreSQL server with the project's schema (one database per test).</summary>
public sealed class PostgresHistoryStoreTests(PostgresServerFixture postgres) : HistoryStoreContract, IClassFixture<PostgresServerFixture>, IAsyncLifetime
{
    private readonly List<PostgresHistoryStore> _stores = [];

    protected override async Task<IHistoryStore> CreateStoreAsync()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("history_" + Guid.NewGuid().ToString("N")[..12]);
        await PostgresSchema.MigrateAsync(connectionString, NullLogger.Instance);
        var store = new PostgresHistoryStore(connectionString);
        _stores.Add(store);
        await store.InitializeAsync();
        return store;
    }

    [Fact]
    public async Task Readings_are_visible_with_their_names_in_the_twin_history_view_and_the_key_refuses_a_second_copy()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("history_view");
        await PostgresSchema.MigrateAsync(connectionString, NullLogger.Instance);
        await using var store = new PostgresHistoryStore(connectionString);
        await store.WriteAsync(Readings("f1", "m1", "temperature", count: 3).ToList());

        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var view = new NpgsqlCommand("SELECT count(*) FROM twin_history WHERE factory = 'f1' AND machine = 'm1' AND sensor = 'temperature' AND source IS NULL", connection);
        Assert.Equal(3L, (long)(await view.ExecuteScalarAsync())!);
        await using var copy = new NpgsqlCommand("INSERT INTO twin_history_raw (series_id, ts, source, seq, value, quality, score) SELECT series_id, ts, source, seq, value, quality, score FROM twin_history_raw LIMIT 1", connection);
        var refused = await Assert.ThrowsAsync<PostgresException>(() => copy.ExecuteNonQueryAsync());
        Assert.Equal(PostgresErrorCodes.UniqueViolation, refused.SqlState);
    }

    [Fact]
    public async Task Two_silos_writing_the_same_readings_at_once_store_and_count_them_once()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("history_race");
        await PostgresSchema.MigrateAsync(connectionString, NullLogger.Instance);
        await using var first = new PostgresHistoryStore(connectionString);
        await using var second = new PostgresHistoryStore(connectionString);
        var entries = Readings("f1", "m1", "temperature", count: 400).ToList();

        var written = await Task.WhenAll(first.WriteAsync(entries), second.WriteAsync(entries));

        Assert.Equal(400, written.Sum());
        var minutes = await first.ReadAggregatesAsync(Query("f1", "m1", "temperature") with { To = Start.AddHours(2) }, TimeSpan.FromHours(1));
        Assert.Equal(400, minutes.Points.Sum(b => b.Count));
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }
    }
}
