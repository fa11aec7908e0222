using System.Globalization;
using Npgsql;

namespace Twin.Testing;

/// <summary>
/// A throwaway PostgreSQL server (Debian's package) with its own data directory, on a free
/// 127.0.0.1 port, holding a database <c>twin</c> of the user <c>twin</c> (trust authentication,
/// loopback only). Server settings are PostgreSQL's defaults (fsync and synchronous commit on)
/// except the connection limit. It can be stopped and started again on the same data, as an
/// outage would. PostgreSQL refuses to run as root, so under root initdb and the server run as
/// the <c>postgres</c> user (setpriv).
/// </summary>
public sealed class PostgresProcess : IAsyncDisposable
{
    private readonly string _directory;
    private ChildProcess? _process;
    private IDisposable? _onInterrupt;

    private PostgresProcess(string directory, int port)
    {
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    public string DataDirectory => Path.Combine(_directory, "data");

    /// <summary>The postmaster; its backends are its children.</summary>
    public ChildProcess Process => _process ?? throw new InvalidOperationException("not started");

    /// <summary>The connection string of the database <c>twin</c>, with the short timeouts tests want (an outage shows within seconds).</summary>
    public string ConnectionString => ConnectionStringWith(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10));

    /// <summary>Whether Debian's postgresql package is installed.</summary>
    public static bool IsInstalled => FindBinDirectory() is not null;

    /// <summary>The newest installed PostgreSQL's programs (<c>/usr/lib/postgresql/{version}/bin</c>).</summary>
    public static string BinDirectory =>
        FindBinDirectory() ?? throw new FileNotFoundException("PostgreSQL is not installed (./test.sh installs it: apt-get install postgresql).");

    private static bool IsRoot => Environment.UserName == "root";

    private string AdminConnectionString => $"Host=127.0.0.1;Port={Port};Username=twin;Database=postgres";

    public static async Task<PostgresProcess> StartAsync(string directory)
    {
        var bin = BinDirectory;
        Directory.CreateDirectory(directory);
        var server = new PostgresProcess(directory, Ports.Free());
        try
        {
            if (IsRoot)
            {
                await RunAsync("chown", ["-R", "postgres:postgres", directory]);
            }

            await RunAsPostgresAsync(Path.Combine(bin, "initdb"), ["-D", server.DataDirectory, "-U", "twin", "--auth=trust", "-E", "UTF8", "--no-sync"]);
            await server.StartAgainAsync();
            await using var connection = new NpgsqlConnection(server.AdminConnectionString);
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand("CREATE DATABASE twin", connection);
            await create.ExecuteNonQueryAsync();
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    /// <summary>The database <c>twin</c> with the given connect and command timeouts (a benchmark under load wants longer ones).</summary>
    public string ConnectionStringWith(TimeSpan timeout, TimeSpan commandTimeout) =>
        string.Create(CultureInfo.InvariantCulture, $"Host=127.0.0.1;Port={Port};Username=twin;Database=twin;Timeout={timeout.TotalSeconds:0};Command Timeout={commandTimeout.TotalSeconds:0}");

    /// <summary>Creates an empty database; returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string name)
    {
        await using (var connection = new NpgsqlConnection(AdminConnectionString))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await create.ExecuteNonQueryAsync();
        }

        return $"Host=127.0.0.1;Port={Port};Username=twin;Database={name};Timeout=5";
    }

    /// <summary>Starts the server (again) on the same data directory and port.</summary>
    public async Task StartAgainAsync()
    {
        string[] arguments = ["-D", DataDirectory, "-p", Port.ToString(CultureInfo.InvariantCulture), "-k", _directory, "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300"];
        var postgres = Path.Combine(BinDirectory, "postgres");
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }

        var process = IsRoot
            ? ChildProcess.Start("setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", postgres, .. arguments], _directory)
            : ChildProcess.Start(postgres, arguments, _directory);
        _process = process;

        // Newest first on Ctrl-C: this fast shutdown runs before the process kill registered at its start.
        _onInterrupt ??= Interrupt.OnCancel(() => StopAsync().GetAwaiter().GetResult());
        await Wait.UntilAsync(
            async () =>
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException("postgres exited:\n" + await process.ExitOutputAsync());
                }

                try
                {
                    await using var connection = new NpgsqlConnection(AdminConnectionString + ";Timeout=2");
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
    }

    /// <summary>Fast shutdown (SIGINT): clients are disconnected, the server is down until started again.</summary>
    public async Task StopAsync()
    {
        if (_process is not { } process || !await process.SignalAsync("INT"))
        {
            return;
        }

        await Wait.UntilAsync(() => Task.FromResult(process.HasExited), TimeSpan.FromSeconds(30), "postgres stopped");
        NpgsqlConnection.ClearAllPools();
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

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        try
        {
            await StopAsync();
        }
        catch (TimeoutException)
        {
        }

        _onInterrupt?.Dispose();
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }

        TempDirectory.TryDelete(_directory);
    }

    private static string? FindBinDirectory() =>
        Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Where(d => File.Exists(Path.Combine(d, "bin", "initdb")))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var version) ? version : 0)
                .Select(d => Path.Combine(d, "bin"))
                .FirstOrDefault()
            : null;

    private static Task RunAsPostgresAsync(string program, string[] arguments) =>
        IsRoot ? RunAsync("setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", program, .. arguments]) : RunAsync(program, arguments);

    private static async Task RunAsync(string program, string[] arguments)
    {
        await using var process = ChildProcess.Start(program, arguments, Path.GetTempPath());
        var exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        if (exit != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited with {exit}:\n{process.Output}");
        }
    }
}
