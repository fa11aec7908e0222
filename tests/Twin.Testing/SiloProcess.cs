using System.Globalization;

namespace Twin.Testing;

/// <summary>
/// <c>dotnet Twin.Silo.dll</c> as a real process on free 127.0.0.1 ports, in cluster mode on the
/// given PostgreSQL database (membership, grain storage, reminders), as docs/OPERATIONS.md starts
/// a silo. It can be stopped (SIGTERM), killed (SIGKILL), hung (SIGSTOP) and started again.
/// </summary>
public sealed class SiloProcess : IAsyncDisposable
{
    private readonly Dictionary<string, string> _settings;
    private ChildProcess? _process;

    /// <param name="settings">Command-line configuration over the defaults (e.g. <c>Twin:Cluster:ClusterId</c>).</param>
    public SiloProcess(string connectionString, IDictionary<string, string>? settings = null)
    {
        HealthPort = Ports.Free();
        SiloPort = Ports.Free();
        GatewayPort = Ports.Free();
        _settings = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["urls"] = $"http://127.0.0.1:{HealthPort}",
            ["Twin:Storage:Provider"] = "PostgreSql",
            ["Twin:Storage:ConnectionString"] = connectionString,
            ["Twin:Cluster:Membership"] = "PostgreSql",
            ["Twin:Cluster:AdvertisedAddress"] = "127.0.0.1",
            ["Twin:Cluster:SiloPort"] = SiloPort.ToString(CultureInfo.InvariantCulture),
            ["Twin:Cluster:GatewayPort"] = GatewayPort.ToString(CultureInfo.InvariantCulture),
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:Console:TimestampFormat"] = "HH:mm:ss.fff ",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            _settings[key] = value;
        }

        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{HealthPort}"), Timeout = TimeSpan.FromSeconds(10) };
    }

    public static string Dll => Repository.ProgramDll("Twin.Silo");

    public int HealthPort { get; }

    public int SiloPort { get; }

    public int GatewayPort { get; }

    public HttpClient Http { get; }

    public string Output => _process?.Output ?? "";

    public bool HasExited => _process?.HasExited ?? true;

    public ChildProcess Process => _process ?? throw new InvalidOperationException("not started");

    /// <summary>The command line a person would type (used in docs/OPERATIONS.md).</summary>
    public IReadOnlyList<string> Arguments => [Dll, .. _settings.Select(s => $"--{s.Key}={s.Value}")];

    /// <summary>
    /// Applies the schema with <c>dotnet Twin.Silo.dll migrate</c>, as an operator does once per
    /// release; returns what it printed, and throws with it when the command fails.
    /// </summary>
    public static async Task<string> MigrateAsync(string connectionString)
    {
        await using var migrate = ChildProcess.Start("dotnet", [Dll, "migrate", $"--Twin:Storage:ConnectionString={connectionString}"], Path.GetDirectoryName(Dll));
        var exit = await migrate.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return exit == 0 ? migrate.Output : throw new InvalidOperationException($"Twin.Silo migrate exited with {exit}:\n{migrate.Output}");
    }

    /// <summary>Starts the process and waits until /health/ready answers 200 (an active cluster member, PostgreSQL answering).</summary>
    public async Task StartAsync(TimeSpan? readyWithin = null)
    {
        _process = ChildProcess.Start("dotnet", Arguments, Path.GetDirectoryName(Dll));
        await WaitReadyAsync(readyWithin ?? TimeSpan.FromSeconds(60));
    }

    /// <summary>Waits until /health/ready answers 200 (after a start, or after an outage of PostgreSQL).</summary>
    public Task WaitReadyAsync(TimeSpan within) => Wait.UntilReadyAsync(Process, Http, within, "The silo", $"silo on {SiloPort} ready");

    public Task StopAsync() => _process?.StopAsync(TimeSpan.FromSeconds(60)) ?? Task.CompletedTask;

    public Task KillAsync() => _process?.KillAsync() ?? Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }

        Http.Dispose();
    }
}
