using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Twin.Bench;

/// <summary><c>--name value</c> pairs and <c>--flag</c>s after the subcommand.</summary>
public sealed class BenchArguments
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public static BenchArguments Parse(string[] args)
    {
        var parsed = new BenchArguments();
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || args[i].Length < 3)
            {
                throw new FormatException($"'{args[i]}' is not an option (--name value)");
            }

            var hasValue = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal);
            parsed._values[args[i][2..]] = hasValue ? args[++i] : null;
        }

        return parsed;
    }

    public string? Text(string name)
    {
        _used.Add(name);
        return _values.GetValueOrDefault(name);
    }

    public string Text(string name, string fallback) => Text(name) ?? fallback;

    public bool Flag(string name)
    {
        _used.Add(name);
        return _values.ContainsKey(name);
    }

    public int Number(string name, int fallback, int min, int max)
    {
        var text = Text(name);
        if (text is null)
        {
            return fallback;
        }

        if (!int.TryParse(text.Replace("_", "", StringComparison.Ordinal), NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new FormatException($"--{name} must be a whole number from {min} to {max}; it is '{text}'");
        }

        return value;
    }

    /// <summary>Fails on options no benchmark asked for (a typo must not silently run the defaults).</summary>
    public void RejectUnknown()
    {
        var unknown = _values.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0)
        {
            throw new FormatException($"unknown option(s): {string.Join(", ", unknown.Select(u => "--" + u))}");
        }
    }
}

/// <summary>Timings of a repeated operation.</summary>
public sealed record Timing(string Name, int Runs, double MedianMs, double MaxMs, string Detail)
{
    public static async Task<Timing> MeasureAsync(string name, int runs, Func<Task<string>> operation)
    {
        // Two untimed runs first: connection pools, prepared plans and the page cache warm up as in a running server.
        var detail = await operation();
        await operation();
        var samples = new double[runs];
        for (var i = 0; i < runs; i++)
        {
            var clock = Stopwatch.StartNew();
            detail = await operation();
            samples[i] = clock.Elapsed.TotalMilliseconds;
        }

        Array.Sort(samples);
        var median = runs % 2 == 1 ? samples[runs / 2] : (samples[(runs / 2) - 1] + samples[runs / 2]) / 2;
        return new Timing(name, runs, median, samples[^1], detail);
    }
}

/// <summary>The machine a benchmark ran on, for the record.</summary>
public static class BenchEnvironment
{
    public static string Describe()
    {
        var cpu = ReadFirst("/proc/cpuinfo", "model name") ?? RuntimeInformation.ProcessArchitecture.ToString();
        var memory = ReadFirst("/proc/meminfo", "MemTotal") is { } total && long.TryParse(total.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kb)
            ? string.Create(CultureInfo.InvariantCulture, $"{kb / 1024.0 / 1024.0:F1} GiB RAM")
            : "RAM unknown";
        return $"{cpu}, {Environment.ProcessorCount} cores, {memory}; {RuntimeInformation.OSDescription}; .NET {Environment.Version}";
    }

    private static string? ReadFirst(string file, string key)
    {
        if (!File.Exists(file))
        {
            return null;
        }

        var line = File.ReadLines(file).FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal));
        return line?[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
    }
}

/// <summary>
/// The shared harness's servers (Twin.Testing) as the benchmarks run them: a gateway allowed past
/// the per-caller API rate limit, logging warnings only, with a patient HTTP client; silos of one
/// named cluster.
/// </summary>
public static class BenchServers
{
    /// <param name="brokerPort">An external broker's port; null: the gateway's embedded broker.</param>
    public static GatewayProcess Gateway(string directory, int? brokerPort, IDictionary<string, string>? settings = null)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["Twin:Broker:Enabled"] = brokerPort is null ? "true" : "false",
            ["Twin:Mqtt:ClientId"] = "bench-gateway-" + Guid.NewGuid().ToString("N")[..8],
            // The benchmark polls every twin over HTTP: above the per-caller API rate limit.
            ["Twin:Auth:RequestsPerMinute"] = "10000000",
            ["Logging:LogLevel:Twin"] = "Warning",
        };
        if (brokerPort is { } port)
        {
            values["Twin:Broker:Port"] = values["Twin:Mqtt:Port"] = port.ToString(CultureInfo.InvariantCulture);
        }

        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            values[key] = value;
        }

        return new GatewayProcess(directory, values, httpTimeout: TimeSpan.FromSeconds(60));
    }

    /// <summary>A silo of the cluster <paramref name="clusterId"/> (its service id too) on PostgreSQL.</summary>
    public static SiloProcess Silo(string connectionString, string clusterId) => new(connectionString, new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["Twin:Cluster:ClusterId"] = clusterId,
        ["Twin:Cluster:ServiceId"] = clusterId,
    });

    /// <summary>Starts the gateway and waits until it is ready and its MQTT consumer subscribed: what is published from then on is consumed.</summary>
    public static async Task StartAndWaitAsync(this GatewayProcess gateway)
    {
        await gateway.StartAsync(TimeSpan.FromSeconds(60));
        await gateway.WaitConsumingAsync(TimeSpan.FromSeconds(60));
    }
}
