using Twin.Hosting;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Twin.Grains.Infrastructure;

using Twin.History;

namespace Twin.Silo.History;

/// <summary>Registers the reading history: the writer in silos, the reader in client-mode gateways.</summary>
public static class HistoryHosting
{
    /// <summary>The history file of embedded mode, beside the twin state file.</summary>
    public const string SqliteFileName = "history.db";

    /// <summary>
    /// Binds <c>Twin:History</c> and registers the store chosen by <c>Twin:Storage</c>: PostgreSQL
    /// (<c>ConnectionString</c>), SQLite (<see cref="SqliteFileName"/> beside <c>SqlitePath</c>) or
    /// memory. With <paramref name="write"/> (a silo) also the <see cref="HistoryWriter"/> as the
    /// twins' <see cref="IHistorySink"/> and a hosted service; without (a client-mode gateway) only
    /// the <see cref="IHistoryReader"/>, which needs PostgreSQL. Registrations are <c>TryAdd</c>:
    /// whatever was registered before wins (tests).
    /// </summary>
    public static IServiceCollection AddTwinHistory(this IServiceCollection services, IConfiguration configuration, bool write)
    {
        services.AddTwinOptions<TwinHistoryOptions, TwinHistoryOptionsValidator>();
        var history = configuration.GetTwinOptions<TwinHistoryOptions, TwinHistoryOptionsValidator>();
        var storage = configuration.GetTwinOptions<TwinStorageOptions, TwinStorageOptionsValidator>();
        if (!history.Enabled)
        {
            services.TryAddSingleton<IHistoryReader>(new UnavailableHistoryReader("The history is switched off (Twin:History:Enabled=false)."));
            return services;
        }

        if (!write)
        {
            if (string.IsNullOrWhiteSpace(storage.ConnectionString) || storage.IsMemory)
            {
                services.TryAddSingleton<IHistoryReader>(new UnavailableHistoryReader(
                    "This gateway runs in client mode and reads the history from PostgreSQL: set Twin:Storage:ConnectionString to the cluster's database."));
            }
            else
            {
                services.TryAddSingleton<IHistoryReader>(_ => new PostgresHistoryStore(storage.ConnectionString));
            }

            return services;
        }

        services.TryAddSingleton<IHistoryStore>(sp => CreateStore(sp, storage));
        services.TryAddSingleton<IHistoryReader>(sp => sp.GetRequiredService<IHistoryStore>());
        services.TryAddSingleton(sp => new HistoryWriter(
            sp.GetRequiredService<IHistoryStore>(),
            sp.GetRequiredService<IOptions<TwinHistoryOptions>>(),
            sp.GetRequiredService<ILogger<HistoryWriter>>(),
            sp.GetService<TimeProvider>(),
            sp.GetService<IMeterFactory>()));
        services.TryAddSingleton<IHistorySink>(sp => sp.GetRequiredService<HistoryWriter>());
        services.AddHostedService(sp => sp.GetRequiredService<HistoryWriter>());
        return services;
    }

    private static IHistoryStore CreateStore(IServiceProvider services, TwinStorageOptions storage)
    {
        if (storage.IsPostgreSql)
        {
            return new PostgresHistoryStore(storage.ConnectionString!);
        }

        if (storage.IsMemory)
        {
            return new MemoryHistoryStore();
        }

        var environment = services.GetService<IHostEnvironment>();
        var statePath = Path.IsPathRooted(storage.SqlitePath) || environment is null
            ? storage.SqlitePath
            : Path.Combine(environment.ContentRootPath, storage.SqlitePath);
        var directory = Path.GetDirectoryName(Path.GetFullPath(statePath)) ?? ".";
        return new SqliteHistoryStore(Path.Combine(directory, SqliteFileName), storage.FullSync);
    }
}
