using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Twin.Silo.Storage;

/// <summary>
/// Orleans reminders in the embedded SQLite file, so a reminder (an outbox retry, an escalation)
/// survives a restart of the one-process mode. Reminders are few and slow, so each call opens a
/// pooled connection and writes directly.
/// </summary>
public sealed class SqliteReminderTable(string path) : IReminderTable
{
    // Reminders must survive power loss as the twins they serve do.
    private readonly SqliteFile _file = new(path, fullSync: true);

    public async Task Init()
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS reminders (
                grain_id   TEXT NOT NULL,
                name       TEXT NOT NULL,
                grain_hash INTEGER NOT NULL,
                start_at   INTEGER NOT NULL,
                period     INTEGER NOT NULL,
                etag       INTEGER NOT NULL,
                PRIMARY KEY (grain_id, name)
            );
            CREATE INDEX IF NOT EXISTS reminders_hash ON reminders (grain_hash);
            """;
        await command.ExecuteNonQueryAsync();
    }

    public async Task<ReminderTableData> ReadRows(GrainId grainId)
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT grain_id, name, start_at, period, etag FROM reminders WHERE grain_id = $id";
        command.Parameters.AddWithValue("$id", grainId.ToString());
        return new ReminderTableData(await ReadAsync(command));
    }

    public async Task<ReminderTableData> ReadRows(uint begin, uint end)
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();

        // The ring range (begin, end]; it wraps around when begin >= end.
        command.CommandText = begin < end
            ? "SELECT grain_id, name, start_at, period, etag FROM reminders WHERE grain_hash > $begin AND grain_hash <= $end"
            : "SELECT grain_id, name, start_at, period, etag FROM reminders WHERE grain_hash > $begin OR grain_hash <= $end";
        command.Parameters.AddWithValue("$begin", (long)begin);
        command.Parameters.AddWithValue("$end", (long)end);
        return new ReminderTableData(await ReadAsync(command));
    }

    public async Task<ReminderEntry?> ReadRow(GrainId grainId, string reminderName)
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT grain_id, name, start_at, period, etag FROM reminders WHERE grain_id = $id AND name = $name";
        command.Parameters.AddWithValue("$id", grainId.ToString());
        command.Parameters.AddWithValue("$name", reminderName);
        return (await ReadAsync(command)).FirstOrDefault();
    }

    public async Task<string?> UpsertRow(ReminderEntry entry)
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO reminders (grain_id, name, grain_hash, start_at, period, etag)
            VALUES ($id, $name, $hash, $start, $period, 1)
            ON CONFLICT (grain_id, name) DO UPDATE SET start_at = $start, period = $period, etag = etag + 1
            RETURNING etag
            """;
        command.Parameters.AddWithValue("$id", entry.GrainId.ToString());
        command.Parameters.AddWithValue("$name", entry.ReminderName);
        command.Parameters.AddWithValue("$hash", (long)entry.GrainId.GetUniformHashCode());
        command.Parameters.AddWithValue("$start", entry.StartAt.ToUniversalTime().Ticks);
        command.Parameters.AddWithValue("$period", entry.Period.Ticks);
        var etag = (long)(await command.ExecuteScalarAsync())!;
        return etag.ToString(CultureInfo.InvariantCulture);
    }

    public async Task<bool> RemoveRow(GrainId grainId, string reminderName, string eTag)
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "DELETE FROM reminders WHERE grain_id = $id AND name = $name AND etag = $etag";
        command.Parameters.AddWithValue("$id", grainId.ToString());
        command.Parameters.AddWithValue("$name", reminderName);
        command.Parameters.AddWithValue("$etag", long.TryParse(eTag, CultureInfo.InvariantCulture, out var e) ? e : -1);
        return await command.ExecuteNonQueryAsync() > 0;
    }

    public async Task TestOnlyClearTable()
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "DELETE FROM reminders";
        await command.ExecuteNonQueryAsync();
    }

    private Task<SqliteConnection> OpenAsync() => _file.OpenAsync();

    private static async Task<List<ReminderEntry>> ReadAsync(SqliteCommand command)
    {
        var entries = new List<ReminderEntry>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            entries.Add(new ReminderEntry
            {
                GrainId = GrainId.Parse(reader.GetString(0)),
                ReminderName = reader.GetString(1),
                StartAt = new DateTime(reader.GetInt64(2), DateTimeKind.Utc),
                Period = TimeSpan.FromTicks(reader.GetInt64(3)),
                ETag = reader.GetInt64(4).ToString(CultureInfo.InvariantCulture),
            });
        }

        return entries;
    }
}
