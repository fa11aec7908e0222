using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Twin.Silo.Storage;

/// <summary>
/// A prepared statement on SQLite's own API, for the writers' hot paths: bound and stepped per row
/// without the parameter object, boxed value, binder and reader ADO.NET allocates each time (those
/// were the largest share of what the gateway allocated under load). It runs on the connection's
/// handle, so inside whatever transaction the connection has begun. Bindings stay until bound
/// again; text and blobs are copied by SQLite when bound. Parameters are numbered (<c>?1</c>, <c>?2</c>, …).
/// </summary>
internal sealed class SqliteStatement : IDisposable
{
    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _statement;

    public SqliteStatement(SqliteConnection connection, string sql)
    {
        _db = connection.Handle ?? throw new InvalidOperationException("The SQLite connection is not open.");
        Check(raw.sqlite3_prepare_v2(_db, sql, out _statement));
    }

    public void Bind(int index, long value) => Check(raw.sqlite3_bind_int64(_statement, index, value));

    /// <summary>A finite value (SQLite stores NaN as NULL).</summary>
    public void Bind(int index, double value) => Check(raw.sqlite3_bind_double(_statement, index, value));

    public void Bind(int index, string value) => Check(raw.sqlite3_bind_text(_statement, index, value));

    /// <summary>Zero-terminated UTF-8, bound with its length so a NUL inside does not cut it short.</summary>
    public void BindText(int index, byte[] utf8z) =>
        // The empty text keeps its terminator: an empty span has no address and would bind NULL.
        Check(utf8z.Length > 1
            ? raw.sqlite3_bind_text(_statement, index, utf8z.AsSpan(0, utf8z.Length - 1))
            : raw.sqlite3_bind_text(_statement, index, SQLitePCL.utf8z.FromSpan(utf8z)));

    /// <summary>A blob (an empty one is a zero-length blob, not NULL).</summary>
    public void BindBlob(int index, ReadOnlySpan<byte> value) =>
        Check(value.IsEmpty ? raw.sqlite3_bind_zeroblob(_statement, index, 0) : raw.sqlite3_bind_blob(_statement, index, value));

    /// <summary>Runs the statement once with what is bound; returns the rows it changed.</summary>
    public int Run()
    {
        var rc = raw.sqlite3_step(_statement);
        var changed = rc == raw.SQLITE_DONE ? raw.sqlite3_changes(_db) : 0;
        raw.sqlite3_reset(_statement);
        if (rc != raw.SQLITE_DONE)
        {
            SqliteException.ThrowExceptionForRC(rc, _db);
        }

        return changed;
    }

    /// <summary>Runs the statement once; the first column of its first row as an integer, or null when it returns no row.</summary>
    public long? RunForInt64()
    {
        long? value = null;
        int rc;
        while ((rc = raw.sqlite3_step(_statement)) == raw.SQLITE_ROW)
        {
            value ??= raw.sqlite3_column_int64(_statement, 0);
        }

        raw.sqlite3_reset(_statement);
        if (rc != raw.SQLITE_DONE)
        {
            SqliteException.ThrowExceptionForRC(rc, _db);
        }

        return value;
    }

    public void Dispose() => _statement.Dispose();

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(rc, _db);
        }
    }
}
