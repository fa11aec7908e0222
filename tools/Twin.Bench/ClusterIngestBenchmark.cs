using System.Diagnostics;

namespace Twin.Bench;

/// <summary>
/// End to end in cluster mode: simulated machines → Mosquitto → one gateway in client mode → N
/// <c>Twin.Silo</c> processes → PostgreSQL (membership, grain storage, reminders), acknowledged to
/// the broker once durable; every twin read back over HTTP as in the embedded run. Also the raw
/// broker rate through the same Mosquitto, and the CPU of every process over the interval.
/// </summary>
public static class ClusterIngestBenchmark
{
    private const string ClusterId = "bench";

    public static async Task<int> RunAsync(BenchArguments arguments)
    {
        var quick = arguments.Flag("quick");
        var silos = arguments.Number("silos", 2, 1, 8);
        var machines = arguments.Number("machines", quick ? 20 : 100, 1, 100_000);
        var messages = arguments.Number("messages", quick ? 4_000 : 300_000, machines, 10_000_000);
        var connections = arguments.Number("connections", 4, 1, 64);
        var rateText = arguments.Text("rate");
        double? rate = rateText is null ? null : arguments.Number("rate", 10_000, 100, 1_000_000);
        var inflightText = arguments.Text("broker-inflight");
        int? inflight = inflightText is null ? null : arguments.Number("broker-inflight", 20, 1, 65535);
        arguments.RejectUnknown();
        if (!MosquittoProcess.IsInstalled || !PostgresProcess.IsInstalled)
        {
            Console.Error.WriteLine("ingest --cluster needs Mosquitto and PostgreSQL (apt-get install mosquitto postgresql)");
            return 2;
        }

        Console.WriteLine($"# End-to-end ingest, cluster mode (PostgreSQL)\n\n{BenchEnvironment.Describe()}\n");
        using var folder = new TempDirectory("twin-bench-cluster");
        await using var broker = await MosquittoProcess.StartAsync(folder.Sub("mosquitto"), inflight);
        var raw = await IngestBenchmark.RawBrokerAsync(broker.Port, machines, messages / machines, connections);
        Console.WriteLine($"Raw broker (Mosquitto, publisher → subscriber, QoS 1, no processing): {raw.Received:N0} of {raw.Sent:N0} messages in {raw.Seconds:F2} s = **{raw.Received / raw.Seconds:N0} messages/s**\n");
        if (raw.Received != raw.Sent)
        {
            Console.WriteLine($"note: the raw subscriber had {raw.Received:N0} of {raw.Sent:N0} within its wait (a benchmark figure, not the product's delivery)\n");
        }

        var clock = Stopwatch.StartNew();
        await using var postgres = await PostgresProcess.StartAsync(folder.Sub("postgres"));

        // Longer timeouts than a test's: a loaded server answers slower, and that is not an outage.
        var connectionString = postgres.ConnectionStringWith(TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(30));
        await SiloProcess.MigrateAsync(connectionString);
        var cluster = new SiloProcess[silos];
        GatewayProcess? gateway = null;
        try
        {
            for (var i = 0; i < silos; i++)
            {
                cluster[i] = BenchServers.Silo(connectionString, ClusterId);
            }

            await Task.WhenAll(cluster.Select(s => s.StartAsync(TimeSpan.FromSeconds(90))));
            gateway = BenchServers.Gateway(folder.Sub("gateway"), broker.Port, GatewayProcess.ClientSettings(connectionString, ClusterId));
            await gateway.StartAndWaitAsync();
            Console.WriteLine($"PostgreSQL {Path.GetFileName(Path.GetDirectoryName(PostgresProcess.BinDirectory))}, schema applied with `Twin.Silo migrate`, {silos} silo(s) and the gateway (client mode) ready in {clock.Elapsed.TotalSeconds:F1} s\n");

            List<(string Name, Func<TimeSpan> Cpu)> processes = [.. cluster.Select((s, i) => ($"silo {i + 1}", (Func<TimeSpan>)s.Process.CpuTime))];
            processes.Add(("PostgreSQL (postmaster and backends)", postgres.Process.CpuTimeWithChildren));
            processes.Add(("Mosquitto", broker.Process.CpuTime));
            var self = System.Diagnostics.Process.GetCurrentProcess();
            processes.Add(("bench (publishers, read-back)", () =>
            {
                self.Refresh();
                return self.TotalProcessorTime;
            }));
            var before = await postgres.CountersAsync();
            var result = await IngestBenchmark.EndToEndAsync(gateway, broker.Port, "bench", machines, messages / machines, connections, quick ? TimeSpan.FromSeconds(60) : TimeSpan.FromMinutes(5), rate: rate, processes: processes);
            var after = await postgres.CountersAsync();
            Print(silos, inflight, result, rate, after.NextTransaction - before.NextTransaction, after.WalBytes - before.WalBytes);
            if (!result.ZeroLoss)
            {
                Console.WriteLine($"--- gateway output\n{Tail(gateway.Process.Output)}");
                for (var i = 0; i < silos; i++)
                {
                    Console.WriteLine($"--- silo {i + 1} output\n{Tail(cluster[i].Process.Output)}");
                }
            }

            Console.WriteLine(result.ZeroLoss ? "Zero loss: every message of every machine is in its twin." : "LOSS: some messages are missing (see above).");
            return result.ZeroLoss ? 0 : 1;
        }
        finally
        {
            if (gateway is not null)
            {
                await gateway.DisposeAsync();
            }

            foreach (var silo in cluster.OfType<SiloProcess>())
            {
                await silo.DisposeAsync();
            }
        }
    }

    private static void Print(int silos, int? inflight, IngestResult r, double? rate, long transactions, long walBytes)
    {
        var path = $"Mosquitto ({(inflight is null ? "default max_inflight_messages, 20" : $"max_inflight_messages {inflight}")}) → 1 gateway (client mode) → {silos} silo(s) → PostgreSQL";
        var rows = new[]
        {
            $"| PostgreSQL write transactions (grain writes, history batches, heartbeats) | {transactions:N0} ({transactions / r.DurableSeconds:N0}/s, {(double)r.Messages / Math.Max(1, transactions):F1} messages each) |",
            $"| PostgreSQL WAL written | {walBytes / 1048576.0:N0} MiB ({walBytes / 1048576.0 / r.DurableSeconds:N1} MiB/s) |",
        }.Concat(new[] { new ProcessCpu("gateway (client mode)", r.GatewayCpuPercentOfOneCore) }
            .Concat(r.Processes ?? [])
            .Select(p => $"| CPU: {p.Name} | {p.PercentOfOneCore:F0} % |"));
        Console.WriteLine(IngestBenchmark.Table(path, r, rate, rows));
        Console.WriteLine("CPU: 100 % = one core, 2 cores = 200 %; read from /proc over the interval from the first publish to all durable.\n");
    }

    private static string Tail(string text) => text.Length <= 4000 ? text : text[^4000..];
}
