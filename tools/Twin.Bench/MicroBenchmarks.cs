using System.Collections.Immutable;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Twin.Ingestion;
using Twin.Grains.Analytics;
using Twin.Grains.Domain;
using Twin.Machines;

namespace Twin.Bench;

/// <summary>BenchmarkDotNet runs of the pure code on the ingest hot path, with allocations.</summary>
public static class MicroBenchmarks
{
    public const string Usage = "[--filter *Parse*]";

    public static Task<int> RunAsync(BenchArguments arguments)
    {
        var filter = arguments.Text("filter");
        arguments.RejectUnknown();

        // Short job, in this process (no generated project to build): seconds per benchmark, not minutes.
        var job = Job.ShortRun
            .WithWarmupCount(3)
            .WithIterationCount(5)
            .WithToolchain(InProcessEmitToolchain.Instance);
        var config = ManualConfig.Create(DefaultConfig.Instance)
            .AddJob(job)
            .AddDiagnoser(MemoryDiagnoser.Default)
            .WithArtifactsPath(Path.Combine(Path.GetTempPath(), "twin-bench-micro"))
            .WithOptions(ConfigOptions.DisableOptimizationsValidator);
        var types = new[] { typeof(ParserBenchmarks), typeof(NormaliserBenchmarks), typeof(DetectorBenchmarks), typeof(OeeBenchmarks) };
        var summaries = filter is null
            ? BenchmarkRunner.Run(types, config)
            : BenchmarkSwitcher.FromTypes(types).Run(["--filter", filter], config).ToArray();
        return Task.FromResult(summaries.All(s => !s.HasCriticalValidationErrors && s.Reports.All(r => r.Success)) ? 0 : 1);
    }
}

[MemoryDiagnoser]
public class ParserBenchmarks
{
    private static readonly PayloadLimits Limits = new();
    private byte[] _three = [];
    private byte[] _ten = [];
    private DateTimeOffset _now;

    [GlobalSetup]
    public void Setup()
    {
        _three = Devices.Telemetry(42);
        _ten = Devices.Telemetry(42, values: 10);
        _now = Devices.EventTimeBase.AddMinutes(1);
    }

    [Benchmark(Baseline = true, Description = "parse telemetry, 3 values")]
    public ParseResult ThreeValues() => PayloadParser.Parse(MachineTopicKind.Telemetry, _three, Limits, _now);

    [Benchmark(Description = "parse telemetry, 10 values")]
    public ParseResult TenValues() => PayloadParser.Parse(MachineTopicKind.Telemetry, _ten, Limits, _now);

    [Benchmark(Description = "parse status")]
    public ParseResult Status() => PayloadParser.Parse(MachineTopicKind.Status, Encoding.UTF8.GetBytes("{\"seq\":43,\"ts\":\"2026-11-26T08:00:00.000Z\",\"state\":\"running\"}"), Limits, _now);
}

[MemoryDiagnoser]
public class NormaliserBenchmarks
{
    private Normaliser _normaliser = null!;
    private TelemetryMessage _canonical = null!;
    private TelemetryMessage _converted = null!;

    [GlobalSetup]
    public void Setup()
    {
        _normaliser = new Normaliser(new MappingProfile
        {
            Sensors = new(StringComparer.Ordinal)
            {
                ["temperature"] = new SensorProfile { Aliases = ["temp", "Temperature_C"], Unit = "degC", Min = -60, Max = 600 },
                ["vibration"] = new SensorProfile { Aliases = ["vib"], Unit = "mm/s", Min = 0, Max = 200 },
                ["pressure"] = new SensorProfile { Aliases = ["press"], Unit = "bar", Min = -1, Max = 2000 },
            },
        });
        var ts = Devices.EventTimeBase;
        _canonical = new TelemetryMessage(1, ts, [new("temperature", 71.3, "degC"), new("vibration", 2.1, "mm/s"), new("pressure", 6.2, "bar")]);
        _converted = new TelemetryMessage(1, ts, [new("temp", 160.3, "degF"), new("vib", 0.08, "in/s"), new("press", 90, "psi")]);
    }

    [Benchmark(Baseline = true, Description = "normalise, canonical names and units")]
    public ParseResult Canonical() => _normaliser.Normalise(_canonical);

    [Benchmark(Description = "normalise, aliases and unit conversions")]
    public ParseResult Converted() => _normaliser.Normalise(_converted);
}

[MemoryDiagnoser]
public class DetectorBenchmarks
{
    private static readonly DetectorOptions Options = new();
    private static readonly SensorLimit Limit = new(High: 90, Low: 10, Hysteresis: 1, MaxRatePerSecond: 5, FlatlineAfter: TimeSpan.FromMinutes(5));
    private SensorDetectorState _state = null!;
    private DateTimeOffset _time;
    private long _n;

    [GlobalSetup]
    public void Setup()
    {
        // A detector past its warm-up, as on a machine that has run for a while.
        _state = new SensorDetectorState();
        _time = Devices.EventTimeBase;
        for (var i = 0; i < 10_000; i++)
        {
            Next(Limit);
        }
    }

    [Benchmark(Baseline = true, Description = "detector, one reading, with limits")]
    public Detection WithLimits() => Next(Limit);

    [Benchmark(Description = "detector, one reading, no limits")]
    public Detection NoLimits() => Next(null);

    private Detection Next(SensorLimit? limit)
    {
        _time = _time.AddSeconds(1);
        _n++;
        return SensorDetector.Observe(_state, _time, 50 + Math.Sin(_n / 30.0) * 5 + (_n % 7 * 0.1), limit, Options);
    }
}

[MemoryDiagnoser]
public class OeeBenchmarks
{
    private static readonly TimeSpan OfflineAfter = TimeSpan.FromSeconds(30);
    private OeeLedger _ledger = null!;
    private DateTimeOffset _time;
    private long _n;

    [GlobalSetup]
    public void Setup()
    {
        _ledger = new OeeLedger();
        _time = Devices.EventTimeBase;
        _ledger.Status(_time, MachineRunState.Running);
    }

    [Benchmark(Baseline = true, Description = "OEE ledger, reading heard")]
    public void Heard()
    {
        _time = _time.AddSeconds(1);
        _ledger.Heard(_time, OfflineAfter);
    }

    [Benchmark(Description = "OEE ledger, parts counted")]
    public void Parts()
    {
        _time = _time.AddSeconds(1);
        _ledger.Parts(_time, 1, 0);
    }

    [Benchmark(Description = "OEE ledger, status change")]
    public void Status()
    {
        _time = _time.AddSeconds(1);
        _ledger.Status(_time, ++_n % 2 == 0 ? MachineRunState.Running : MachineRunState.Idle);
    }

    [Benchmark(Description = "OEE rolling windows (shift, 1 h, 24 h)")]
    public ImmutableArray<OeeFigures> Windows() => OeeMath.Windows(_ledger, null, TimeSpan.FromSeconds(30), _time, OfflineAfter);
}
