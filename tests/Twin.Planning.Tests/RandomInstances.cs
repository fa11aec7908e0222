namespace Twin.Planning.Tests;

/// <summary>Random flexible job shops with everything the model has: releases, due dates, weights, setups, calendars, stops, a previous plan and a freeze.</summary>
internal static class RandomInstances
{
    public static SchedulingProblem Make(int seed, int jobs = 8, int machines = 4, bool previous = true)
    {
        var random = new Random(seed);
        var machineIds = Enumerable.Range(0, machines).Select(m => $"m{m}").ToList();
        var specs = new List<JobSpec>();
        for (var j = 0; j < jobs; j++)
        {
            var product = $"p{random.Next(3)}";
            var operations = new List<OperationSpec>();
            var count = random.Next(1, 4);
            for (var o = 0; o < count; o++)
            {
                var eligible = machineIds.OrderBy(_ => random.Next()).Take(random.Next(1, 3)).ToList();
                operations.Add(new OperationSpec($"{o}", [.. eligible.Select(m => new ModeSpec(m, random.Next(1, 15), random.Next(0, 2) * random.Next(1, 6)))], $"{product}.{o}"));
            }

            specs.Add(new JobSpec($"j{j}", operations, Release: random.Next(0, 20), Due: random.Next(0, 3) == 0 ? null : random.Next(10, 80), Weight: random.Next(1, 4)));
        }

        var machineSpecs = machineIds.Select(m =>
        {
            var spans = new List<Unavailability>();
            for (var t = random.Next(20, 40); t < 400; t += random.Next(30, 60))
            {
                spans.Add(new Unavailability(t, t + random.Next(2, 10), "stop"));
            }

            return new MachineSpec(m, spans);
        }).ToList();
        var problem = new SchedulingProblem(specs, machineSpecs, Now: 0);
        if (!previous)
        {
            return problem;
        }

        // A plan made earlier, then time passes and a machine breaks down.
        var earlier = DispatchRules.Build(problem, DispatchRule.Edd);
        var now = random.Next(5, 25);
        var broken = machineIds[random.Next(machines)];
        var later = machineSpecs.Select(m => m.Id == broken ? m with { Unavailable = [.. m.Unavailable, new Unavailability(now, now + random.Next(10, 60), "down")] } : m).ToList();
        return problem with { Machines = later, Now = now, Freeze = random.Next(0, 15), Previous = earlier.Operations };
    }
}
