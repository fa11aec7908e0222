using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Twin.Bench;

/// <summary>Free 127.0.0.1 ports.</summary>
public static class Ports
{
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static async Task<bool> IsOpenAsync(int port)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Polls a condition until it holds or the deadline passes.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan within, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > within)
            {
                throw new TimeoutException($"{what}: not within {within.TotalSeconds:F0} s");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>
    /// Waits until <paramref name="process"/> answers <c>/health/ready</c> with 200 and, when given,
    /// a body that <paramref name="ready"/> accepts; fails at once if the process exits.
    /// </summary>
    public static Task UntilReadyAsync(ServerProcess process, HttpClient http, string name, TimeSpan within, Func<string, bool>? ready = null) =>
        UntilAsync(
            async () =>
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"the {name} exited:\n" + process.Output);
                }

                try
                {
                    using var response = await http.GetAsync("/health/ready");
                    return response.IsSuccessStatusCode && (ready is null || ready(await response.Content.ReadAsStringAsync()));
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    return false;
                }
            },
            within,
            $"{name} ready");
}

/// <summary>A server process the benchmark started; killed (with its children) on dispose.</summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private IDisposable? _onInterrupt;

    private ServerProcess(Process process) => _process = process;

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>The last lines it wrote (for failure messages).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static ServerProcess Start(string fileName, IEnumerable<string> arguments, string workingDirectory)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = info };
        var server = new ServerProcess(process);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.Start();
        server._onInterrupt = Interrupt.OnCancel(server.Kill);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return server;
    }

    /// <summary>Sends a signal (e.g. <c>INT</c>) through kill(1); true when it was delivered.</summary>
    public async Task<bool> SignalAsync(string signal)
    {
        if (HasExited)
        {
            return false;
        }

        using var kill = System.Diagnostics.Process.Start("kill", ["-" + signal, Id.ToString(CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
        return kill.ExitCode == 0;
    }

    /// <summary>Waits for the process to exit on its own; false when it is still running at the deadline.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan within)
    {
        using var timeout = new CancellationTokenSource(within);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public int ExitCode => _process.ExitCode;

    /// <summary>CPU time (user + system) the process has used so far, from /proc.</summary>
    public TimeSpan CpuTime() => ProcessStat.Read(Id)?.Cpu ?? TimeSpan.Zero;

    /// <summary>
    /// CPU time of the process and its children: its own, what its exited children used (reaped),
    /// and what its running children have used so far (a PostgreSQL server and its backends).
    /// </summary>
    public TimeSpan CpuTimeWithChildren()
    {
        if (ProcessStat.Read(Id) is not { } self)
        {
            return TimeSpan.Zero;
        }

        var total = self.Cpu + self.ReapedChildrenCpu;
        foreach (var child in ProcessStat.All().Where(p => p.ParentId == Id))
        {
            total += child.Cpu;
        }

        return total;
    }

    /// <summary>Resident set size in bytes, from /proc.</summary>
    public long ResidentBytes()
    {
        var line = File.ReadLines($"/proc/{Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await _process.WaitForExitAsync(timeout.Token);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException)
        {
        }

        _onInterrupt?.Dispose();
        _process.Dispose();
    }

    private void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(TimeSpan.FromSeconds(10));
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            if (_output.Length > 64 * 1024)
            {
                _output.Remove(0, 32 * 1024);
            }

            _output.AppendLine(line);
        }
    }
}

/// <summary>A throwaway Mosquitto on a free 127.0.0.1 port with its own configuration and folder.</summary>
public sealed class Mosquitto : IAsyncDisposable
{
    private readonly ServerProcess _process;

    private Mosquitto(ServerProcess process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public ServerProcess Process => _process;

    private static readonly string[] Candidates = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"];

    public static string? Executable => Candidates.FirstOrDefault(File.Exists);

    public static async Task<Mosquitto> StartAsync(string directory, int? maxInflight = null)
    {
        var executable = Executable ?? throw new FileNotFoundException("mosquitto is not installed (apt-get install mosquitto)");
        Directory.CreateDirectory(directory);
        var port = Ports.Free();
        var config = Path.Combine(directory, "mosquitto.conf");
        // As docs/OPERATIONS.md configures it, with a queue deep enough that a publisher running
        // ahead of the gateway is queued rather than dropped.
        await File.WriteAllTextAsync(config, $"""
            listener {port} 127.0.0.1
            allow_anonymous true
            persistence true
            persistence_location {directory}/
            max_queued_messages 1000000
            log_dest none
            {(maxInflight is { } n ? $"max_inflight_messages {n}" : "")}
            """);
        var process = ServerProcess.Start(executable, ["-c", config], directory);
        var broker = new Mosquitto(process, port);
        try
        {
            await Ports.UntilAsync(
                async () => process.HasExited ? throw new InvalidOperationException("mosquitto exited:\n" + process.Output) : await Ports.IsOpenAsync(port),
                TimeSpan.FromSeconds(15),
                "mosquitto listening");
        }
        catch
        {
            await broker.DisposeAsync();
            throw;
        }

        return broker;
    }

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}

/// <summary>
/// The real gateway program on free 127.0.0.1 ports, as the gateway's own tests start it: embedded
/// mode (co-hosted silo, SQLite state in a throwaway folder) unless <see cref="ClientSettings"/>
/// make it a client of separately started silos.
/// </summary>
public sealed class Gateway : IAsyncDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly List<string> _arguments;
    private ServerProcess? _process;

    /// <param name="brokerPort">An external broker's port; null: the gateway's embedded broker.</param>
    public Gateway(string directory, int? brokerPort, IDictionary<string, string>? settings = null)
    {
        Directory.CreateDirectory(directory);
        HttpPort = Ports.Free();
        MqttPort = brokerPort ?? Ports.Free();
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["urls"] = $"http://127.0.0.1:{HttpPort}",
            ["Twin:Storage:SqlitePath"] = Path.Combine(directory, "twin.db"),
            ["Twin:Broker:Enabled"] = brokerPort is null ? "true" : "false",
            ["Twin:Broker:Port"] = MqttPort.ToString(CultureInfo.InvariantCulture),
            ["Twin:Mqtt:Port"] = MqttPort.ToString(CultureInfo.InvariantCulture),
            ["Twin:Mqtt:ClientId"] = "bench-gateway-" + Guid.NewGuid().ToString("N")[..8],
            ["Twin:Cluster:SiloPort"] = Ports.Free().ToString(CultureInfo.InvariantCulture),
            ["Twin:Cluster:GatewayPort"] = Ports.Free().ToString(CultureInfo.InvariantCulture),
            ["Twin:Simulator:Enabled"] = "false",
            // The harness polls every twin over HTTP: above the per-caller API rate limit.
            ["Twin:Auth:RequestsPerMinute"] = "10000000",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            values[key] = value;
        }

        _arguments = [Dll, .. values.Select(v => $"--{v.Key}={v.Value}")];
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{HttpPort}"), Timeout = TimeSpan.FromSeconds(60) };
    }

    public int HttpPort { get; }

    public int MqttPort { get; }

    public HttpClient Http { get; }

    public ServerProcess Process => _process ?? throw new InvalidOperationException("not started");

    /// <summary>The gateway built in Release beside this checkout's benchmark.</summary>
    public static string Dll => Programs.Dll("Twin.Gateway");

    /// <summary>
    /// Settings of a gateway in client mode (cluster mode): no co-hosted silo and no embedded broker;
    /// it finds the silos through the PostgreSQL membership table, as docs/OPERATIONS.md starts it.
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

    /// <summary>Starts the process (no waiting).</summary>
    public void Start() => _process = ServerProcess.Start("dotnet", _arguments, Path.GetDirectoryName(Dll)!);

    /// <summary>Starts the process and waits until /health/ready answers 200.</summary>
    public async Task StartAndWaitAsync()
    {
        Start();

        // Ready, and its MQTT consumer subscribed: what is published from now on is consumed.
        await Ports.UntilReadyAsync(Process, Http, "gateway", TimeSpan.FromSeconds(60), body => body.Contains("\"mqtt\":{\"status\":\"Healthy\"", StringComparison.Ordinal));
    }

    /// <summary>A machine twin's snapshot, or null when it does not exist (yet).</summary>
    public async Task<JsonElement?> MachineAsync(string factory, string machine)
    {
        using var response = await Http.GetAsync($"/api/factories/{factory}/machines/{machine}");
        return response.IsSuccessStatusCode ? await response.Content.ReadFromJsonAsync<JsonElement>(Json) : null;
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

/// <summary>A folder under the system's temporary directory, deleted on dispose (and on Ctrl-C).</summary>
public sealed class TempFolder : IDisposable
{
    private readonly IDisposable _onInterrupt;
    private readonly Lock _deleting = new();

    public TempFolder(string prefix)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
        _onInterrupt = Interrupt.OnCancel(Delete);
    }

    public string Path { get; }

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        _onInterrupt.Dispose();
        Delete();
    }

    // Serialised: on Ctrl-C the interrupted run unwinds and disposes the folder while the signal handler deletes it.
    private void Delete()
    {
        lock (_deleting)
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }
}
