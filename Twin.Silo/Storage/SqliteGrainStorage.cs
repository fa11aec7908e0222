using System.Buffers;
using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Orleans.Serialization;
using Orleans.Storage;

namespace Twin.Silo.Storage;

/// <summary>
/// Grain storage in one SQLite file, for the embedded single-process mode. Writes from all grains
/// go through one writer that commits whatever is queued in a single transaction (group commit
/// across grains), so durability costs one fsync per batch rather than per write. Each write is
/// checked against its ETag (optimistic concurrency) and completes only after its transaction commits.
/// </summary>
public sealed partial class SqliteGrainStorage : IGrainStorage, IDisposable
{
    private const int MaxBatch = 512;

    // Past this a state that does not fit fails with the serializer's own error.
    private const int MaxPooledPayload = 256 << 20;

    private readonly SqliteFile _file;
    private readonly Serializer _serializer;
    private readonly ILogger<SqliteGrainStorage> _logger;
    private readonly Channel<WriteOperation> _writes = Channel.CreateUnbounded<WriteOperation>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SemaphoreSlim _initializing = new(1, 1);
    private volatile bool _initialized;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _writer;
    private Task? _checkpointer;
    private long _logFrames;
    // The buffer size each kind of state starts from: one hint for all would let the largest state
    // (a factory directory of thousands of ids) make every small twin rent, and the pool keep, its size.
    private const int FirstPayloadSize = 4096;
    private readonly ConcurrentDictionary<Type, int> _payloadSizes = new();
    private static readonly TimeSpan CheckpointPeriod = TimeSpan.FromMilliseconds(50);

    // 4,096 frames of 4 KiB pages: the log restarts at about 16 MiB, and is cut back to that size.
    private const long RestartFrames = 4096;
    private const long JournalSizeLimit = 16L << 20;

    // Each frame carries a 24-byte header besides its page: 4,096 frames fill a little over 16 MiB.
    private const long LogFileSlack = RestartFrames * 24 + 32;

    // How often the writer tries to finish a checkpoint the side loop is in (about 1 ms apart).
    private const int MaxBoundAttempts = 50;

    public SqliteGrainStorage(string path, bool fullSync, Serializer serializer, ILogger<SqliteGrainStorage> logger)
    {
        _file = new SqliteFile(path, fullSync);
        _serializer = serializer;
        _logger = logger;
    }

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        await EnsureInitializedAsync();
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT etag, payload FROM grain_state WHERE state_name = $name AND grain_id = $id";
        command.Parameters.AddWithValue("$name", stateName);
        command.Parameters.AddWithValue("$id", grainId.ToString());
        await using var reader = await command.ExecuteReaderAsync();
        if (await reader.ReadAsync())
        {
            var etag = reader.GetInt64(0);
            var payload = (byte[])reader.GetValue(1);
            grainState.State = _serializer.Deserialize<T>(payload);
            grainState.ETag = etag.ToString(System.Globalization.CultureInfo.InvariantCulture);
            grainState.RecordExists = true;
        }
        else
        {
            grainState.State = Activator.CreateInstance<T>();
            grainState.ETag = null;
            grainState.RecordExists = false;
        }
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        // Serialise now, in the caller's turn, so the bytes are a consistent picture of the state;
        // into a pooled buffer, given back once the write is done (SQLite copies what it binds).
        var (buffer, length) = Serialize(grainState.State);
        try
        {
            var etag = await EnqueueAsync(new WriteOperation(stateName, grainId.ToString(), grainState.ETag, new ArraySegment<byte>(buffer, 0, length)));
            grainState.ETag = etag;
            grainState.RecordExists = true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The buffer size the next state of type <typeparamref name="T"/> is serialised into first.</summary>
    internal int FirstBufferSize<T>() => _payloadSizes.TryGetValue(typeof(T), out var known) ? known : FirstPayloadSize;

    /// <summary>The state serialised into a pooled buffer, grown (and the size to start from with it) until the state fits.</summary>
    private (byte[] Buffer, int Length) Serialize<T>(T state)
    {
        var size = FirstBufferSize<T>();
        while (true)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(size);
            try
            {
                return (buffer, _serializer.Serialize(state, buffer));
            }
            catch (InvalidOperationException) when (buffer.Length < MaxPooledPayload)
            {
                // Too small (the serializer says so with this exception): twice the size.
                ArrayPool<byte>.Shared.Return(buffer);
                size = buffer.Length * 2;
                _payloadSizes.AddOrUpdate(typeof(T), static (_, grown) => grown, static (_, current, grown) => Math.Max(current, grown), size);
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(buffer);
                throw;
            }
        }
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        await EnqueueAsync(new WriteOperation(stateName, grainId.ToString(), grainState.ETag, default));
        grainState.ETag = null;
        grainState.RecordExists = false;
        grainState.State = Activator.CreateInstance<T>();
    }

