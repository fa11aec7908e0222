using Microsoft.Data.Sqlite;
using SQLitePCL;
using Twin.Grains.Infrastructure;
using Twin.Silo.Storage;
using Twin.Machines;

using Twin.History;

namespace Twin.Silo.History;

/// <summary>
/// The history in its own SQLite file (embedded mode; by default <c>history.db</c> beside the twin
/// state file, so history writes never queue behind twin state writes), in WAL mode so the
/// gateway reads while the writer writes. Series (factory, machine, sensor) are numbered once;
/// raw readings and minutes are clustered by series and time (<c>WITHOUT ROWID</c>), so a range
/// query reads one contiguous stretch of the file.
/// </summary>
public sealed class SqliteHistoryStore : IHistoryStore, IDisposable
{
    private const int MaxCachedSources = 1024;

    // A reading already stored is a no-op (0 rows changed).
    private const string InsertRawSql = """
        INSERT INTO history_raw (series_id, ts, source, seq, value, quality, score)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
        ON CONFLICT DO NOTHING
        """;

    private const string UpsertMinuteSql = """
        INSERT INTO history_minute (series_id, minute, count, sum, min, max)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6)
        ON CONFLICT (series_id, minute) DO UPDATE SET
            count = count + excluded.count, sum = sum + excluded.sum,
            min = min(min, excluded.min), max = max(max, excluded.max)
        """;

    private readonly SqliteFile _file;
    private readonly SeriesIds _series = new();
    private readonly Dictionary<string, byte[]> _sources = new(StringComparer.Ordinal);
    private readonly Dictionary<(long Series, long Minute), MinuteAggregate> _minutes = [];
    private readonly SemaphoreSlim _writing = new(1, 1);
    private SqliteConnection? _writer;

    public SqliteHistoryStore(string path, bool fullSync = true)
    {
        _file = new SqliteFile(path, fullSync);
        FilePath = path;
    }

    /// <summary>The file.</summary>
    public string FilePath { get; }

    public string? UnavailableReason => null;

