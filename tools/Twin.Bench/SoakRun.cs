using System.Diagnostics;
using Twin.Testing.Faults;

namespace Twin.Bench;

/// <summary>
/// The fault-injection test's run (<see cref="ChaosRun"/>) for as long as asked: a cluster of three
/// silos, two gateways, PostgreSQL and Mosquitto under QoS 1 load while seeded random faults hit
/// it, each printed as it happens, then the totals. Exit code 0 only when nothing acknowledged was
/// lost or doubled.
/// </summary>
public static class SoakRun
{
    public const string Usage = "--minutes <N> [--seed <S>, default: random] [--machines 40] [--rate 1500] [--kinds KillSilo,HangSilo,... (default: every kind)]";

    public static async Task<int> RunAsync(BenchArguments arguments)
    {
        int minutes, seed, machines, rate;
        IReadOnlyList<FaultKind> kinds;
        try
        {
            minutes = arguments.Text("minutes") is null
                ? throw new FormatException("--minutes is required")
                : arguments.Number("minutes", 0, 1, 100_000);
            seed = arguments.Number("seed", Random.Shared.Next(1_000_000), 0, int.MaxValue);
            machines = arguments.Number("machines", 40, 1, 10_000);
            rate = arguments.Number("rate", 1500, 1, 1_000_000);
            kinds = ChaosRun.ParseKinds(arguments.Text("kinds"));
            arguments.RejectUnknown();
        }
        catch (FormatException ex)
        {
            Console.Error.WriteLine($"soak: {ex.Message}\nusage: soak {Usage}");
            return 2;
        }

        if (!MosquittoProcess.IsInstalled || !PostgresProcess.IsInstalled)
        {
            Console.Error.WriteLine("soak needs Mosquitto and PostgreSQL (apt-get install mosquitto postgresql)");
            return 2;
        }

        Console.WriteLine($"# Soak: random faults for {minutes} min\n\n{BenchEnvironment.Describe()}\n");
        var clock = Stopwatch.StartNew();
        await using var cluster = new TwinCluster();
        await cluster.StartAsync();
        Console.WriteLine($"cluster ready in {clock.Elapsed.TotalSeconds:F1} s: PostgreSQL, Mosquitto, {cluster.SiloProcesses.Length} silos, {cluster.Gateways.Length} gateways\n");
        var run = new ChaosRun(cluster, seed, Console.WriteLine)
        {
            Duration = TimeSpan.FromMinutes(minutes),
            Machines = machines,
            Rate = rate,
            Kinds = kinds,
        };
        List<string> failures;
        try
        {
            failures = [.. await run.RunAsync($"soak-{seed}")];
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException or HttpRequestException or IOException)
        {
            // A fault the cluster did not come back from (a process not ready in time, a publish never acknowledged).
            failures = [$"the run stopped: {ex}"];
        }

        if (failures.Count > 0)
        {
            cluster.WriteOutputs(Console.WriteLine);
        }

        var replay = $"soak --minutes {minutes} --seed {seed} --machines {machines} --rate {rate} --kinds {string.Join(',', kinds)}";
        Console.WriteLine($"""

            ## Summary

            | | |
            |---|---|
            | seed | {seed} (replay: `{replay}`) |
            | took | {clock.Elapsed.TotalMinutes:F1} min (cluster start, {minutes} min of load and faults, heal, checks) |
            | faults | {run.Drawn.Values.Sum()}: {(run.Drawn.Count == 0 ? "none" : string.Join(", ", run.Drawn.OrderBy(d => d.Key).Select(d => $"{d.Key} {d.Value}")))} |
            | messages acknowledged | {run.Acknowledged:N0} |
            | messages lost / doubled in the twins | {run.MessagesLost:N0} / {run.MessagesDoubled:N0} |
            | history points missing / extra | {run.HistoryMissing:N0} / {run.HistoryExtra:N0} |
            | failures | {failures.Count} |

            """);
        foreach (var failure in failures)
        {
            Console.WriteLine("FAIL " + failure);
        }

        Console.WriteLine(failures.Count == 0 ? "soak: nothing acknowledged was lost or doubled" : $"soak: {failures.Count} failure(s) (see above)");
        return failures.Count == 0 ? 0 : 1;
    }
}
