using System.Globalization;
using Npgsql;

namespace Twin.Bench;

/// <summary>
/// A throwaway PostgreSQL server (Debian's package) with its own data directory, on a free
/// 127.0.0.1 port, holding a database <c>twin</c> of the user <c>twin</c> (trust authentication,
/// loopback only). Server settings are PostgreSQL's defaults (fsync and synchronous commit on)
/// except the connection limit. PostgreSQL refuses to run as root, so under root initdb and the
/// server run as the <c>postgres</c> user (setpriv). Stopped with a fast shutdown (SIGINT).
/// </summary>
public sealed class Postgres : IAsyncDisposable
{
    private readonly ServerProcess _process;
    private readonly IDisposable _onInterrupt;

    private Postgres(ServerProcess process, int port)
    {
        _process = process;
        Port = port;
        // Newest first on Ctrl-C: this fast shutdown runs before the process kill registered at its start.
        _onInterrupt = Interrupt.OnCancel(() => StopAsync().GetAwaiter().GetResult());
    }

    public int Port { get; }

    /// <summary>The postmaster; its backends are its children.</summary>
    public ServerProcess Process => _process;

    /// <summary>The connection string of the database <c>twin</c>.</summary>
    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username=twin;Database=twin;Timeout=15;Command Timeout=30";

    /// <summary>The newest installed PostgreSQL's programs (<c>/usr/lib/postgresql/{version}/bin</c>), or null.</summary>
    public static string? BinDirectory =>
        Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Where(d => File.Exists(Path.Combine(d, "bin", "initdb")))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var version) ? version : 0)
                .Select(d => Path.Combine(d, "bin"))
                .FirstOrDefault()
            : null;

    private static bool IsRoot => Environment.UserName == "root";

    public static async Task<Postgres> StartAsync(string directory)
    {
        var bin = BinDirectory ?? throw new FileNotFoundException("PostgreSQL is not installed (apt-get install postgresql)");
        Directory.CreateDirectory(directory);
        if (IsRoot)
        {
            await RunAsync("chown", ["-R", "postgres:postgres", directory]);
        }

        var data = Path.Combine(directory, "data");
        await RunAsync(AsPostgres(Path.Combine(bin, "initdb")), [.. AsPostgresArguments(Path.Combine(bin, "initdb")), "-D", data, "-U", "twin", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        var port = Ports.Free();
        string[] arguments = ["-D", data, "-p", port.ToString(CultureInfo.InvariantCulture), "-k", directory, "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300"];
        var postgres = Path.Combine(bin, "postgres");
        var process = ServerProcess.Start(AsPostgres(postgres), [.. AsPostgresArguments(postgres), .. arguments], directory);
        var server = new Postgres(process, port);
        try
        {
            var admin = $"Host=127.0.0.1;Port={port};Username=twin;Database=postgres;Timeout=2";
            await Ports.UntilAsync(
                async () =>
                {
                    if (process.HasExited)
                    {
                        throw new InvalidOperationException("postgres exited:\n" + process.Output);
                    }

                    try
                    {
                        await using var connection = new NpgsqlConnection(admin);
                        await connection.OpenAsync();
                        return true;
                    }
                    catch (NpgsqlException)
                    {
                        return false;
                    }
                },
                TimeSpan.FromSeconds(30),
                "postgres accepting connections");
            await using (var connection = new NpgsqlConnection(admin))
            {
                await connection.OpenAsync();
                await using var create = new NpgsqlCommand("CREATE DATABASE twin", connection);
                await create.ExecuteNonQueryAsync();
            }
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    /// <summary>
    /// The next transaction id (every transaction that writes takes one: a grain state write, a
    /// history batch, a membership heartbeat) and the WAL position in bytes; both exact at once,
    /// unlike the cumulative statistics views, which backends report with a delay.
    /// </summary>
    public async Task<(long NextTransaction, long WalBytes)> CountersAsync()
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint, pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint", connection);
        await using var reader = await query.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    /// <summary>Fast shutdown (SIGINT): clients are disconnected and the server stops.</summary>
    private async Task StopAsync()
    {
        if (await _process.SignalAsync("INT"))
        {
            await _process.WaitForExitAsync(TimeSpan.FromSeconds(30));
        }
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await StopAsync();
        _onInterrupt.Dispose();
        await _process.DisposeAsync();
    }

    private static string AsPostgres(string program) => IsRoot ? "setpriv" : program;

    private static string[] AsPostgresArguments(string program) => IsRoot ? ["--reuid=postgres", "--regid=postgres", "--init-groups", program] : [];

    private static async Task RunAsync(string program, string[] arguments)
    {
        await using var process = ServerProcess.Start(program, arguments, Path.GetTempPath());
        if (!await process.WaitForExitAsync(TimeSpan.FromSeconds(60)) || process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed:\n{process.Output}");
        }
    }
}

/// <summary>
/// <c>dotnet Twin.Silo.dll</c> in cluster mode on free 127.0.0.1 ports: PostgreSQL for membership,
/// grain storage and reminders, as docs/OPERATIONS.md starts a silo.
/// </summary>
public sealed class Silo : IAsyncDisposable
{
    private readonly List<string> _arguments;
    private ServerProcess? _process;

    public Silo(string connectionString, string clusterId, IDictionary<string, string>? settings = null)
    {
        HealthPort = Ports.Free();
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["urls"] = $"http://127.0.0.1:{HealthPort}",
            ["Twin:Storage:Provider"] = "PostgreSql",
            ["Twin:Storage:ConnectionString"] = connectionString,
            ["Twin:Cluster:Membership"] = "PostgreSql",
            ["Twin:Cluster:ClusterId"] = clusterId,
            ["Twin:Cluster:ServiceId"] = clusterId,
            ["Twin:Cluster:AdvertisedAddress"] = "127.0.0.1",
            ["Twin:Cluster:SiloPort"] = Ports.Free().ToString(CultureInfo.InvariantCulture),
            ["Twin:Cluster:GatewayPort"] = Ports.Free().ToString(CultureInfo.InvariantCulture),
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            values[key] = value;
        }

        _arguments = [Dll, .. values.Select(v => $"--{v.Key}={v.Value}")];
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{HealthPort}"), Timeout = TimeSpan.FromSeconds(10) };
    }

    public static string Dll => Programs.Dll("Twin.Silo");

    public int HealthPort { get; }

    public HttpClient Http { get; }

    public ServerProcess Process => _process ?? throw new InvalidOperationException("not started");

    /// <summary>Applies the schema with <c>dotnet Twin.Silo.dll migrate</c>, as an operator does once per release.</summary>
    public static async Task MigrateAsync(string connectionString)
    {
        await using var migrate = ServerProcess.Start("dotnet", [Dll, "migrate", $"--Twin:Storage:ConnectionString={connectionString}"], Path.GetDirectoryName(Dll)!);
        if (!await migrate.WaitForExitAsync(TimeSpan.FromSeconds(60)) || migrate.ExitCode != 0)
        {
            throw new InvalidOperationException("Twin.Silo migrate failed:\n" + migrate.Output);
        }
    }

    /// <summary>Starts the process and waits until /health/ready answers 200 (an active cluster member, PostgreSQL answering).</summary>
    public async Task StartAndWaitAsync()
    {
        _process = ServerProcess.Start("dotnet", _arguments, Path.GetDirectoryName(Dll)!);
        await Ports.UntilReadyAsync(_process, Http, "silo", TimeSpan.FromSeconds(90));
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }

        Http.Dispose();
    }
}
