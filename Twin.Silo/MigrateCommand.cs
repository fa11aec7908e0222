using Twin.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Twin.Silo.Storage;

namespace Twin.Silo;

/// <summary><c>Twin.Silo migrate [--Twin:Storage:ConnectionString=...]</c>: applies the schema and exits.</summary>
internal static class MigrateCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        var configuration = new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddJsonFile($"appsettings.{Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT") ?? Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT") ?? "Production"}.json", optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine(args)
            .Build();
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true));
        var logger = loggers.CreateLogger("Twin.Silo.Migrate");
        var connectionString = configuration[$"{TwinStorageOptions.Section}:ConnectionString"];
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            await Console.Error.WriteLineAsync("Twin:Storage:ConnectionString is not set. Pass --Twin:Storage:ConnectionString=\"Host=...;Database=...;Username=...;Password=...\" or set Twin__Storage__ConnectionString.");
            return 2;
        }

        try
        {
            var applied = await PostgresSchema.MigrateAsync(connectionString, logger);
            Console.WriteLine(applied.Count == 0
                ? $"Schema up to date (version {PostgresSchema.RequiredVersion})."
                : $"Applied schema version(s) {string.Join(", ", applied)}; now at version {PostgresSchema.RequiredVersion}.");
            return 0;
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or ArgumentException or InvalidOperationException or TimeoutException)
        {
            await Console.Error.WriteLineAsync($"Migration failed: {ex.Message}");
            return 1;
        }
    }
}
