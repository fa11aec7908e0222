using System.Globalization;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Twin.Silo.Storage;

/// <summary>
/// The project's PostgreSQL schema: versioned scripts (embedded <c>Schema/PostgreSql/NNNN_name.sql</c>)
/// applied in order, each once, recorded in <c>twin_schema_version</c>. Several silos may migrate
/// at the same time: an advisory lock makes them take turns, and each script is idempotent.
/// </summary>
public static partial class PostgresSchema
{
    // Any constant works; it only has to be the same for every process migrating this database.
    private const long MigrationLock = 0x7477_696E_0006;

    /// <summary>The scripts this build carries, in version order.</summary>
    public static IReadOnlyList<SchemaScript> Scripts { get; } = LoadScripts();

    /// <summary>The version this build needs (the newest script).</summary>
    public static int RequiredVersion => Scripts[^1].Version;

    /// <summary>Applies every script not applied yet; returns the versions it applied.</summary>
    public static async Task<IReadOnlyList<int>> MigrateAsync(string connectionString, ILogger logger, CancellationToken cancellationToken = default)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await ExecuteAsync(connection, transaction, $"SELECT pg_advisory_xact_lock({MigrationLock.ToString(CultureInfo.InvariantCulture)})", cancellationToken);
        await ExecuteAsync(connection, transaction, """
            CREATE TABLE IF NOT EXISTS twin_schema_version
            (
                version    integer     NOT NULL PRIMARY KEY,
                name       text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """, cancellationToken);

        var applied = await AppliedAsync(connection, transaction, cancellationToken);
        var done = new List<int>();
        foreach (var script in Scripts.Where(s => !applied.Contains(s.Version)))
        {
            await ExecuteAsync(connection, transaction, script.Sql, cancellationToken);
            await using var record = new NpgsqlCommand("INSERT INTO twin_schema_version (version, name) VALUES (@version, @name)", connection, transaction);
            record.Parameters.AddWithValue("version", script.Version);
            record.Parameters.AddWithValue("name", script.Name);
            await record.ExecuteNonQueryAsync(cancellationToken);
            LogApplied(logger, script.Version, script.Name);
            done.Add(script.Version);
        }

        await transaction.CommitAsync(cancellationToken);
        if (done.Count == 0)
        {
            LogUpToDate(logger, RequiredVersion);
        }

        return done;
    }

    /// <summary>The newest applied version, or 0 for a database that was never migrated.</summary>
    public static async Task<int> CurrentVersionAsync(string connectionString, CancellationToken cancellationToken = default)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var exists = new NpgsqlCommand("SELECT to_regclass('twin_schema_version') IS NOT NULL", connection);
        if (!(bool)(await exists.ExecuteScalarAsync(cancellationToken))!)
        {
            return 0;
        }

        await using var command = new NpgsqlCommand("SELECT coalesce(max(version), 0) FROM twin_schema_version", connection);
        return Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    private static async Task<HashSet<int>> AppliedAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var versions = new HashSet<int>();
        await using var command = new NpgsqlCommand("SELECT version FROM twin_schema_version", connection, transaction);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            versions.Add(reader.GetInt32(0));
        }

        return versions;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static List<SchemaScript> LoadScripts()
    {
        var assembly = typeof(PostgresSchema).Assembly;
        const string Prefix = "Twin.Silo.Schema.PostgreSql.";
        var scripts = new List<SchemaScript>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal)))
        {
            var file = resource[Prefix.Length..^".sql".Length];
            var separator = file.IndexOf('_', StringComparison.Ordinal);
            var version = int.Parse(file[..separator], CultureInfo.InvariantCulture);
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            scripts.Add(new SchemaScript(version, file[(separator + 1)..], reader.ReadToEnd()));
        }

        scripts.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 0; i < scripts.Count; i++)
        {
            if (scripts[i].Version != i + 1)
            {
                throw new InvalidOperationException($"Schema scripts must be numbered 1..n without gaps; found {scripts[i].Version} at position {i + 1}.");
            }
        }

        return scripts;
    }

    [LoggerMessage(EventId = TwinEvents.PostgresSchemaApplied, Level = LogLevel.Information, Message = "Applied schema version {Version} ({Name})")]
    private static partial void LogApplied(ILogger logger, int version, string name);

    [LoggerMessage(EventId = TwinEvents.PostgresSchemaUpToDate, Level = LogLevel.Information, Message = "The database schema is up to date (version {Version})")]
    private static partial void LogUpToDate(ILogger logger, int version);
}

/// <summary>One versioned schema script.</summary>
public sealed record SchemaScript(int Version, string Name, string Sql);
