using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;

namespace Twin.Testing;

/// <summary>
/// The gateway as a real process (<c>dotnet Twin.Gateway.dll</c>) on free 127.0.0.1 ports, with
/// its state in a throwaway folder: embedded mode (co-hosted silo, SQLite, embedded broker) unless
/// the settings make it a client of separately started silos (<see cref="ClientSettings"/>).
/// Settings are passed as command-line configuration.
/// </summary>
public sealed class GatewayProcess : IAsyncDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly Dictionary<string, string> _settings;
    private ChildProcess? _process;

    /// <param name="settings">Command-line configuration over the defaults.</param>
    /// <param name="httpTimeout">Of <see cref="Http"/>; 10 s unless given (a benchmark's loaded gateway answers slower).</param>
    public GatewayProcess(string dataDirectory, IDictionary<string, string>? settings = null, TimeSpan? httpTimeout = null)
    {
        DataDirectory = dataDirectory;
        HttpPort = Ports.Free();

        OrleansGatewayPort = Ports.Free();
        var brokerPort = Ports.Free().ToString(CultureInfo.InvariantCulture);
        _settings = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["urls"] = $"http://127.0.0.1:{HttpPort}",
            ["Twin:Storage:SqlitePath"] = Path.Combine(dataDirectory, "twin.db"),
            ["Twin:Broker:Port"] = brokerPort,
            ["Twin:Mqtt:Port"] = brokerPort,
            ["Twin:Mqtt:ClientId"] = "gateway-" + Guid.NewGuid().ToString("N")[..8],
            ["Twin:Cluster:SiloPort"] = Ports.Free().ToString(CultureInfo.InvariantCulture),
            ["Twin:Cluster:GatewayPort"] = OrleansGatewayPort.ToString(CultureInfo.InvariantCulture),
            ["Twin:Simulator:Enabled"] = "false",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:Console:TimestampFormat"] = "HH:mm:ss.fff ",
            ["Logging:LogLevel:Twin"] = "Information",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            _settings[key] = value;
        }

        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{HttpPort}"), Timeout = httpTimeout ?? TimeSpan.FromSeconds(10) };
    }

    public static string Dll => Repository.ProgramDll("Twin.Gateway");

    public string DataDirectory { get; }

    /// <summary>Environment variables for the process (set before <see cref="StartAsync"/>).</summary>
    public Dictionary<string, string> Environment { get; } = [];

    public int HttpPort { get; }

    /// <summary>The embedded broker's port (when enabled).</summary>
    public int MqttPort => int.Parse(_settings["Twin:Broker:Port"], CultureInfo.InvariantCulture);

    /// <summary>The Orleans gateway port of the co-hosted silo (embedded mode), for client-mode gateways.</summary>
    public int OrleansGatewayPort { get; }

    public HttpClient Http { get; }

    public string Output => _process?.Output ?? "";

    public ChildProcess Process => _process ?? throw new InvalidOperationException("not started");

    /// <summary>
    /// Settings of a gateway in client mode (cluster mode): no co-hosted silo; it finds the silos
    /// through the PostgreSQL membership table and shares the MQTT subscription, as
    /// docs/OPERATIONS.md starts it.
    /// </summary>
    public static Dictionary<string, string> ClientSettings(string connectionString, string clusterId) => new(StringComparer.Ordinal)
    {
        ["Twin:Gateway:Mode"] = "Client",
        ["Twin:Cluster:Membership"] = "PostgreSql",
        ["Twin:Cluster:ClusterId"] = clusterId,
        ["Twin:Cluster:ServiceId"] = clusterId,
        ["Twin:Storage:ConnectionString"] = connectionString,
        ["Twin:Mqtt:SharedGroup"] = "twins",
    };

    /// <summary>Starts the process without waiting for it (a benchmark times its start).</summary>
    public void Start()
    {
        Directory.CreateDirectory(DataDirectory);
        _process = ChildProcess.Start("dotnet", [Dll, .. _settings.Select(s => $"--{s.Key}={s.Value}")], Path.GetDirectoryName(Dll), Environment);
    }

    /// <summary>Starts the process and waits until /health/ready answers 200; returns how long that took.</summary>
    public async Task<TimeSpan> StartAsync(TimeSpan? readyWithin = null)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        Start();
        await Wait.UntilReadyAsync(Process, Http, readyWithin ?? TimeSpan.FromSeconds(30), "The gateway", "gateway ready");
        return started.Elapsed;
    }

    /// <summary>Waits until the MQTT consumer is connected and subscribed: what is published from then on is consumed.</summary>
    public Task WaitConsumingAsync(TimeSpan within) =>
        Wait.UntilAsync(
            async () => (await GetJsonAsync("/health/ready"))?.GetProperty("checks").GetProperty("mqtt").GetProperty("status").GetString() == "Healthy",
            within,
            "the gateway's MQTT consumer connected");

    public Task StopAsync() => _process?.StopAsync(TimeSpan.FromSeconds(30)) ?? Task.CompletedTask;

    /// <summary>The JSON body of a GET, or null when it does not answer 2xx.</summary>
    public async Task<JsonElement?> GetJsonAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        if (!response.IsSuccessStatusCode)
        {
            return null;
        }

        return await response.Content.ReadFromJsonAsync<JsonElement>(Json);
    }

    /// <summary>A machine twin's snapshot, or null when it does not exist (yet).</summary>
    public Task<JsonElement?> MachineAsync(string factory, string machine) => GetJsonAsync($"/api/factories/{factory}/machines/{machine}");

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }

        Http.Dispose();
    }
}