    public async Task InitializeAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS history_series (
                id      INTEGER PRIMARY KEY,
                factory TEXT NOT NULL,
                machine TEXT NOT NULL,
                sensor  TEXT NOT NULL,
                UNIQUE (factory, machine, sensor)
            );
            -- One row per accepted reading; the key makes writing the same reading twice a no-op.
            -- ts: microseconds since 1970-01-01 UTC; source: '' for the device itself; quality: 0 good, 1 uncertain, 2 bad.
            CREATE TABLE IF NOT EXISTS history_raw (
                series_id INTEGER NOT NULL,
                ts        INTEGER NOT NULL,
                source    TEXT    NOT NULL,
                seq       INTEGER NOT NULL,
                value     REAL    NOT NULL,
                quality   INTEGER NOT NULL,
                score     REAL    NOT NULL,
                PRIMARY KEY (series_id, ts, source, seq)
            ) WITHOUT ROWID;
            -- Per series and minute (minutes since 1970-01-01 UTC), of the readings that are not bad.
            CREATE TABLE IF NOT EXISTS history_minute (
                series_id INTEGER NOT NULL,
                minute    INTEGER NOT NULL,
                count     INTEGER NOT NULL,
                sum       REAL    NOT NULL,
                min       REAL    NOT NULL,
                max       REAL    NOT NULL,
                PRIMARY KEY (series_id, minute)
            ) WITHOUT ROWID;
            CREATE VIEW IF NOT EXISTS history AS
                SELECT s.factory, s.machine, s.sensor,
                       strftime('%Y-%m-%dT%H:%M:%fZ', r.ts / 1000000.0, 'unixepoch') AS time,
                       r.value, r.quality, r.score, nullif(r.source, '') AS source, r.seq
                FROM history_raw r JOIN history_series s ON s.id = r.series_id;
            """;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<int> WriteAsync(IReadOnlyList<HistoryEntry> entries, CancellationToken cancellationToken = default)
    {
        await _writing.WaitAsync(cancellationToken);
        try
        {
            _writer ??= await _file.OpenWriterAsync(cancellationToken);
            try
            {
                return await WriteAsync(_writer, entries, cancellationToken);
            }
            catch
            {
                // Unknown state: start again from a fresh connection and re-read the series ids.
                _series.Clear();
                await _writer.DisposeAsync();
                _writer = null;
                throw;
            }
        }
        finally
        {
            _writing.Release();
        }
    }

    private async Task<int> WriteAsync(SqliteConnection connection, IReadOnlyList<HistoryEntry> entries, CancellationToken cancellationToken)
    {
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        var minutes = _minutes;
        minutes.Clear();
        var inserted = 0;
        using (var insert = new SqliteStatement(connection, InsertRawSql))
        {
            foreach (var entry in entries)
            {
                var point = entry.Point;
                var id = _series.TryGet(entry.Factory, entry.Machine, point.Sensor, out var known)
                    ? known
                    : await SeriesIdAsync(connection, transaction, entry.Factory, entry.Machine, point.Sensor, cancellationToken);
                var micros = HistoryTime.ToMicros(point.Timestamp);
                insert.Bind(1, id);
                insert.Bind(2, micros);
                insert.BindText(3, SourceBytes(point.Source));
                insert.Bind(4, point.Seq);
                insert.Bind(5, point.Value);
                insert.Bind(6, (int)point.Quality);
                insert.Bind(7, point.AnomalyScore);
                if (insert.Run() != 1)
                {
                    // Stored already.
                    continue;
                }

                inserted++;
                if (MinuteAggregate.Takes(point))
                {
                    var key = (id, HistoryTime.MinuteOf(micros));
                    minutes.TryGetValue(key, out var aggregate);
                    aggregate.Add(point.Value);
                    minutes[key] = aggregate;
                }
            }
        }

        if (minutes.Count > 0)
        {
            using var upsert = new SqliteStatement(connection, UpsertMinuteSql);
            foreach (var ((id, minute), aggregate) in minutes)
            {
                upsert.Bind(1, id);
                upsert.Bind(2, minute);
                upsert.Bind(3, aggregate.Count);
                upsert.Bind(4, aggregate.Sum);
                upsert.Bind(5, aggregate.Min);
                upsert.Bind(6, aggregate.Max);
                upsert.Run();
            }
        }

        minutes.Clear();
        await transaction.CommitAsync(cancellationToken);
        return inserted;
    }

    /// <summary>A reading's source as zero-terminated UTF-8; the few distinct sources (most readings have none) are converted once.</summary>
    private byte[] SourceBytes(string? source)
    {
        source ??= "";
        if (!_sources.TryGetValue(source, out var bytes))
        {
            if (_sources.Count >= MaxCachedSources)
            {
                _sources.Clear();
            }

            bytes = utf8z.GetZeroTerminatedUTF8Bytes(source);
            _sources[source] = bytes;
        }

        return bytes;
    }

    private async Task<long> SeriesIdAsync(SqliteConnection connection, SqliteTransaction transaction, string factory, string machine, string sensor, CancellationToken cancellationToken)
    {
        if (_series.TryGet(factory, machine, sensor, out var id))
        {
            return id;
        }

        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            INSERT INTO history_series (factory, machine, sensor) VALUES ($factory, $machine, $sensor) ON CONFLICT DO NOTHING;
            SELECT id FROM history_series WHERE factory = $factory AND machine = $machine AND sensor = $sensor;
            """;
        command.Parameters.AddWithValue("$factory", factory);
        command.Parameters.AddWithValue("$machine", machine);
        command.Parameters.AddWithValue("$sensor", sensor);
        id = (long)(await command.ExecuteScalarAsync(cancellationToken))!;
        _series.Set(factory, machine, sensor, id);
        return id;
    }

    public async Task<HistoryPage<HistoryRawPoint>> ReadRawAsync(HistoryQuery query, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT r.ts, r.value, r.quality, r.score
            FROM history_raw r
            WHERE r.series_id = (SELECT id FROM history_series WHERE factory = $factory AND machine = $machine AND sensor = $sensor)
              AND r.ts >= $from AND r.ts < $to
            ORDER BY r.ts, r.source, r.seq
            LIMIT $limit
            """;
        AddSeries(command, query);
        command.Parameters.AddWithValue("$from", HistoryTime.ToMicros(query.From));
        command.Parameters.AddWithValue("$to", HistoryTime.ToMicros(query.To));
        command.Parameters.AddWithValue("$limit", query.Limit + 1L);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await HistoryPages.ReadAsync(reader, query.Limit, r => new HistoryRawPoint(HistoryTime.FromMicros(r.GetInt64(0)), r.GetDouble(1), (ReadingQuality)r.GetInt32(2), r.GetDouble(3)), cancellationToken);
    }

    public async Task<HistoryPage<HistoryBucket>> ReadAggregatesAsync(HistoryQuery query, TimeSpan step, CancellationToken cancellationToken = default)
    {
        var stepMinutes = HistoryTime.StepMinutes(step);
        var (first, end) = HistoryTime.MinuteRange(query.From, query.To, stepMinutes);
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        // Minutes from the first bucket's start are never negative relative to it, so the bucket is a plain division.
        command.CommandText = """
            SELECT $first + ((minute - $first) / $step) * $step AS bucket, sum(count), min(min), max(max), sum(sum)
            FROM history_minute
            WHERE series_id = (SELECT id FROM history_series WHERE factory = $factory AND machine = $machine AND sensor = $sensor)
              AND minute >= $first AND minute < $end
            GROUP BY bucket
            ORDER BY bucket
            LIMIT $limit
            """;
        AddSeries(command, query);
        command.Parameters.AddWithValue("$first", first);
        command.Parameters.AddWithValue("$end", end);
        command.Parameters.AddWithValue("$step", stepMinutes);
        command.Parameters.AddWithValue("$limit", query.Limit + 1L);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await HistoryPages.ReadAsync(reader, query.Limit, HistoryPages.Bucket, cancellationToken);
    }

    public async Task<HistoryPurge> PurgeAsync(DateTimeOffset rawBefore, DateTimeOffset aggregatesBefore, int batchSize, CancellationToken cancellationToken = default)
    {
        var ids = new List<long>();
        await using (var connection = await OpenAsync(cancellationToken))
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT id FROM history_series ORDER BY id";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                ids.Add(reader.GetInt64(0));
            }
        }

        long raw = 0, minutes = 0;
        foreach (var id in ids)
        {
            raw += await PurgeSeriesAsync("history_raw", "ts", id, HistoryTime.ToMicros(rawBefore), batchSize, cancellationToken);
            minutes += await PurgeSeriesAsync("history_minute", "minute", id, HistoryTime.MinuteOf(HistoryTime.ToMicros(aggregatesBefore)), batchSize, cancellationToken);
        }

        return new HistoryPurge(raw, minutes);
    }

    /// <summary>Deletes one series' rows before the cutoff, a batch per transaction, through the writer's connection so it never contends with it.</summary>
    private async Task<long> PurgeSeriesAsync(string table, string column, long series, long before, int batchSize, CancellationToken cancellationToken)
    {
        long total = 0;
        while (true)
        {
            int deleted;
            await _writing.WaitAsync(cancellationToken);
            try
            {
                _writer ??= await _file.OpenWriterAsync(cancellationToken);
                await using var command = _writer.CreateCommand();
                // Up to the batch-th oldest row (a few more when times tie); all of them when fewer are left.
                command.CommandText = $"""
                    DELETE FROM {table}
                    WHERE series_id = $series AND {column} < $before
                      AND {column} <= coalesce(
                          (SELECT {column} FROM {table} WHERE series_id = $series AND {column} < $before ORDER BY {column} LIMIT 1 OFFSET $offset),
                          $before)
                    """;
                command.Parameters.AddWithValue("$series", series);
                command.Parameters.AddWithValue("$before", before);
                command.Parameters.AddWithValue("$offset", batchSize - 1);
                deleted = await command.ExecuteNonQueryAsync(cancellationToken);
            }
            finally
            {
                _writing.Release();
            }

            total += deleted;
            if (deleted < batchSize)
            {
                return total;
            }
        }
    }

    public void Dispose()
    {
        _writer?.Dispose();
        _writing.Dispose();
    }

    private static void AddSeries(SqliteCommand command, HistoryQuery query)
    {
        command.Parameters.AddWithValue("$factory", query.Factory);
        command.Parameters.AddWithValue("$machine", query.Machine);
        command.Parameters.AddWithValue("$sensor", query.Sensor);
    }

    private Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken) => _file.OpenAsync(cancellationToken);
}
