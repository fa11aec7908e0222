using Npgsql;

namespace Twin.Gateway.Tests.Support;

/// <summary>
/// A throwaway PostgreSQL server (Debian's package) with its own data directory and port on
/// 127.0.0.1. It can be stopped and started again on the same data, as an outage would.
/// PostgreSQL refuses to run as root, so under root it runs as the <c>postgres</c> user.
/// </summary>
public sealed class PostgresProcess : IAsyncDisposable
{
    private readonly string _directory;
    private ChildProcess? _process;

    private PostgresProcess(string directory, int port)
    {
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    public string DataDirectory => Path.Combine(_directory, "data");

    /// <summary>The connection string of the database <c>twin</c>.</summary>
    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username=twin;Database=twin;Timeout=5;Command Timeout=10";

    public static string BinDirectory
    {
        get
        {
            var root = "/usr/lib/postgresql";
            var found = Directory.Exists(root)
                ? Directory.GetDirectories(root)
                    .Select(d => Path.Combine(d, "bin"))
                    .Where(d => File.Exists(Path.Combine(d, "initdb")))
                    .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0)
                    .FirstOrDefault()
                : null;
            return found ?? throw new FileNotFoundException("PostgreSQL is not installed (./test.sh installs it: apt-get install postgresql).");
        }
    }

    private static bool IsRoot => Environment.UserName == "root";

    public static async Task<PostgresProcess> StartAsync(string directory)
    {
        Directory.CreateDirectory(directory);
        var server = new PostgresProcess(directory, Ports.Free());
        if (IsRoot)
        {
            await RunAsync("chown", ["-R", "postgres", directory]);
        }

        await RunAsPostgresAsync(Path.Combine(BinDirectory, "initdb"), ["-D", server.DataDirectory, "-U", "twin", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        await server.StartAgainAsync();
        await using (var connection = new NpgsqlConnection($"Host=127.0.0.1;Port={server.Port};Username=twin;Database=postgres"))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand("CREATE DATABASE twin", connection);
            await create.ExecuteNonQueryAsync();
        }

        return server;
    }

    /// <summary>Creates an empty database; returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string name)
    {
        await using (var connection = new NpgsqlConnection($"Host=127.0.0.1;Port={Port};Username=twin;Database=postgres"))
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
        string[] arguments = ["-D", DataDirectory, "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-k", _directory, "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300"];
        var postgres = Path.Combine(BinDirectory, "postgres");
        _process = IsRoot
            ? ChildProcess.Start("setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", postgres, .. arguments], _directory)
            : ChildProcess.Start(postgres, arguments, _directory);
        await Wait.UntilAsync(
            async () =>
            {
                if (_process.HasExited)
                {
                    throw new InvalidOperationException("postgres exited:\n" + _process.Output);
                }

                try
                {
                    await using var connection = new NpgsqlConnection($"Host=127.0.0.1;Port={Port};Username=twin;Database=postgres;Timeout=2");
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
        if (_process is null || _process.HasExited)
        {
            return;
        }

        await RunAsync("kill", ["-INT", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await Wait.UntilAsync(() => Task.FromResult(_process.HasExited), TimeSpan.FromSeconds(30), "postgres stopped");
        NpgsqlConnection.ClearAllPools();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        catch (TimeoutException)
        {
        }

        if (_process is not null)
        {
            await _process.DisposeAsync();
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static Task RunAsPostgresAsync(string program, string[] arguments) =>
        IsRoot ? RunAsync("setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", program, .. arguments]) : RunAsync(program, arguments);

    private static async Task RunAsync(string program, string[] arguments)
    {
        await using var process = ChildProcess.Start(program, arguments);
        var exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        if (exit != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited with {exit}:\n{process.Output}");
        }
    }
}
