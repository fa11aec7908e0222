using System.Globalization;
using Twin.Gateway.Tests.Cluster;
using Twin.Testing.Faults;
using Xunit.Abstractions;

namespace Twin.Gateway.Tests.Faults;

/// <summary>
/// Faults drawn at random from a seeded schedule against a whole cluster (3 silos, 2 gateways in
/// a shared subscription, PostgreSQL, Mosquitto) under QoS 1 load: nothing acknowledged is lost
/// or doubled. The seed is printed; <c>TWIN_FAULT_SEED=…</c> replays a run,
/// <c>TWIN_FAULT_SECONDS</c> makes it longer, <c>TWIN_FAULT_KINDS=KillSilo,HangSilo</c> draws from those only (<c>tools/Twin.Bench soak</c> for hours).
/// </summary>
[Trait("Category", "Faults")]
public sealed class FaultInjectionTests(ClusterFixture cluster, ITestOutputHelper output) : IClassFixture<ClusterFixture>
{
    [Fact]
    public async Task Random_faults_lose_and_double_nothing_acknowledged()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("TWIN_FAULT_SEED"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var s) ? s : Random.Shared.Next(1_000_000);
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("TWIN_FAULT_SECONDS"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var d) ? d : 150;
        var kinds = ChaosRun.ParseKinds(Environment.GetEnvironmentVariable("TWIN_FAULT_KINDS"));
        var lines = new List<string>();
        var run = new ChaosRun(cluster.Cluster, seed, line =>
        {
            lock (lines)
            {
                lines.Add(line);
            }

            output.WriteLine(line);
            Console.WriteLine("[faults] " + line);
        })
        {
            Duration = TimeSpan.FromSeconds(seconds),
            Kinds = kinds,
        };
        IReadOnlyList<string> failures;
        try
        {
            failures = await run.RunAsync($"chaos-{seed}");
        }
        finally
        {
            cluster.WriteOutputs(output);
        }

        Assert.True(failures.Count == 0, $"seed {seed} (replay: TWIN_FAULT_SEED={seed}):\n" + string.Join("\n", failures));
    }
}
