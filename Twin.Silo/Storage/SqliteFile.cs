using Microsoft.Data.Sqlite;

namespace Twin.Silo.Storage;

/// <summary>
/// One embedded SQLite file and how every store of it opens connections: the folder created,
/// pooled private-cache connections, the durability (<c>synchronous</c>) asked for, and a busy
/// timeout so a writer waits for another instead of failing. Grain state, reminders and the
/// history each use one.
/// </summary>
public sealed class SqliteFile
{
    private readonly string _connectionString;
    private readonly string _pragmas;

    /// <param name="fullSync">True: <c>synchronous=FULL</c> (a committed write survives power loss); false: <c>NORMAL</c>.</param>
    public SqliteFile(string path, bool fullSync = true)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        FilePath = path;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        _pragmas = $"PRAGMA synchronous = {(fullSync ? "FULL" : "NORMAL")}; PRAGMA busy_timeout = 30000;";
    }

    /// <summary>The file.</summary>
    public string FilePath { get; }

    /// <summary>
    /// The page cache of a store's one writing connection, in KiB (SQLite's default is 2 MiB). A
    /// writer touches pages all over the file (one row per twin, one leaf per history series):
    /// with 1,000 machines the working set is several MiB, and every page that fell out of a 2 MiB
    /// cache was read again from the log or the file before it could be changed. Pages are cached
    /// only as they are read, so a small file costs no more.
    /// </summary>
    public const int WriterCacheKiB = 32 * 1024;

    /// <summary>An open connection with the file's settings applied.</summary>
    public async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken = default)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            await using var pragma = connection.CreateCommand();
            pragma.CommandText = _pragmas;
            await pragma.ExecuteNonQueryAsync(cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>A connection for the store's one writer: the file's settings and a larger page cache.</summary>
    public async Task<SqliteConnection> OpenWriterAsync(CancellationToken cancellationToken = default)
    {
        var connection = await OpenAsync(cancellationToken);
        try
        {
            await using var pragma = connection.CreateCommand();
            pragma.CommandText = $"PRAGMA cache_size = -{WriterCacheKiB}";
            await pragma.ExecuteNonQueryAsync(cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }
}
