using System.Net.Http.Json;
using System.Text.Json;

namespace Twin.Gateway.Tests.Support;

/// <summary>
/// The gateway as a real process (<c>dotnet Twin.Gateway.dll</c>) on free 127.0.0.1 ports, with
/// its state in a throwaway folder. Settings are passed as command-line configuration.
/// </summary>
public sealed class GatewayProcess : IAsyncDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly Dictionary<string, string> _settings;
    private ChildProcess? _process;

    public GatewayProcess(string dataDirectory, IDictionary<string, string>? settings = null)
    {
        DataDirectory = dataDirectory;
        HttpPort = Ports.Free();

        OrleansGatewayPort = Ports.Free();
        var brokerPort = Ports.Free().ToString(System.Globalization.CultureInfo.InvariantCulture);
        _settings = new Dictionary<string, string>
        {
            ["urls"] = $"http://127.0.0.1:{HttpPort}",
            ["Twin:Storage:SqlitePath"] = Path.Combine(dataDirectory, "twin.db"),
            ["Twin:Broker:Port"] = brokerPort,
            ["Twin:Mqtt:Port"] = brokerPort,
            ["Twin:Mqtt:ClientId"] = "gateway-" + Guid.NewGuid().ToString("N")[..8],
            ["Twin:Cluster:SiloPort"] = Ports.Free().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Twin:Cluster:GatewayPort"] = OrleansGatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Twin:Simulator:Enabled"] = "false",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:Console:TimestampFormat"] = "HH:mm:ss.fff ",
            ["Logging:LogLevel:Twin"] = "Information",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            _settings[key] = value;
        }

        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{HttpPort}"), Timeout = TimeSpan.FromSeconds(10) };
    }

    public string DataDirectory { get; }

    /// <summary>Environment variables for the process (set before <see cref="StartAsync"/>).</summary>
    public Dictionary<string, string> Environment { get; } = [];

    public int HttpPort { get; }

    /// <summary>The embedded broker's port (when enabled).</summary>
    public int MqttPort => int.Parse(_settings["Twin:Broker:Port"], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The Orleans gateway port of the co-hosted silo (embedded mode), for client-mode gateways.</summary>
    public int OrleansGatewayPort { get; }

    public HttpClient Http { get; }

    public string Output => _process?.Output ?? "";

    public ChildProcess Process => _process ?? throw new InvalidOperationException("not started");

    /// <summary>Starts the process and waits until /health/ready answers 200; returns how long that took.</summary>
    public async Task<TimeSpan> StartAsync(TimeSpan? readyWithin = null)
    {
        Directory.CreateDirectory(DataDirectory);
        var dll = Repository.ProgramDll("Twin.Gateway");
        var started = System.Diagnostics.Stopwatch.StartNew();
        _process = ChildProcess.Start("dotnet", [dll, .. _settings.Select(s => $"--{s.Key}={s.Value}")], Path.GetDirectoryName(dll), Environment);
        try
        {
            await Wait.UntilAsync(
                async () =>
                {
                    if (_process.HasExited)
                    {
                        throw new InvalidOperationException("The gateway exited:\n" + _process.Output);
                    }

                    using var response = await Http.GetAsync("/health/ready");
                    return response.IsSuccessStatusCode;
                },
                readyWithin ?? TimeSpan.FromSeconds(30),
                "gateway ready");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + "\n" + _process.Output, ex);
        }

        return started.Elapsed;
    }

    public Task StopAsync() => _process?.StopAsync(TimeSpan.FromSeconds(30)) ?? Task.CompletedTask;

    public async Task<JsonElement?> GetJsonAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        if (!response.IsSuccessStatusCode)
        {
            return null;
        }

        return await response.Content.ReadFromJsonAsync<JsonElement>(Json);
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
