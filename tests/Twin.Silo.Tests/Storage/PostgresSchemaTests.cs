using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Twin.Testing;
using Twin.Silo.Storage;

namespace Twin.Silo.Tests.Storage;

/// <summary>The project's PostgreSQL schema on a real server: versioned, idempotent, and strict about grain state.</summary>
public sealed class PostgresSchemaTests(PostgresServerFixture postgres) : IClassFixture<PostgresServerFixture>
{
    [Fact]
    public async Task The_migrate_command_applies_every_version_once_and_then_reports_up_to_date()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("migrate_command");

        var first = await SiloProcess.MigrateAsync(connectionString);
        Assert.Contains($"now at version {PostgresSchema.RequiredVersion}", first, StringComparison.Ordinal);
        var second = await SiloProcess.MigrateAsync(connectionString);
        Assert.Contains($"Schema up to date (version {PostgresSchema.RequiredVersion})", second, StringComparison.Ordinal);

        Assert.Equal(PostgresSchema.RequiredVersion, await PostgresSchema.CurrentVersionAsync(connectionString));
        Assert.Equal(PostgresSchema.Scripts.Count, await ScalarAsync<long>(connectionString, "SELECT count(*) FROM twin_schema_version"));
        Assert.Equal(20, await ScalarAsync<long>(connectionString, "SELECT count(*) FROM orleansquery"));
    }

    [Fact]
    public async Task Silos_migrating_at_the_same_time_take_turns()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("migrate_race");

        var applied = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => PostgresSchema.MigrateAsync(connectionString, NullLogger.Instance)));

        // Exactly one of them applied each version; the others found the schema up to date.
        Assert.Equal(Enumerable.Range(1, PostgresSchema.RequiredVersion), applied.SelectMany(a => a).Order());
    }

    [Fact]
    public async Task A_second_first_write_of_the_same_grain_state_is_refused()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("first_write");
        await PostgresSchema.MigrateAsync(connectionString, NullLogger.Instance);
        var write = await ScalarAsync<string>(connectionString, "SELECT querytext FROM orleansquery WHERE querykey = 'WriteToStorageKey'");

        // Two activations of one twin that both read "no state" race to insert: one wins.
        var results = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => WriteAsync(connectionString, write, version: null)));
        Assert.Equal([1, null], results.OrderByDescending(r => r ?? 0));

        // Optimistic concurrency after that: the current version updates, a stale one does not.
        Assert.Equal(2, await WriteAsync(connectionString, write, version: 1));
        Assert.Null(await WriteAsync(connectionString, write, version: 1));

        // And the table itself refuses a duplicate row, whoever writes it.
        var duplicate = await Assert.ThrowsAsync<PostgresException>(() => ScalarAsync<int>(connectionString, """
            INSERT INTO twin_grain_state (service_id, state_name, grain_n0, grain_n1, grain_key, payload, version)
            VALUES ('svc', 'machine', 0, 0, 'machine/f/m1', NULL, 9) RETURNING version
            """));
        Assert.Equal(PostgresErrorCodes.UniqueViolation, duplicate.SqlState);
    }

    [Fact]
    public async Task A_silo_refuses_to_start_on_a_database_without_the_schema_and_names_the_fix()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("not_migrated");
        await using var silo = new SiloProcess(connectionString);

        var dll = Repository.ProgramDll("Twin.Silo");
        await using var process = ChildProcess.Start("dotnet", silo.Arguments, Path.GetDirectoryName(dll));
        var exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.NotEqual(0, exit);
        Assert.Contains("Run 'Twin.Silo migrate'", process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cluster_membership_on_PostgreSQL_without_PostgreSQL_storage_is_refused_at_start()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("bad_config");
        await using var silo = new SiloProcess(connectionString, new Dictionary<string, string> { ["Twin:Storage:Provider"] = "Sqlite" });

        var dll = Repository.ProgramDll("Twin.Silo");
        await using var process = ChildProcess.Start("dotnet", silo.Arguments, Path.GetDirectoryName(dll));
        var exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.NotEqual(0, exit);
        Assert.Contains("Twin:Cluster:Membership 'PostgreSql' needs Twin:Storage:Provider 'PostgreSql'", process.Output, StringComparison.Ordinal);
    }

    private static async Task<int?> WriteAsync(string connectionString, string query, int? version)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(query, connection);
        command.Parameters.AddWithValue("GrainIdHash", 1);
        command.Parameters.AddWithValue("GrainIdN0", 0L);
        command.Parameters.AddWithValue("GrainIdN1", 0L);
        command.Parameters.AddWithValue("GrainTypeHash", 2);
        command.Parameters.AddWithValue("GrainTypeString", "machine");
        command.Parameters.AddWithValue("GrainIdExtensionString", "machine/f/m1");
        command.Parameters.AddWithValue("ServiceId", "svc");
        command.Parameters.AddWithValue("GrainStateVersion", version is null ? DBNull.Value : version.Value);
        command.Parameters.AddWithValue("PayloadBinary", new byte[] { 1, 2, 3 });
        var result = await command.ExecuteScalarAsync();
        return result is DBNull or null ? null : (int)result;
    }

    private static async Task<T> ScalarAsync<T>(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }
}