    /// <summary>Stops the writer after it has committed everything queued.</summary>
    public async Task StopAsync()
    {
        _writes.Writer.TryComplete();
        if (_writer is not null)
        {
            await _writer;
        }

        // Nothing more to copy once the writer is done: the last connection to close checkpoints the rest.
        await _stopping.CancelAsync();
        if (_checkpointer is not null)
        {
            await _checkpointer;
        }
    }

    public void Dispose()
    {
        _writes.Writer.TryComplete();
        _stopping.Cancel();
        _stopping.Dispose();
        _initializing.Dispose();
    }

    private async Task<string?> EnqueueAsync(WriteOperation operation)
    {
        await EnsureInitializedAsync();
        if (!_writes.Writer.TryWrite(operation))
        {
            throw new InvalidOperationException("Grain storage is shutting down.");
        }

        return await operation.Completion.Task;
    }

    /// <summary>Creates the table and starts the writer; a failure is not cached, the next call tries again.</summary>
    private async Task EnsureInitializedAsync()
    {
        if (_initialized)
        {
            return;
        }

        await _initializing.WaitAsync();
        try
        {
            if (!_initialized)
            {
                await InitializeAsync();
                _initialized = true;
            }
        }
        finally
        {
            _initializing.Release();
        }
    }

    private async Task InitializeAsync()
    {
        await using (var connection = await OpenAsync())
        {
            await using (var command = connection.CreateCommand())
            {
                command.CommandText = "PRAGMA journal_mode = WAL;" + CreateTable("grain_state");
                await command.ExecuteNonQueryAsync();
            }

            await UpgradeTableAsync(connection);
        }

        _writer = Task.Run(WriterLoopAsync);
        _checkpointer = Task.Run(CheckpointLoopAsync);
    }

    /// <summary>
    /// A rowid table: a state of up to about 4 KB sits in its row, so a write changes one page. (As
    /// a WITHOUT ROWID table, whose rows keep at most about 1 KB in the page, every twin's state
    /// spilled to an overflow page, freed and taken again on each write: three pages a write.)
    /// </summary>
    private static string CreateTable(string name) => $"""
        CREATE TABLE IF NOT EXISTS {name} (
            state_name TEXT NOT NULL,
            grain_id   TEXT NOT NULL,
            etag       INTEGER NOT NULL,
            payload    BLOB NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (state_name, grain_id)
        );
        """;

    /// <summary>Moves the states of a file written before the rowid table into one, in one transaction.</summary>
    private async Task UpgradeTableAsync(SqliteConnection connection)
    {
        await using (var check = connection.CreateCommand())
        {
            check.CommandText = "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'grain_state'";
            if (await check.ExecuteScalarAsync() is not string sql || !sql.Contains("WITHOUT ROWID", StringComparison.OrdinalIgnoreCase))
            {
                return;
            }
        }

        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync();
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "DROP TABLE IF EXISTS grain_state_upgrade;" + CreateTable("grain_state_upgrade") + """
            INSERT INTO grain_state_upgrade (state_name, grain_id, etag, payload, updated_at)
                SELECT state_name, grain_id, etag, payload, updated_at FROM grain_state;
            DROP TABLE grain_state;
            ALTER TABLE grain_state_upgrade RENAME TO grain_state;
            """;
        await command.ExecuteNonQueryAsync();
        command.CommandText = "SELECT count(*) FROM grain_state";
        var moved = (long)(await command.ExecuteScalarAsync() ?? 0L);
        await transaction.CommitAsync();
        LogTableUpgraded(moved);
    }

