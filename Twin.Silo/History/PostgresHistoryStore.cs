using Npgsql;
using NpgsqlTypes;
using Twin.Machines;

using Twin.History;

namespace Twin.Silo.History;

/// <summary>
/// The history in PostgreSQL (cluster mode; tables from schema script 0004). A batch is one
/// statement: the readings go in as arrays, the ones that were new come back from the insert and
/// are folded into the minute aggregates by an upsert in the same statement, so a batch written
/// twice (a retry after a lost connection) counts every reading once.
/// </summary>
public sealed class PostgresHistoryStore : IHistoryStore, IAsyncDisposable
{
    // Only one silo cleans up at a time; the others skip that round. Any constant, the same everywhere.
    private const long CleanupLock = 0x7477_696E_0004;

    private readonly NpgsqlDataSource _dataSource;
    private readonly SeriesIds _series = new();

    public PostgresHistoryStore(string connectionString)
    {
        _dataSource = NpgsqlDataSource.Create(connectionString);
    }

    public string? UnavailableReason => null;

    public Task InitializeAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    public async Task<int> WriteAsync(IReadOnlyList<HistoryEntry> entries, CancellationToken cancellationToken = default)
    {
        if (entries.Count == 0)
        {
            return 0;
        }

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await EnsureSeriesAsync(connection, entries, cancellationToken);

        var series = new long[entries.Count];
        var ts = new DateTime[entries.Count];
        var source = new string[entries.Count];
        var seq = new long[entries.Count];
        var value = new double[entries.Count];
        var quality = new short[entries.Count];
        var score = new double[entries.Count];
        for (var i = 0; i < entries.Count; i++)
        {
            var (factory, machine, point) = entries[i];
            series[i] = _series.TryGet(factory, machine, point.Sensor, out var id) ? id : throw new InvalidOperationException($"No id for the series {factory}/{machine}/{point.Sensor}.");
            ts[i] = HistoryTime.Truncate(point.Timestamp).UtcDateTime;
            source[i] = point.Source ?? "";
            seq[i] = point.Seq;
            value[i] = point.Value;
            quality[i] = (short)point.Quality;
            score[i] = point.AnomalyScore;
        }

        await using var command = new NpgsqlCommand("""
            WITH input AS (
                SELECT * FROM unnest(@series, @ts, @source, @seq, @value, @quality, @score)
                    AS t(series_id, ts, source, seq, value, quality, score)),
            inserted AS (
                INSERT INTO twin_history_raw (series_id, ts, source, seq, value, quality, score)
                SELECT series_id, ts, source, seq, value, quality, score FROM input
                ON CONFLICT DO NOTHING
                RETURNING series_id, ts, value, quality),
            minutes AS (
                INSERT INTO twin_history_minute AS m (series_id, minute, count, sum, min, max)
                SELECT series_id, date_trunc('minute', ts, 'UTC'), count(*), sum(value), min(value), max(value)
                FROM inserted
                WHERE quality <> 2 AND value NOT IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8)
                GROUP BY 1, 2
                ORDER BY 1, 2
                ON CONFLICT ON CONSTRAINT twin_history_minute_once DO UPDATE
                SET count = m.count + excluded.count, sum = m.sum + excluded.sum,
                    min = least(m.min, excluded.min), max = greatest(m.max, excluded.max))
            SELECT count(*)::integer FROM inserted
            """, connection);
        command.Parameters.Add(new NpgsqlParameter<long[]>("series", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = series });
        command.Parameters.Add(new NpgsqlParameter<DateTime[]>("ts", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { TypedValue = ts });
        command.Parameters.Add(new NpgsqlParameter<string[]>("source", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = source });
        command.Parameters.Add(new NpgsqlParameter<long[]>("seq", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = seq });
        command.Parameters.Add(new NpgsqlParameter<double[]>("value", NpgsqlDbType.Array | NpgsqlDbType.Double) { TypedValue = value });
        command.Parameters.Add(new NpgsqlParameter<short[]>("quality", NpgsqlDbType.Array | NpgsqlDbType.Smallint) { TypedValue = quality });
        command.Parameters.Add(new NpgsqlParameter<double[]>("score", NpgsqlDbType.Array | NpgsqlDbType.Double) { TypedValue = score });
        return (int)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Numbers the series not seen yet, in their own committed statement (another silo may be numbering them too).</summary>
    private async Task EnsureSeriesAsync(NpgsqlConnection connection, IReadOnlyList<HistoryEntry> entries, CancellationToken cancellationToken)
    {
        var missing = entries.Select(e => (e.Factory, e.Machine, e.Point.Sensor)).Where(k => !_series.TryGet(k.Factory, k.Machine, k.Sensor, out _)).Distinct().ToList();
        if (missing.Count == 0)
        {
            return;
        }

        await using var command = new NpgsqlCommand("""
            INSERT INTO twin_history_series (factory, machine, sensor)
            SELECT * FROM unnest(@factory, @machine, @sensor)
            ON CONFLICT DO NOTHING;
            SELECT s.id, s.factory, s.machine, s.sensor
            FROM twin_history_series s
            JOIN unnest(@factory, @machine, @sensor) AS k(factory, machine, sensor) USING (factory, machine, sensor);
            """, connection);
        command.Parameters.Add(new NpgsqlParameter<string[]>("factory", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [.. missing.Select(k => k.Factory)] });
        command.Parameters.Add(new NpgsqlParameter<string[]>("machine", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [.. missing.Select(k => k.Machine)] });
        command.Parameters.Add(new NpgsqlParameter<string[]>("sensor", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [.. missing.Select(k => k.Sensor)] });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            _series.Set(reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt64(0));
        }
    }

    public async Task<HistoryPage<HistoryRawPoint>> ReadRawAsync(HistoryQuery query, CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand("""
            SELECT r.ts, r.value, r.quality, r.score
            FROM twin_history_raw r
            WHERE r.series_id = (SELECT id FROM twin_history_series WHERE factory = @factory AND machine = @machine AND sensor = @sensor)
              AND r.ts >= @from AND r.ts < @to
            ORDER BY r.ts, r.source, r.seq
            LIMIT @limit
            """);
        AddSeries(command, query);
        command.Parameters.AddWithValue("from", NpgsqlDbType.TimestampTz, query.From.UtcDateTime);
        command.Parameters.AddWithValue("to", NpgsqlDbType.TimestampTz, query.To.UtcDateTime);
        command.Parameters.AddWithValue("limit", query.Limit + 1L);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await HistoryPages.ReadAsync(reader, query.Limit, r => new HistoryRawPoint(new DateTimeOffset(r.GetDateTime(0)), r.GetDouble(1), (ReadingQuality)r.GetInt16(2), r.GetDouble(3)), cancellationToken);
    }

    public async Task<HistoryPage<HistoryBucket>> ReadAggregatesAsync(HistoryQuery query, TimeSpan step, CancellationToken cancellationToken = default)
    {
        var stepMinutes = HistoryTime.StepMinutes(step);
        var (first, end) = HistoryTime.MinuteRange(query.From, query.To, stepMinutes);
        await using var command = _dataSource.CreateCommand("""
            SELECT @first + ((extract(epoch FROM minute)::bigint / 60 - @first) / @step) * @step AS bucket,
                   sum(count)::bigint, min(min), max(max), sum(sum)
            FROM twin_history_minute
            WHERE series_id = (SELECT id FROM twin_history_series WHERE factory = @factory AND machine = @machine AND sensor = @sensor)
              AND minute >= @first_time AND minute < @end_time
            GROUP BY bucket
            ORDER BY bucket
            LIMIT @limit
            """);
        AddSeries(command, query);
        command.Parameters.AddWithValue("first", first);
        command.Parameters.AddWithValue("step", stepMinutes);
        command.Parameters.AddWithValue("first_time", NpgsqlDbType.TimestampTz, HistoryTime.FromMinutes(first).UtcDateTime);
        command.Parameters.AddWithValue("end_time", NpgsqlDbType.TimestampTz, HistoryTime.FromMinutes(end).UtcDateTime);
        command.Parameters.AddWithValue("limit", query.Limit + 1L);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await HistoryPages.ReadAsync(reader, query.Limit, HistoryPages.Bucket, cancellationToken);
    }

    public async Task<HistoryPurge> PurgeAsync(DateTimeOffset rawBefore, DateTimeOffset aggregatesBefore, int batchSize, CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using (var tryLock = new NpgsqlCommand($"SELECT pg_try_advisory_lock({CleanupLock})", connection))
        {
            if (!(bool)(await tryLock.ExecuteScalarAsync(cancellationToken))!)
            {
                return default;
            }
        }

        try
        {
            var ids = new List<long>();
            await using (var list = new NpgsqlCommand("SELECT id FROM twin_history_series ORDER BY id", connection))
            await using (var reader = await list.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    ids.Add(reader.GetInt64(0));
                }
            }

            long raw = 0, minutes = 0;
            foreach (var id in ids)
            {
                raw += await PurgeSeriesAsync(connection, "twin_history_raw", "ts", id, rawBefore, batchSize, cancellationToken);
                minutes += await PurgeSeriesAsync(connection, "twin_history_minute", "minute", id, aggregatesBefore, batchSize, cancellationToken);
            }

            return new HistoryPurge(raw, minutes);
        }
        finally
        {
            await using var unlock = new NpgsqlCommand($"SELECT pg_advisory_unlock({CleanupLock})", connection);
            await unlock.ExecuteScalarAsync(CancellationToken.None);
        }
    }

    private static async Task<long> PurgeSeriesAsync(NpgsqlConnection connection, string table, string column, long series, DateTimeOffset before, int batchSize, CancellationToken cancellationToken)
    {
        long total = 0;
        while (true)
        {
            // One short transaction per batch (autocommit), so cleanup never holds many locks for long.
            await using var command = new NpgsqlCommand($"""
                DELETE FROM {table}
                WHERE ctid = ANY (ARRAY(SELECT ctid FROM {table} WHERE series_id = @series AND {column} < @before LIMIT @batch))
                """, connection);
            command.Parameters.AddWithValue("series", series);
            command.Parameters.AddWithValue("before", NpgsqlDbType.TimestampTz, before.UtcDateTime);
            command.Parameters.AddWithValue("batch", batchSize);
            var deleted = await command.ExecuteNonQueryAsync(cancellationToken);
            total += deleted;
            if (deleted < batchSize)
            {
                return total;
            }
        }
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private static void AddSeries(NpgsqlCommand command, HistoryQuery query)
    {
        command.Parameters.AddWithValue("factory", query.Factory);
        command.Parameters.AddWithValue("machine", query.Machine);
        command.Parameters.AddWithValue("sensor", query.Sensor);
    }
}
