using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Twin.Planning;

namespace Twin.Bench;

/// <summary>
/// The quality of the scheduler, measured: public job-shop instances with their known optimum or
/// best-known makespan (read from the instance set itself, never from this repository), solved by
/// CP-SAT at a fixed time limit beside the EDD and SPT dispatch rules; then a generated
/// factory-scale case with due dates, calendars and setups, planned, and re-planned after the
/// busiest machine breaks down.
/// </summary>
public static class ScheduleBenchmark
{
    public const string Usage = "[--instances DIR (a JSPLIB checkout: instances.json, instances/NAME)] [--only ft06,ft10,la01] [--limit 10] [--workers 2] [--orders 100] [--machines 20] [--seed 42] [--replan-limit 4] [--wide 100x100 (one more order: 100 steps, each on any of 100 more machines)] [--max-modes 2000] [--trace]";

    private const string DefaultSet = "ft06,ft10,ft20,la01,la02,la03,la04,la05,la06,la07,la08,la09,la10,la11,la12,la13,la14,la15,la16,la17,la18,la19,la20";

    public static Task<int> RunAsync(BenchArguments arguments)
    {
        var directory = arguments.Text("instances");
        var only = arguments.Text("only", DefaultSet).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var limit = TimeSpan.FromSeconds(arguments.Number("limit", 10, 1, 3600));
        var workers = arguments.Number("workers", 2, 1, 64);
        var orders = arguments.Number("orders", 100, 1, 10_000);
        var machines = arguments.Number("machines", 20, 4, 1000);
        var seed = arguments.Number("seed", 42, 0, int.MaxValue);
        var replanLimit = TimeSpan.FromSeconds(arguments.Number("replan-limit", 4, 1, 600));
        var wide = arguments.Text("wide") is { } w && w.Split('x') is [var steps, var across] && int.TryParse(steps, out var s) && int.TryParse(across, out var a) && s is > 0 and <= 100 && a is > 0 and <= 100
            ? (Steps: s, Machines: a)
            : arguments.Text("wide") is null ? default : throw new ArgumentException("--wide: STEPSxMACHINES, each 1 to 100, e.g. 100x100");
        var maxModes = arguments.Number("max-modes", 2000, 10, 10_000_000);
        Action<string>? trace = arguments.Flag("trace") ? line => Console.Error.WriteLine(line) : null;
        arguments.RejectUnknown();

        Console.WriteLine($"# Scheduling quality\n\n{BenchEnvironment.Describe()}\n");
        Console.WriteLine($"CP-SAT (Google OR-Tools) with {workers} workers, {limit.TotalSeconds:0} s per instance; EDD and SPT are Giffler–Thompson list schedules.\n");
        if (directory is null)
        {
            Console.WriteLine("No `--instances DIR`: the public instances are not run (they are not part of this repository; see docs/BENCHMARKS.md for where to get them).\n");
        }
        else
        {
            Console.WriteLine(RunInstances(directory, only, new SolverSettings(limit, workers)));
        }

        Console.WriteLine(RunFactory(orders, machines, seed, wide, new SolverSettings(limit, workers, Trace: trace, MaxModes: maxModes), new SolverSettings(replanLimit, workers, Trace: trace, MaxModes: maxModes)));
        return Task.FromResult(0);
    }

    private static string RunInstances(string directory, string[] names, SolverSettings settings)
    {
        var index = ReadIndex(Path.Combine(directory, "instances.json"));
        var table = new StringBuilder();
        table.AppendLine($"## Job-shop instances (from `{Path.GetFileName(Path.GetFullPath(directory).TrimEnd('/'))}`)\n");
        table.AppendLine("| instance | jobs × machines | optimum (or best known) | CP-SAT | gap | time | status | EDD gap | SPT gap |");
        table.AppendLine("|---|---|---:|---:|---:|---:|---|---:|---:|");
        var gaps = new List<double>();
        foreach (var name in names)
        {
            var path = Path.Combine(directory, "instances", name);
            if (!File.Exists(path))
            {
                table.AppendLine(CultureInfo.InvariantCulture, $"| {name} | not in the set | | | | | | | |");
                continue;
            }

            var problem = JobShopFormat.Parse(File.ReadAllText(path));
            var best = index.GetValueOrDefault(name);
            var clock = Stopwatch.StartNew();
            var solved = CpSatScheduler.Solve(problem, settings);
            var elapsed = clock.Elapsed;
            var violations = ScheduleValidator.Check(problem, solved);
            var edd = DispatchRules.Build(problem, DispatchRule.Edd);
            var spt = DispatchRules.Build(problem, DispatchRule.Spt);
            string Gap(long value) => best is { } b ? string.Create(CultureInfo.InvariantCulture, $"{100.0 * (value - b.Value) / b.Value:0.0} %") : "–";
            if (best is { } known)
            {
                gaps.Add(100.0 * (solved.Makespan - known.Value) / known.Value);
            }

            var status = violations.Count == 0 ? solved.Status.ToString().ToLowerInvariant() : $"INVALID ({violations.Count} violations)";
            table.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {problem.Jobs.Count} × {problem.Machines.Count} | {(best is { } k ? $"{k.Value}{(k.Proved ? "" : " (best known)")}" : "unknown")} | {solved.Makespan} | {Gap(solved.Makespan)} | {elapsed.TotalSeconds:0.0} s | {status} | {Gap(edd.Makespan)} | {Gap(spt.Makespan)} |");
        }

        table.AppendLine("\nWithout due dates (as in these instances) EDD orders by its tie-break, the processing time, and so equals SPT.");
        if (gaps.Count > 0)
        {
            table.AppendLine(CultureInfo.InvariantCulture, $"\nMean gap of CP-SAT over {gaps.Count} instances: {gaps.Average():0.00} %; largest {gaps.Max():0.00} %.");
        }

        return table.ToString();
    }

