using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Twin.Grains.Domain;
using Twin.Machines;
using Twin.Silo;

namespace Twin.Bench;

/// <summary>
/// Memory per active machine twin and the activation time of a cold twin, in a silo hosted in
/// this process exactly as the embedded gateway hosts it (SQLite state, history writer), with
/// the twins fed by direct grain calls.
/// </summary>
public static class MemoryBenchmark
{
    public const string Usage = "[--twins 10000,100000] [--sensors 10] [--minutes 6]";

    public static async Task<int> RunAsync(BenchArguments arguments)
    {
        var steps = arguments.Text("twins", "10000,100000").Split(',').Select(t => int.Parse(t, NumberStyles.None, CultureInfo.InvariantCulture)).ToArray();
        var sensors = arguments.Number("sensors", 10, 1, 100);
        var minutes = arguments.Number("minutes", 6, 1, 60);
        arguments.RejectUnknown();
        Console.WriteLine($"# Memory per twin and cold activation\n\n{BenchEnvironment.Describe()}\n");
        Console.WriteLine(await MeasureAsync(steps, sensors, TimeSpan.FromMinutes(minutes)));
        return 0;
    }

    public static async Task<string> MeasureAsync(int[] steps, int sensors, TimeSpan budget)
    {
        using var folder = new TempDirectory("twin-bench-memory");
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Twin:Storage:Provider"] = "Sqlite",
            ["Twin:Storage:SqlitePath"] = folder.Sub("twin.db"),
            ["Twin:Cluster:SiloPort"] = Ports.Free().ToString(CultureInfo.InvariantCulture),
            ["Twin:Cluster:GatewayPort"] = Ports.Free().ToString(CultureInfo.InvariantCulture),
        });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.AddTwinSilo();
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var grains = host.Services.GetRequiredService<IGrainFactory>();
            var clock = Stopwatch.StartNew();

            // Warm-up: code compiled, pools and the storage connection open.
            await FeedAsync(grains, "warm", 0, 200, sensors, clock, budget);

            // Cold activation: a twin nobody has called (activation, state read, first durable write), then the same twin again.
            var cold = new List<double>();
            var warm = new List<double>();
            for (var i = 0; i < 500; i++)
            {
                var grain = grains.GetGrain<IMachineGrain>($"cold/m{i}");
                var call = Stopwatch.StartNew();
                await grain.IngestAsync([Message(1, sensors)]);
                cold.Add(call.Elapsed.TotalMilliseconds);
                call.Restart();
                await grain.IngestAsync([Message(2, sensors)]);
                warm.Add(call.Elapsed.TotalMilliseconds);
            }

            cold.Sort();
            warm.Sort();
            var stateBytes = StateBytesPerTwin(sensors);
            var baseline = await SettledAsync();
            var rows = new List<string>();
            var active = 0;
            foreach (var target in steps)
            {
                var reached = await FeedAsync(grains, "mem", active, target, sensors, clock, budget);
                active = reached;
                var settled = await SettledAsync();
                var perTwin = (settled.Managed - baseline.Managed) / (double)active;
                rows.Add(string.Create(CultureInfo.InvariantCulture, $"| {active:N0}{(reached < target ? $" (of {target:N0}: time budget spent)" : "")} | {(settled.Managed - baseline.Managed) / 1048576.0:N0} MiB | **{perTwin / 1024:F1} KB** | {(settled.Resident - baseline.Resident) / 1048576.0:N0} MiB | {(settled.Resident - baseline.Resident) / (double)active / 1024:F1} KB | {clock.Elapsed.TotalSeconds:F0} s |"));
                if (reached < target)
                {
                    break;
                }
            }

            return string.Create(CultureInfo.InvariantCulture, $"""
                Active machine twins with {sensors} sensors each (one telemetry message of {sensors} values each, durable in SQLite), memory after a full blocking GC, compared with the silo before the twins
                | active twins | managed heap growth | per twin | resident set growth | per twin | elapsed |
                |---:|---:|---:|---:|---:|---:|
                {string.Join("\n", rows)}

                Of which the twin's own state (its MachineState after the same message, built in this process): {stateBytes / 1024:F1} KB per twin; the rest is the activation (Orleans' bookkeeping, the grain and its timer) and the silo's caches.

                Cold twin (activation, state read, first write durable): median {cold[cold.Count / 2]:F2} ms, p99 {cold[(int)(cold.Count * 0.99)]:F2} ms over {cold.Count} twins; the same twin's next call: median {warm[warm.Count / 2]:F2} ms.

                """);
        }
        finally
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await host.StopAsync(stop.Token);
        }
    }

    /// <summary>Heap taken by a machine twin's state alone after one message, measured over a few thousand of them.</summary>
    private static double StateBytesPerTwin(int sensors)
    {
        const int Count = 5000;
        var options = new MachineTwinOptions();
        var message = Message(1, sensors);
        var states = new MachineState[Count];
        var before = GC.GetTotalMemory(forceFullCollection: true);
        for (var i = 0; i < Count; i++)
        {
            states[i] = new MachineState();
            MachineRules.Apply(states[i], message, options);
        }

        var after = GC.GetTotalMemory(forceFullCollection: true);
        GC.KeepAlive(states);
        return (after - before) / (double)Count;
    }

    private static TelemetryMessage Message(long seq, int sensors) =>
        new(seq, Devices.EventTimeBase.AddSeconds(seq), [.. Enumerable.Range(0, sensors).Select(s => new SensorReading($"s{s}", 10 + s + (seq % 10), "bar"))]);

    /// <summary>Activates twins <paramref name="from"/>..<paramref name="to"/> (one message each), 64 calls at a time, until done or the budget is spent.</summary>
    private static async Task<int> FeedAsync(IGrainFactory grains, string factory, int from, int to, int sensors, Stopwatch clock, TimeSpan budget)
    {
        var message = ImmutableArray.Create<MachineMessage>(Message(1, sensors));
        var next = from - 1;
        var done = from;
        await Task.WhenAll(Enumerable.Range(0, 64).Select(async _ =>
        {
            int index;
            while ((index = Interlocked.Increment(ref next)) < to && clock.Elapsed < budget)
            {
                await grains.GetGrain<IMachineGrain>($"{factory}/{Devices.Machine(index)}").IngestAsync(message);
                Interlocked.Increment(ref done);
            }
        }));
        return done;
    }

    private static async Task<(long Managed, long Resident)> SettledAsync()
    {
        // Let the history writer drain what the twins handed it, then collect everything.
        await Task.Delay(TimeSpan.FromSeconds(3));
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        using var self = Process.GetCurrentProcess();
        return (GC.GetTotalMemory(forceFullCollection: true), self.WorkingSet64);
    }
}
