using Twin.Bench;

// Benchmarks of Factory Twin, one subcommand per area. Each prints Markdown (the environment, what
// was run, the figures) that docs/BENCHMARKS.md quotes.

// Ctrl-C stops the servers a benchmark started and removes its temporary folders.
Interrupt.Enable();

var commands = new Dictionary<string, (string Usage, Func<BenchArguments, Task<int>> Run)>(StringComparer.Ordinal)
{
    ["history"] = (HistoryBenchmark.Usage, HistoryBenchmark.RunAsync),
    ["ingest"] = (IngestBenchmark.Usage, IngestBenchmark.RunAsync),
    ["hot"] = (TwinBenchmarks.HotUsage, TwinBenchmarks.HotAsync),
    ["coldstart"] = (TwinBenchmarks.ColdUsage, TwinBenchmarks.ColdStartAsync),
    ["latency"] = (LatencyBenchmark.Usage, LatencyBenchmark.RunAsync),
    ["memory"] = (MemoryBenchmark.Usage, MemoryBenchmark.RunAsync),
    ["micro"] = (MicroBenchmarks.Usage, MicroBenchmarks.RunAsync),
    ["quick"] = (QuickCheck.Usage, QuickCheck.RunAsync),
    ["schedule"] = (ScheduleBenchmark.Usage, ScheduleBenchmark.RunAsync),
    ["soak"] = (SoakRun.Usage, SoakRun.RunAsync),
};

if (args.Length == 0 || !commands.TryGetValue(args[0], out var command))
{
    Console.Error.WriteLine("usage: dotnet run -c Release --project tools/Twin.Bench -- <benchmark> [options]\n");
    foreach (var (name, (usage, _)) in commands)
    {
        Console.Error.WriteLine($"  {name} {usage}\n");
    }

    return 2;
}

BenchArguments arguments;
try
{
    arguments = BenchArguments.Parse(args[1..]);
}
catch (FormatException ex)
{
    Console.Error.WriteLine($"{args[0]}: {ex.Message}\nusage: {args[0]} {command.Usage}");
    return 2;
}

return await command.Run(arguments);