    /// <summary>JSPLIB's <c>instances.json</c>: per instance the optimum, or else the best upper bound.</summary>
    private static Dictionary<string, (long Value, bool Proved)> ReadIndex(string path)
    {
        var result = new Dictionary<string, (long, bool)>(StringComparer.Ordinal);
        if (!File.Exists(path))
        {
            return result;
        }

        using var document = JsonDocument.Parse(File.ReadAllText(path));
        foreach (var entry in document.RootElement.EnumerateArray())
        {
            var name = entry.GetProperty("name").GetString()!;
            if (entry.TryGetProperty("optimum", out var optimum) && optimum.ValueKind == JsonValueKind.Number)
            {
                result[name] = (optimum.GetInt64(), true);
            }
            else if (entry.TryGetProperty("bounds", out var bounds) && bounds.ValueKind == JsonValueKind.Object && bounds.TryGetProperty("upper", out var upper) && upper.ValueKind == JsonValueKind.Number)
            {
                result[name] = (upper.GetInt64(), false);
            }
        }

        return result;
    }

    private static string RunFactory(int orders, int machines, int seed, (int Steps, int Machines) wide, SolverSettings plan, SolverSettings replan)
    {
        var problem = FactoryCase.Make(orders, machines, seed);
        if (wide.Steps > 0)
        {
            problem = FactoryCase.WithWideOrder(problem, wide.Steps, wide.Machines);
        }

        var operations = problem.Jobs.Sum(j => j.Operations.Count);
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"## Factory-scale case (generated, seed {seed})\n");
        text.AppendLine(CultureInfo.InvariantCulture, $"{orders} orders, {operations} operations, {machines} machines in groups of 4 (each operation may run on 2 or 3 machines of its group), two shifts a day (06:00–22:00) with a 30-minute break, setups saved by runs of one product, due dates 1–3 days out, times in seconds.\n");
        if (wide.Steps > 0)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"Plus one wide order: {wide.Steps} steps, each eligible on any of {wide.Machines} more machines ({wide.Steps * wide.Machines} machine choices); the search gets at most {plan.MaxModes}.\n");
        }

        text.AppendLine("| step | method | weighted tardiness (h) | late orders | makespan (h) | setups | moved operations | stability | time | valid |");
        text.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---|");

        string Row(string step, SchedulingProblem p, Schedule s, TimeSpan elapsed) =>
            string.Create(CultureInfo.InvariantCulture, $"| {step} | {s.Method} | {s.WeightedTardiness / 3600.0:0.0} | {s.Jobs.Count(j => j.Tardiness > 0)} | {(s.Makespan - p.Now) / 3600.0:0.0} | {s.Setups} | {s.Changes.Moved.Count} | {s.Changes.Stability:P0} | {elapsed.TotalSeconds:0.00} s | {(ScheduleValidator.Check(p, s).Count == 0 ? "yes" : "NO")} |");

        foreach (var rule in new[] { DispatchRule.Edd, DispatchRule.Spt })
        {
            var baseline = DispatchRules.Build(problem, rule);
            text.AppendLine(Row("plan", problem, baseline, baseline.Elapsed));
        }

        var clock = Stopwatch.StartNew();
        var first = CpSatScheduler.Solve(problem, plan);
        text.AppendLine(Row("plan", problem, first, clock.Elapsed));

        // Two hours in, the machine with the most planned work breaks down for eight hours.
        var now = problem.Now + 2 * 3600;
        var busiest = first.Operations.GroupBy(o => o.Machine).MaxBy(g => g.Sum(o => o.End - o.Start))!.Key;
        var broken = problem with
        {
            Now = now,
            Freeze = 30 * 60,
            Previous = first.Operations,
            Machines = [.. problem.Machines.Select(m => m.Id == busiest ? m with { Unavailable = [.. m.Unavailable, new Unavailability(now, now + 8 * 3600, "down")] } : m)],
        };
        var repair = DispatchRules.Build(broken, DispatchRule.Previous);
        text.AppendLine(Row($"re-plan, {busiest} down", broken, repair, repair.Elapsed));
        clock.Restart();
        var again = CpSatScheduler.Solve(broken, replan);
        var latency = clock.Elapsed;
        text.AppendLine(Row($"re-plan, {busiest} down", broken, again, latency));
        text.AppendLine(CultureInfo.InvariantCulture, $"\nRe-plan latency after the breakdown of {busiest}: {latency.TotalSeconds:0.00} s (CP-SAT time limit {replan.TimeLimit.TotalSeconds:0} s, target ≤ 5 s); the first plan took {plan.TimeLimit.TotalSeconds:0} s of search at most.");
        return text.ToString();
    }
}

