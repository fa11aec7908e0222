using Twin.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Twin.Silo.Storage;

/// <summary>
/// Runs before the silo when state lives in PostgreSQL: applies the schema when asked
/// (<c>Twin:Storage:MigrateOnStart</c>), otherwise refuses to start against a database whose
/// schema is older than this build needs, naming the command that fixes it.
/// </summary>
internal sealed partial class PostgresSchemaGate(IOptions<TwinStorageOptions> options, ILogger<PostgresSchemaGate> logger) : IHostedService
{
    private static readonly TimeSpan WaitForDatabase = TimeSpan.FromSeconds(60);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var storage = options.Value;
        if (!storage.IsPostgreSql)
        {
            return;
        }

        var connectionString = storage.ConnectionString!;
        var deadline = DateTime.UtcNow + WaitForDatabase;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (storage.MigrateOnStart)
                {
                    await PostgresSchema.MigrateAsync(connectionString, logger, cancellationToken);
                    return;
                }

                var version = await PostgresSchema.CurrentVersionAsync(connectionString, cancellationToken);
                if (version < PostgresSchema.RequiredVersion)
                {
                    throw new Twin.Hosting.TwinSettingsException(
                        $"The PostgreSQL schema is at version {version}; this build needs version {PostgresSchema.RequiredVersion}. " +
                        "Run 'Twin.Silo migrate' with the same Twin:Storage:ConnectionString, or set Twin:Storage:MigrateOnStart=true.");
                }

                if (version > PostgresSchema.RequiredVersion)
                {
                    LogNewerSchema(version, PostgresSchema.RequiredVersion);
                }

                return;
            }
            catch (Exception ex) when (ex is NpgsqlException { IsTransient: true } or TimeoutException && DateTime.UtcNow < deadline && !cancellationToken.IsCancellationRequested)
            {
                // The database may start after us (a fresh install, an orchestrator): wait a while.
                LogWaiting(ex, attempt);
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(attempt, 5)), cancellationToken);
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = TwinEvents.PostgresSchemaGateWaiting, Level = LogLevel.Warning, Message = "PostgreSQL is not reachable yet (attempt {Attempt})")]
    private partial void LogWaiting(Exception exception, int attempt);

    [LoggerMessage(EventId = TwinEvents.PostgresSchemaGateNewerSchema, Level = LogLevel.Warning, Message = "The PostgreSQL schema (version {Version}) is newer than this build knows ({Required}); running on it, as during a rolling upgrade")]
    private partial void LogNewerSchema(int version, int required);
}
