using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Twin.Grains.Infrastructure;
using Twin.Machines;
using Twin.History;
using Twin.Silo.History;
using Twin.Silo.Storage;

namespace Twin.Bench;

/// <summary>
/// <c>history</c>: fills a fresh history store through the product's writer (machines × sensors,
/// one reading per sensor per second, as twins hand them over), then times aggregated and raw
/// queries the way the history endpoint runs them.
/// </summary>
public static class HistoryBenchmark
{
    public const string Usage = "[--points 1000000] [--machines 10] [--sensors 10] [--runs 20] [--provider sqlite|postgres] [--path FILE (sqlite; default: a new temporary file)] [--connection \"Host=...;Database=...\" (postgres: an empty database)]";

    /// <summary>The target of the history's acceptance: an aggregated query over a store of a million readings answers within this.</summary>
    private static readonly TimeSpan Target = TimeSpan.FromSeconds(1);

    private const string Factory = "bench";

    public static async Task<int> RunAsync(BenchArguments args)
    {
        int points, machines, sensors, runs;
        string provider;
        string? path, connection;
        try
        {
            points = args.Number("points", 1_000_000, 1, 100_000_000);
            machines = args.Number("machines", 10, 1, 10_000);
            sensors = args.Number("sensors", 10, 1, 500);
            runs = args.Number("runs", 20, 1, 10_000);
            provider = args.Text("provider", "sqlite").ToLowerInvariant();
            path = args.Text("path");
            connection = args.Text("connection");
            args.RejectUnknown();
            if (provider is not ("sqlite" or "postgres"))
            {
                throw new FormatException($"--provider is '{provider}'; use sqlite or postgres");
            }

            if (provider == "postgres" && string.IsNullOrWhiteSpace(connection))
            {
                throw new FormatException("--provider postgres needs --connection \"Host=...;Database=...;Username=...\" (an empty database; the schema is applied)");
            }

            if (points < machines * sensors)
            {
                throw new FormatException($"--points must be at least machines × sensors ({machines * sensors})");
            }
        }
        catch (FormatException ex)
        {
            Console.Error.WriteLine($"history: {ex.Message}\nusage: history {Usage}");
            return 2;
        }

        var perSeries = points / (machines * sensors);
        var total = (long)perSeries * machines * sensors;
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));

        TempDirectory? temporary = null;
        IHistoryStore store;
        string storeName;
        if (provider == "sqlite")
        {
            if (path is null)
            {
                temporary = new TempDirectory("twin-bench-history");
                path = temporary.Sub(HistoryHosting.SqliteFileName);
            }
            else if (File.Exists(path))
            {
                Console.Error.WriteLine($"history: {path} exists; the benchmark fills a fresh store (remove it or pass another --path)");
                return 2;
            }

            store = new SqliteHistoryStore(path);
            storeName = "SQLite (WAL, synchronous=FULL: the embedded default)";
        }
        else
        {
            await PostgresSchema.MigrateAsync(connection!, NullLogger.Instance);
            if (await ScalarAsync<long>(connection!, "SELECT count(*) FROM twin_history_series") > 0)
            {
                Console.Error.WriteLine("history: the database already holds history; the benchmark fills a fresh store (use an empty database)");
                return 2;
            }

            store = new PostgresHistoryStore(connection!);
            var version = await ScalarAsync<string>(connection!, "SHOW server_version");
            storeName = $"PostgreSQL {version.Split(' ')[0]}";
        }

        try
        {
            Console.WriteLine($"## History queries: {storeName}\n");
            Console.WriteLine($"- machine: {BenchEnvironment.Describe()}");
            Console.WriteLine($"- date: {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC");
            Console.WriteLine($"- store: {total:N0} readings = {machines} machines × {sensors} sensors × {perSeries:N0} readings one second apart ({TimeSpan.FromSeconds(perSeries).TotalHours:F1} h per sensor); 0.1 % of them implausible (quality bad)");

            var end = DateTimeOffset.UtcNow;
            end = new DateTimeOffset(end.Ticks - (end.Ticks % TimeSpan.TicksPerMinute), TimeSpan.Zero);
            var start = end.AddSeconds(-perSeries);
            var fill = await FillAsync(store, loggers, machines, sensors, perSeries, start);
            Console.WriteLine($"- fill: {fill.Written:N0} readings through the history writer in {fill.Elapsed.TotalSeconds:F1} s ({fill.Written / fill.Elapsed.TotalSeconds:N0} readings/s, batches of {new TwinHistoryOptions().BatchSize:N0}), {fill.Dropped} dropped");
            if (fill.Written != total || fill.Dropped != 0)
            {
                Console.Error.WriteLine($"history: expected {total} readings written and none dropped");
                return 1;
            }

            if (provider == "postgres")
            {
                // What autovacuum does shortly after a bulk load; a benchmark should not wait for it.
                await ScalarAsync<object>(connection!, "VACUUM ANALYZE twin_history_series, twin_history_raw, twin_history_minute");
                var size = await ScalarAsync<long>(connection!, "SELECT sum(pg_total_relation_size(c))::bigint FROM unnest(ARRAY['twin_history_series', 'twin_history_raw', 'twin_history_minute']::regclass[]) AS c");
                Console.WriteLine($"- size: {size / 1024.0 / 1024.0:F0} MiB (tables and indexes, after VACUUM ANALYZE)");
            }
            else
            {
                Console.WriteLine($"- size: {new FileInfo(path!).Length / 1024.0 / 1024.0:F0} MiB ({HistoryHosting.SqliteFileName})");
            }

            Console.WriteLine($"- each query: 2 untimed runs, then {runs} timed runs through the store the history endpoint uses (no HTTP)\n");
            var timings = await QueryAsync(store, machines, sensors, start, end, runs);
            Console.WriteLine("| query | result | median | max |");
            Console.WriteLine("|---|---|---:|---:|");
            foreach (var timing in timings)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {timing.Name} | {timing.Detail} | {timing.MedianMs:F1} ms | {timing.MaxMs:F1} ms |"));
            }

            var aggregated = timings.Where(t => t.Name.Contains("aggregates", StringComparison.Ordinal)).ToList();
            var slowest = aggregated.MaxBy(t => t.MedianMs)!;
            var met = aggregated.All(t => t.MaxMs < Target.TotalMilliseconds);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"\nTarget \"aggregated query over {total:N0} stored readings < {Target.TotalSeconds:F0} s\": **{(met ? "met" : "missed")}** (slowest aggregated query: median {slowest.MedianMs:F1} ms, max {aggregated.Max(t => t.MaxMs):F1} ms)."));
            return met ? 0 : 1;
        }
        finally
        {
            switch (store)
            {
                case IAsyncDisposable disposable:
                    await disposable.DisposeAsync();
                    break;
                case IDisposable disposable:
                    disposable.Dispose();
                    break;
            }

            if (temporary is not null)
            {
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                temporary.Dispose();
            }
        }
    }

    private sealed record FillResult(long Written, long Dropped, TimeSpan Elapsed);

    /// <summary>
    /// Hands the readings to the writer as twins do: per machine, group commits of ten messages,
    /// each message with every sensor. The writer never blocks, so the fill waits for it to catch up
    /// now and then rather than overrun its queue.
    /// </summary>
    private static async Task<FillResult> FillAsync(IHistoryStore store, ILoggerFactory loggers, int machines, int sensors, int perSeries, DateTimeOffset start)
    {
        var options = new TwinHistoryOptions
        {
            // Nothing is deleted while the benchmark runs, whatever time range it fills.
            RawRetention = TimeSpan.FromDays(36_500),
            AggregateRetention = TimeSpan.FromDays(36_500),
        };
        await using var writer = new HistoryWriter(store, Options.Create(options), loggers.CreateLogger<HistoryWriter>());
        await writer.StartAsync(CancellationToken.None);
        var random = new Random(42);
        var names = Enumerable.Range(0, sensors).Select(s => $"s{s:00}").ToArray();
        const int MessagesPerCommit = 10;
        var clock = Stopwatch.StartNew();
        var commits = 0;
        for (var second = 0; second < perSeries; second += MessagesPerCommit)
        {
            for (var machine = 0; machine < machines; machine++)
            {
                var batch = new List<HistoryPoint>(MessagesPerCommit * sensors);
                for (var seq = second; seq < Math.Min(perSeries, second + MessagesPerCommit); seq++)
                {
                    var time = start.AddSeconds(seq);
                    for (var s = 0; s < sensors; s++)
                    {
                        var bad = random.Next(1000) == 0;
                        var noise = random.NextDouble() - 0.5;
                        var value = bad ? 9999 : 50 + (10 * Math.Sin((2 * Math.PI * seq / 3600.0) + s)) + noise;
                        batch.Add(new HistoryPoint(names[s], time, value, bad ? ReadingQuality.Bad : ReadingQuality.Good, bad ? 0 : Math.Abs(noise) / 5, null, seq + 1));
                    }
                }

                // As the twins do: hand over and go on; the task completes when the batch is written.
                _ = writer.AppendAsync($"{Factory}/m{machine:00}", batch);
                if (++commits % 1000 == 0)
                {
                    await writer.FlushAsync();
                }
            }
        }

        await writer.FlushAsync();
        var elapsed = clock.Elapsed;
        await writer.StopAsync(CancellationToken.None);
        return new FillResult(writer.Written, writer.Dropped, elapsed);
    }

    private static async Task<List<Timing>> QueryAsync(IHistoryReader store, int machines, int sensors, DateTimeOffset start, DateTimeOffset end, int runs)
    {
        var minute = TimeSpan.FromMinutes(1);
        var hour = TimeSpan.FromHours(1);
        HistoryQuery Query(int machine, int sensor, DateTimeOffset from, int limit = 100_000) => new(Factory, $"m{machine:00}", $"s{sensor:00}", from, end.AddMinutes(1), limit);

        async Task<string> Aggregates(IEnumerable<(int Machine, int Sensor)> series, TimeSpan step)
        {
            long buckets = 0, readings = 0;
            foreach (var (machine, sensor) in series)
            {
                var page = await store.ReadAggregatesAsync(Query(machine, sensor, start), step);
                buckets += page.Points.Length;
                readings += page.Points.Sum(b => b.Count);
            }

            return $"{buckets:N0} bucket{(buckets == 1 ? "" : "s")} of {readings:N0} good readings";
        }

        async Task<string> Raw(DateTimeOffset from, int limit)
        {
            var page = await store.ReadRawAsync(Query(0, 0, from, limit));
            return $"{page.Points.Length:N0} readings{(page.Truncated ? " (limit)" : "")}";
        }

        var oneSensor = new[] { (0, 0) };
        var oneMachine = Enumerable.Range(0, sensors).Select(s => (0, s)).ToArray();
        var everything = Enumerable.Range(0, machines).SelectMany(m => Enumerable.Range(0, sensors).Select(s => (m, s))).ToArray();
        return
        [
            await Timing.MeasureAsync("1-minute aggregates, one sensor, whole range", runs, () => Aggregates(oneSensor, minute)),
            await Timing.MeasureAsync("1-hour aggregates, one sensor, whole range", runs, () => Aggregates(oneSensor, hour)),
            await Timing.MeasureAsync($"1-minute aggregates, all {sensors} sensors of one machine ({sensors} queries)", runs, () => Aggregates(oneMachine, minute)),
            await Timing.MeasureAsync($"1-hour aggregates, all {sensors} sensors of one machine ({sensors} queries)", runs, () => Aggregates(oneMachine, hour)),
            await Timing.MeasureAsync($"1-hour aggregates, every sensor of every machine ({everything.Length} queries)", runs, () => Aggregates(everything, hour)),
            await Timing.MeasureAsync("raw readings, one sensor, last hour", runs, () => Raw(end.AddHours(-1), 100_000)),
            await Timing.MeasureAsync("raw readings, one sensor, whole range (limit 10,000)", runs, () => Raw(start, 10_000)),
        ];
    }

    private static async Task<T> ScalarAsync<T>(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }
}