/// <summary>A factory to schedule, generated from a seed: product routings over machine groups, calendars, due dates.</summary>
public static class FactoryCase
{
    /// <summary>The factory plus one order whose every step may run on any of <paramref name="machines"/> machines of their own.</summary>
    public static SchedulingProblem WithWideOrder(SchedulingProblem problem, int steps, int machines)
    {
        var extra = Enumerable.Range(0, machines).Select(i => $"w{i:000}").ToList();
        var operations = Enumerable.Range(0, steps)
            .Select(s => new OperationSpec($"{s + 1}0", [.. extra.Select((m, i) => new ModeSpec(m, 600 + (i % 7 * 60), 300))], $"WIDE.{s + 1}0"))
            .ToList();
        var job = new JobSpec("WO-WIDE", operations, problem.Now, problem.Now + (3 * 24 * 3600), 1);
        return problem with { Jobs = [.. problem.Jobs, job], Machines = [.. problem.Machines, .. extra.Select(m => new MachineSpec(m))] };
    }

    public static SchedulingProblem Make(int orders, int machineCount, int seed)
    {
        var random = new Random(seed);
        var groups = Math.Max(1, machineCount / 4);
        var machines = Enumerable.Range(0, machineCount).Select(i => $"m{i:00}").ToList();
        var products = Enumerable.Range(0, 12).Select(p =>
        {
            // Five steps through the groups in an order of the product's own.
            var route = Enumerable.Range(0, 5).Select(_ => random.Next(groups)).ToList();
            return (Id: $"P{p:00}", Route: route, RunPerPart: random.Next(20, 90), Setup: random.Next(10, 40) * 60);
        }).ToList();

        const long day = 24 * 3600;
        var horizonDays = 30;
        var unavailable = machines.ToDictionary(m => m, _ =>
        {
            var spans = new List<Unavailability>();
            for (var d = 0; d < horizonDays; d++)
            {
                spans.Add(new Unavailability((d * day) - (2 * 3600), (d * day) + (6 * 3600), "no shift"));
                spans.Add(new Unavailability((d * day) + (14 * 3600), (d * day) + (14 * 3600) + 1800, "break"));
            }

            return (IReadOnlyList<Unavailability>)spans;
        });

        var jobs = new List<JobSpec>();
        for (var o = 0; o < orders; o++)
        {
            var product = products[random.Next(products.Count)];
            var quantity = random.Next(20, 120);
            var operations = new List<OperationSpec>();
            for (var step = 0; step < product.Route.Count; step++)
            {
                var group = product.Route[step];
                var members = machines.Skip(group * 4).Take(4).OrderBy(_ => random.Next()).Take(random.Next(2, 4)).ToList();
                operations.Add(new OperationSpec(
                    $"{step + 1}0",
                    [.. members.Select((m, i) => new ModeSpec(m, quantity * product.RunPerPart * (100 + (i * 15)) / 100, product.Setup))],
                    $"{product.Id}.{step + 1}0"));
            }

            var release = random.Next(0, 2) * random.Next(0, 24) * 3600L;
            jobs.Add(new JobSpec($"WO-{o + 1:0000}", operations, release, (6 * 3600) + random.Next(1, 4) * day + random.Next(0, 12) * 3600, random.Next(1, 4)));
        }

        return new SchedulingProblem(jobs, [.. machines.Select(m => new MachineSpec(m, unavailable[m]))], Now: 6 * 3600);
    }
}
