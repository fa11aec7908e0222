using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Twin.Grains.Infrastructure;
using Twin.Silo.Storage;

namespace Twin.Silo.Tests.Storage;

/// <summary>
/// The twins' wake rows in the two reminder tables the product runs on (the embedded SQLite one
/// and Orleans' ADO.NET one on a real PostgreSQL): Orleans' reminder service never reads them,
/// the sixteen sweepers read each exactly once, and a twin finds and removes its own.
/// </summary>
public sealed class WakeTableTests(PostgresServerFixture postgres) : IClassFixture<PostgresServerFixture>, IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "twin-wake-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task The_sqlite_table_keeps_wake_rows_away_from_orleans_and_gives_each_to_one_sweeper()
    {
        Directory.CreateDirectory(_directory);
        IReminderTable inner = new SqliteReminderTable(Path.Combine(_directory, "twin.db"));
        await inner.StartAsync();
        await CheckAsync(new WakeTable(inner));
    }

    [Fact]
    public async Task The_postgres_table_keeps_wake_rows_away_from_orleans_and_gives_each_to_one_sweeper()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("wake_rows");
        await PostgresSchema.MigrateAsync(connectionString, NullLogger.Instance);
        var builder = Host.CreateApplicationBuilder();
        builder.UseOrleans(silo => silo
            .UseLocalhostClustering(serviceId: "wake-test")
            .UseAdoNetReminderService(o =>
            {
                o.Invariant = "Npgsql";
                o.ConnectionString = connectionString;
            }));
        using var host = builder.Build();
        var inner = host.Services.GetRequiredService<IReminderTable>();
        await inner.StartAsync();
        await CheckAsync(new WakeTable(inner));
    }

    private static async Task CheckAsync(WakeTable table)
    {
        // 600 twins with a wake row each ("history"), 40 of them with an Orleans reminder too.
        var twins = Enumerable.Range(0, 600).Select(i => GrainId.Create("machine", $"plant/m{i}")).ToList();
        var start = new DateTime(2026, 12, 4, 8, 0, 0, DateTimeKind.Utc);
        await Task.WhenAll(twins.Select(id => table.UpsertRow(new ReminderEntry { GrainId = id, ReminderName = "history", StartAt = start, Period = WakeTable.WakePeriod })));
        foreach (var id in twins.Take(40))
        {
            await table.UpsertRow(new ReminderEntry { GrainId = id, ReminderName = "escalate", StartAt = start, Period = TimeSpan.FromMinutes(1) });
        }

        // Orleans reads its ranges and a grain's rows: only its own reminders.
        var orleans = await table.ReadRows(0, 0);
        Assert.Equal(40, orleans.Reminders.Count);
        Assert.All(orleans.Reminders, r => Assert.Equal("escalate", r.ReminderName));
        Assert.Equal(["escalate"], (await table.ReadRows(twins[0])).Reminders.Select(r => r.ReminderName));
        Assert.Empty((await table.ReadRows(twins[100])).Reminders);

        // The sweepers' ranges: every wake row once, no reminder.
        var swept = new List<ReminderEntry>();
        var sweepersWithRows = 0;
        for (var i = 0; i < WakeTable.Sweepers; i++)
        {
            var (begin, end) = WakeTable.SweeperRange(i);
            var rows = await table.ReadWakeRowsAsync(begin, end);
            sweepersWithRows += rows.Count > 0 ? 1 : 0;
            swept.AddRange(rows);
        }

        Assert.Equal(twins.Order(), swept.Select(r => r.GrainId).Order());
        Assert.All(swept, r => Assert.Equal("history", r.ReminderName));
        Assert.InRange(sweepersWithRows, 8, WakeTable.Sweepers);

        // A twin finds its own row and removes it; its Orleans reminder stays.
        var row = await table.ReadRow(twins[0], "history");
        Assert.NotNull(row);
        Assert.True(WakeTable.IsWake(row));
        Assert.True(await table.RemoveRow(twins[0], "history", row.ETag!));
        Assert.Null(await table.ReadRow(twins[0], "history"));
        Assert.NotNull(await table.ReadRow(twins[0], "escalate"));
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
