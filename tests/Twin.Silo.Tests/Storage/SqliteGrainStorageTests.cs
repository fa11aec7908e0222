using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Serialization;
using Twin.Silo.Storage;

namespace Twin.Silo.Tests.Storage;

/// <summary>The embedded grain storage under a steady stream of writes, as many twins make it.</summary>
public sealed class SqliteGrainStorageTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "twin-sqlite-" + Guid.NewGuid().ToString("N"));
    private readonly ServiceProvider _services = new ServiceCollection().AddSerializer().BuildServiceProvider();

    private string DbPath => Path.Combine(_directory, "twin.db");

    private SqliteGrainStorage Open() =>
        new(DbPath, fullSync: true, _services.GetRequiredService<Serializer>(), NullLogger<SqliteGrainStorage>.Instance);

    [Fact]
    public async Task The_write_ahead_log_stays_bounded_while_writes_never_pause_and_every_last_write_is_kept()
    {
        // 200 twins write 4 KB states, 150 times each, without pause: 120 MB through the log. The
        // writer does not checkpoint (that would stall every commit); the side loop must keep up.
        const int twins = 200, rounds = 150, size = 4096;
        var storage = Open();
        var states = Enumerable.Range(0, twins).Select(_ => new GrainState<byte[]>()).ToArray();
        var largestLog = 0L;
        for (var round = 0; round < rounds; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, twins).Select(t =>
            {
                var payload = new byte[size];
                Array.Fill(payload, (byte)round);
                BitConverter.TryWriteBytes(payload, t);
                states[t].State = payload;
                return storage.WriteStateAsync("machine", GrainId.Create("machine", $"f/m{t}"), states[t]);
            }));
            largestLog = Math.Max(largestLog, LogSize());
        }

        Assert.True(largestLog < 32L << 20, $"the write-ahead log reached {largestLog >> 20} MB for {(long)twins * rounds * size >> 20} MB written");

        await storage.StopAsync();
        storage.Dispose();
        var reopened = Open();
        for (var t = 0; t < twins; t++)
        {
            var read = new GrainState<byte[]>();
            await reopened.ReadStateAsync("machine", GrainId.Create("machine", $"f/m{t}"), read);
            Assert.Equal(t, BitConverter.ToInt32(read.State!));
            Assert.Equal((byte)(rounds - 1), read.State![size - 1]);
            Assert.Equal(rounds.ToString(System.Globalization.CultureInfo.InvariantCulture), read.ETag);
        }

        await reopened.StopAsync();
        reopened.Dispose();
    }

    [Fact]
    public async Task A_state_of_a_few_kilobytes_stays_in_its_row()
    {
        // 1,000 twins with 1.4 KB states (a machine with a few sensors): in the rowid table each
        // state sits in its row, two to a page; a WITHOUT ROWID table spilled every one to an
        // overflow page of its own (about 1,150 pages), written again with each write.
        const int twins = 1000, size = 1400;
        var storage = Open();
        var states = Enumerable.Range(0, twins).Select(_ => new GrainState<byte[]>()).ToArray();
        for (var round = 0; round < 3; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, twins).Select(t =>
            {
                var payload = new byte[size];
                payload[0] = (byte)round;
                states[t].State = payload;
                return storage.WriteStateAsync("machine", GrainId.Create("machine", $"f/m{t}"), states[t]);
            }));
        }

        await storage.StopAsync();
        storage.Dispose();
        await using var connection = new SqliteConnection($"Data Source={DbPath}");
        await connection.OpenAsync();
        var pages = await ScalarAsync(connection, "PRAGMA page_count") - await ScalarAsync(connection, "PRAGMA freelist_count");
        Assert.True(pages < twins * 3 / 4, $"{pages} pages in use for {twins} states of {size} bytes");
    }

    [Fact]
    public async Task A_file_from_the_earlier_table_is_moved_into_the_rowid_table_with_its_states_and_etags()
    {
        var serializer = _services.GetRequiredService<Serializer>();
        Directory.CreateDirectory(_directory);
        await using (var old = new SqliteConnection($"Data Source={DbPath}"))
        {
            await old.OpenAsync();
            await using var command = old.CreateCommand();
            command.CommandText = """
                PRAGMA journal_mode = WAL;
                CREATE TABLE grain_state (
                    state_name TEXT NOT NULL,
                    grain_id   TEXT NOT NULL,
                    etag       INTEGER NOT NULL,
                    payload    BLOB NOT NULL,
                    updated_at TEXT NOT NULL,
                    PRIMARY KEY (state_name, grain_id)
                ) WITHOUT ROWID;
                INSERT INTO grain_state VALUES ('machine', $a, 7, $pa, '2026-11-30T00:00:00Z'), ('bin', $b, 2, $pb, '2026-11-30T00:00:00Z');
                """;
            command.Parameters.AddWithValue("$a", GrainId.Create("machine", "f/m1").ToString());
            command.Parameters.AddWithValue("$pa", serializer.SerializeToArray("first twin"));
            command.Parameters.AddWithValue("$b", GrainId.Create("bin", "f/b1").ToString());
            command.Parameters.AddWithValue("$pb", serializer.SerializeToArray("second twin"));
            await command.ExecuteNonQueryAsync();
        }

        SqliteConnection.ClearAllPools();
        var storage = Open();
        var first = new GrainState<string>();
        await storage.ReadStateAsync("machine", GrainId.Create("machine", "f/m1"), first);
        var second = new GrainState<string>();
        await storage.ReadStateAsync("bin", GrainId.Create("bin", "f/b1"), second);
        Assert.Equal(("first twin", "7"), (first.State, first.ETag));
        Assert.Equal(("second twin", "2"), (second.State, second.ETag));

        // The ETags go on from where they were; a stale one is still refused.
        var stale = new GrainState<string> { State = "stale", ETag = "6", RecordExists = true };
        first.State = "first twin, again";
        await storage.WriteStateAsync("machine", GrainId.Create("machine", "f/m1"), first);
        Assert.Equal("8", first.ETag);
        await Assert.ThrowsAsync<Orleans.Storage.InconsistentStateException>(() => storage.WriteStateAsync("machine", GrainId.Create("machine", "f/m1"), stale));
        await storage.StopAsync();
        storage.Dispose();

        await using var connection = new SqliteConnection($"Data Source={DbPath}");
        await connection.OpenAsync();
        await using var schema = connection.CreateCommand();
        schema.CommandText = "SELECT group_concat(name) FROM sqlite_schema WHERE type = 'table'";
        Assert.Equal("grain_state", await schema.ExecuteScalarAsync());
        schema.CommandText = "SELECT sql FROM sqlite_schema WHERE name = 'grain_state'";
        Assert.DoesNotContain("WITHOUT ROWID", (string)(await schema.ExecuteScalarAsync())!, StringComparison.OrdinalIgnoreCase);
        var reread = new GrainState<string>();
        var reopened = Open();
        await reopened.ReadStateAsync("machine", GrainId.Create("machine", "f/m1"), reread);
        Assert.Equal(("first twin, again", "8"), (reread.State, reread.ETag));
        await reopened.StopAsync();
        reopened.Dispose();
    }

    [Fact]
    public async Task States_of_every_size_come_back_byte_for_byte_and_a_cleared_one_is_gone()
    {
        // Sizes from empty to 1 MB, written at once from many twins (the serialised bytes go
        // through pooled buffers of growing size, reused between writes), then again smaller.
        var sizes = new[] { 0, 1, 100, 4095, 4096, 4097, 70_000, 1 << 20 };
        var storage = Open();
        var states = sizes.Select(_ => new GrainState<byte[]>()).ToArray();
        foreach (var round in new[] { 1, 2 })
        {
            await Task.WhenAll(sizes.Select((size, t) =>
            {
                var payload = new byte[round == 1 ? size : size / 3];
                Random.Shared.NextBytes(payload);
                states[t].State = payload;
                return storage.WriteStateAsync("machine", GrainId.Create("machine", $"f/s{t}"), states[t]);
            }));
        }

        // The 1 MB state taught its own type to start big, not every other kind of state.
        Assert.True(storage.FirstBufferSize<byte[]>() > 1 << 20);
        Assert.Equal(4096, storage.FirstBufferSize<List<int>>());

        // A first write over a state that exists is refused like a stale ETag.
        var unaware = new GrainState<byte[]> { State = [1, 2, 3] };
        await Assert.ThrowsAsync<Orleans.Storage.InconsistentStateException>(() => storage.WriteStateAsync("machine", GrainId.Create("machine", "f/s0"), unaware));

        var cleared = new GrainState<List<int>> { State = [1, 2, 3] };
        await storage.WriteStateAsync("machine", GrainId.Create("machine", "f/cleared"), cleared);
        await storage.ClearStateAsync("machine", GrainId.Create("machine", "f/cleared"), cleared);
        await storage.StopAsync();
        storage.Dispose();

        var reopened = Open();
        for (var t = 0; t < sizes.Length; t++)
        {
            var read = new GrainState<byte[]>();
            await reopened.ReadStateAsync("machine", GrainId.Create("machine", $"f/s{t}"), read);
            Assert.Equal(states[t].State, read.State);
            Assert.Equal("2", read.ETag);
        }

        var gone = new GrainState<List<int>>();
        await reopened.ReadStateAsync("machine", GrainId.Create("machine", "f/cleared"), gone);
        Assert.False(gone.RecordExists);

        await reopened.StopAsync();
        reopened.Dispose();
    }

    private static async Task<long> ScalarAsync(SqliteConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private long LogSize() => File.Exists(DbPath + "-wal") ? new FileInfo(DbPath + "-wal").Length : 0;

    public void Dispose()
    {
        _services.Dispose();
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
