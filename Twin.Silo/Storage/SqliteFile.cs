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
}