    /// <summary>
    /// The writer does not checkpoint on every commit (a checkpoint inside a commit holds up every
    /// twin waiting for it): this loop copies the write-ahead log into the database on its own
    /// connection, passively, while commits go on.
    /// </summary>
    private async Task CheckpointLoopAsync()
    {
        try
        {
            await using var connection = await OpenAsync();
            while (!_stopping.IsCancellationRequested)
            {
                await Task.Delay(CheckpointPeriod, _stopping.Token);
                try
                {
                    var (_, log, _) = await CheckpointAsync(connection, _stopping.Token);
                    Volatile.Write(ref _logFrames, log);
                }
                catch (SqliteException ex)
                {
                    LogCheckpointFailed(ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// Under writes that never pause, the log never gets the moment to start over: past its bound,
    /// the writer finishes the checkpoint itself between two commits (only what the loop has not
    /// copied yet), and its next commit starts the log over. The loop's count of frames can be late
    /// (a busy machine runs it late); the log file growing past the bound is the writer's own sign,
    /// since a log that starts over is cut back to the bound and grows past it only by appending.
    /// </summary>
    private async Task BoundLogAsync(SqliteConnection connection)
    {
        if (Volatile.Read(ref _logFrames) < RestartFrames && LogFileLength() <= JournalSizeLimit + LogFileSlack)
        {
            return;
        }

        try
        {
            // The side loop may be checkpointing right now (busy): wait for it a little and finish
            // the copy, or the next commits go on appending and the log outgrows its bound.
            for (var attempt = 0; attempt < MaxBoundAttempts; attempt++)
            {
                var (busy, log, copied) = await CheckpointAsync(connection, CancellationToken.None);
                if (!busy && copied == log)
                {
                    Volatile.Write(ref _logFrames, 0);
                    return;
                }

                await Task.Delay(1);
            }
        }
        catch (SqliteException ex)
        {
            LogCheckpointFailed(ex);
        }
    }

    private Task<SqliteConnection> OpenAsync() => _file.OpenAsync();

    private long LogFileLength()
    {
        var log = new FileInfo(_file.FilePath + "-wal");
        return log.Exists ? log.Length : 0;
    }

    /// <summary>A passive checkpoint: whether another checkpoint was running, the frames in the log, and how many of them are in the database now.</summary>
    private static async Task<(bool Busy, long Log, long Copied)> CheckpointAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA wal_checkpoint(PASSIVE)";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? (reader.GetInt64(0) != 0, reader.GetInt64(1), reader.GetInt64(2)) : (false, 0, 0);
    }

    private async Task<SqliteConnection> OpenWriterAsync()
    {
        var connection = await _file.OpenWriterAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {JournalSizeLimit}";
        await command.ExecuteNonQueryAsync();
        return connection;
    }

    private async Task WriterLoopAsync()
    {
        var batch = new List<WriteOperation>(MaxBatch);
        SqliteConnection? connection = null;
        WriterStatements? statements = null;
        try
        {
            while (await _writes.Reader.WaitToReadAsync())
            {
                batch.Clear();
                while (batch.Count < MaxBatch && _writes.Reader.TryRead(out var op))
                {
                    batch.Add(op);
                }

                try
                {
                    if (connection is null)
                    {
                        connection = await OpenWriterAsync();
                        statements = new WriterStatements(connection);
                    }

                    await CommitBatchAsync(connection, statements!, batch);
                    await BoundLogAsync(connection);
                }
                catch (Exception ex)
                {
                    // The batch fails as a whole (its callers retry through their grains); the
                    // connection is reopened for the next batch, so one bad moment does not stop the writer.
                    LogWriteFailed(ex, batch.Count);
                    foreach (var op in batch)
                    {
                        op.Completion.TrySetException(ex);
                    }

                    statements?.Dispose();
                    statements = null;
                    if (connection is not null)
                    {
                        await connection.DisposeAsync();
                        connection = null;
                    }

                    await Task.Delay(TimeSpan.FromMilliseconds(100));
                }
            }
        }
        finally
        {
            statements?.Dispose();
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }

            // Whatever is still queued when the writer ends must not wait forever.
            while (_writes.Reader.TryRead(out var op))
            {
                op.Completion.TrySetException(new InvalidOperationException("Grain storage is shutting down."));
            }
        }
    }

    private static async Task CommitBatchAsync(SqliteConnection connection, WriterStatements statements, List<WriteOperation> batch)
    {
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync();
        statements.Begin(DateTimeOffset.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        var results = new List<(WriteOperation Op, long? Etag, Exception? Error)>(batch.Count);
        foreach (var op in batch)
        {
            try
            {
                results.Add((op, statements.Apply(op), null));
            }
            catch (InconsistentStateException ex)
            {
                results.Add((op, null, ex));
            }
        }

        await transaction.CommitAsync();
        foreach (var (op, etag, error) in results)
        {
            if (error is not null)
            {
                op.Completion.TrySetException(error);
            }
            else
            {
                op.Completion.TrySetResult(etag?.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        }
    }

    /// <summary>
    /// The writer's three statements, prepared once per connection and bound again for each write
    /// (a new command per write would parse and plan its SQL every time).
    /// </summary>
    private sealed class WriterStatements(SqliteConnection connection) : IDisposable
    {
        // ?1 state name, ?2 grain id, ?3 payload, ?4 time of the transaction, ?5 the ETag read.
        private readonly SqliteStatement _insert = new(connection, """
            INSERT INTO grain_state (state_name, grain_id, etag, payload, updated_at)
            VALUES (?1, ?2, 1, ?3, ?4)
            ON CONFLICT DO NOTHING
            RETURNING etag
            """);

        private readonly SqliteStatement _update = new(connection, """
            UPDATE grain_state SET etag = etag + 1, payload = ?3, updated_at = ?4
            WHERE state_name = ?1 AND grain_id = ?2 AND etag = ?5
            RETURNING etag
            """);

        private readonly SqliteStatement _delete = new(connection, "DELETE FROM grain_state WHERE state_name = ?1 AND grain_id = ?2");

        /// <summary>For the writes of one transaction, stamped with one time.</summary>
        public void Begin(string now)
        {
            _insert.Bind(4, now);
            _update.Bind(4, now);
        }

        public long? Apply(WriteOperation op)
        {
            if (op.Payload.Array is null)
            {
                _delete.Bind(1, op.StateName);
                _delete.Bind(2, op.GrainId);
                _delete.Run();
                return null;
            }

            var statement = op.ETag is null ? _insert : _update;
            statement.Bind(1, op.StateName);
            statement.Bind(2, op.GrainId);
            statement.BindBlob(3, op.Payload);
            if (op.ETag is not null)
            {
                statement.Bind(5, long.Parse(op.ETag, System.Globalization.CultureInfo.InvariantCulture));
            }

            return statement.RunForInt64() ?? throw new InconsistentStateException(
                $"The stored state of {op.GrainId} ({op.StateName}) changed since it was read (ETag {op.ETag ?? "none"}).",
                "unknown",
                op.ETag ?? "none");
        }

        public void Dispose()
        {
            _insert.Dispose();
            _update.Dispose();
            _delete.Dispose();
        }
    }

    [LoggerMessage(EventId = TwinEvents.SqliteGrainStorageCheckpointFailed, Level = LogLevel.Warning, Message = "Checkpointing the SQLite write-ahead log failed (tried again)")]
    private partial void LogCheckpointFailed(Exception exception);

    [LoggerMessage(EventId = TwinEvents.SqliteGrainStorageUpgraded, Level = LogLevel.Information, Message = "Moved {States} grain states of an earlier SQLite file into the rowid table")]
    private partial void LogTableUpgraded(long states);

    [LoggerMessage(EventId = TwinEvents.SqliteGrainStorageWriteFailed, Level = LogLevel.Error, Message = "Writing a batch of {Count} grain states to SQLite failed")]
    private partial void LogWriteFailed(Exception exception, int count);

    /// <summary>A write, or with no payload (no array) a delete.</summary>
    private sealed record WriteOperation(string StateName, string GrainId, string? ETag, ArraySegment<byte> Payload)
    {
        public TaskCompletionSource<string?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
