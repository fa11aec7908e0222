using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Protocol;

namespace Twin.Bench;

/// <summary>What an end-to-end ingest run measured.</summary>
public sealed record IngestResult(
    int Machines,
    long Messages,
    double PublishSeconds,
    double DurableSeconds,
    long Applied,
    long Late,
    long Duplicates,
    long Missing,
    double GatewayCpuPercentOfOneCore,
    IReadOnlyList<ProcessCpu>? Processes = null)
{
    public double MessagesPerSecond => Messages / DurableSeconds;

    public bool ZeroLoss => Missing == 0;
}

/// <summary>CPU a process used over a measured interval (100 % = one core).</summary>
public sealed record ProcessCpu(string Name, double PercentOfOneCore);

/// <summary>
/// End to end: simulated machines → broker → gateway (MQTT consumer, mapping profile) → machine
/// twins → SQLite, acknowledged to the broker once durable; then every twin is read back over
/// HTTP and its sequence checked. Also the raw broker rate through the same broker.
/// </summary>
public static class IngestBenchmark
{
    public const string Usage = "[--machines 100] [--messages 300000] [--connections 4] [--rate <messages/s, default: as fast as the broker takes them>] [--broker-inflight 20] [--gateway-inflight 2000] [--embedded-broker] [--sparkplug [--edge-nodes 32]] [--quick]\n"
        + "         --cluster [--silos 2] [--machines 100] [--messages 300000] [--connections 4] [--rate <messages/s>] [--broker-inflight 20] [--quick]";

    public static async Task<int> RunAsync(BenchArguments arguments)
    {
        if (arguments.Flag("cluster"))
        {
            return await ClusterIngestBenchmark.RunAsync(arguments);
        }

        var quick = arguments.Flag("quick");
        var machines = arguments.Number("machines", quick ? 20 : 100, 1, 100_000);
        var messages = arguments.Number("messages", quick ? 4_000 : 300_000, machines, 10_000_000);
        var connections = arguments.Number("connections", 4, 1, 64);
        var embedded = arguments.Flag("embedded-broker");
        var rateText = arguments.Text("rate");
        double? rate = rateText is null ? null : arguments.Number("rate", 10_000, 100, 1_000_000);
        var inflightText = arguments.Text("broker-inflight");
        int? inflight = inflightText is null ? null : arguments.Number("broker-inflight", 20, 1, 65535);
        var gatewayInflight = arguments.Number("gateway-inflight", 2000, 1, 65535);
        var sparkplug = arguments.Flag("sparkplug");
        var edgeNodes = arguments.Number("edge-nodes", 32, 1, 1000);
        arguments.RejectUnknown();

        Console.WriteLine($"# End-to-end ingest\n\n{BenchEnvironment.Describe()}\n");
        using var folder = new TempDirectory("twin-bench-ingest");
        var ok = true;
        if (MosquittoProcess.IsInstalled)
        {
            await using var broker = await MosquittoProcess.StartAsync(folder.Sub("mosquitto"), inflight);
            var raw = await RawBrokerAsync(broker.Port, machines, messages / machines, connections);
            Console.WriteLine($"Raw broker (Mosquitto, publisher → subscriber, QoS 1, no processing): {raw.Received:N0} of {raw.Sent:N0} messages in {raw.Seconds:F2} s = **{raw.Received / raw.Seconds:N0} messages/s**\n");
            if (raw.Received != raw.Sent)
            {
                Console.WriteLine($"note: the raw subscriber had {raw.Received:N0} of {raw.Sent:N0} within its wait (a benchmark figure, not the product's delivery)\n");
            }

            await using var gateway = BenchServers.Gateway(folder.Sub("gateway-mosquitto"), broker.Port, new Dictionary<string, string>
            {
                ["Twin:Mqtt:MaxInFlight"] = gatewayInflight.ToString(CultureInfo.InvariantCulture),
            });
            await gateway.StartAndWaitAsync();
            var result = await EndToEndAsync(gateway, broker.Port, "bench", machines, messages / machines, connections, quick ? TimeSpan.FromSeconds(40) : TimeSpan.FromMinutes(5), rate: rate);
            var path = (inflight is null ? "Mosquitto (default max_inflight_messages, 20)" : $"Mosquitto (max_inflight_messages {inflight})") + $", gateway receive maximum {gatewayInflight}";
            Print(path, result, rate);
            ok &= result.ZeroLoss;
            if (sparkplug)
            {
                ok &= await SparkplugAsync(gateway, broker.Port, path, result, machines, messages / machines, edgeNodes, quick, rate);
            }
        }
        else
        {
            Console.WriteLine("Mosquitto is not installed: the external-broker figure is left out.\n");
            embedded = true;
        }

        if (embedded)
        {
            await using var gateway = BenchServers.Gateway(folder.Sub("gateway-embedded"), brokerPort: null);
            await gateway.StartAndWaitAsync();
            var result = await EndToEndAsync(gateway, gateway.MqttPort, "bench", machines, messages / machines, connections, quick ? TimeSpan.FromSeconds(40) : TimeSpan.FromMinutes(5), rate: rate);
            Print("embedded broker", result, rate);
            ok &= result.ZeroLoss;
            if (sparkplug)
            {
                ok &= await SparkplugAsync(gateway, gateway.MqttPort, "embedded broker", result, machines, messages / machines, edgeNodes, quick, rate);
            }
        }

        Console.WriteLine(ok ? "Zero loss: every message of every machine is in its twin." : "FAILED: messages are missing or a rate is under its target (see above).");
        return ok ? 0 : 1;
    }

    /// <summary>
    /// The same machines, rounds and connections as Sparkplug B (protobuf, births, aliases) through
    /// the same gateway and broker; passes with zero loss at 80 % or more of the JSON rate.
    /// </summary>
    private static async Task<bool> SparkplugAsync(GatewayProcess gateway, int port, string path, IngestResult json, int machines, int rounds, int nodes, bool quick, double? rate)
    {
        // Each edge node publishes in order, one message at a time, on its own connection: the
        // node's seq must arrive in order, so several nodes give the pipelining JSON gets from its window.
        var result = await SparkplugEdges.EndToEndAsync(gateway, port, "bench-sp", machines, rounds, nodes, quick ? TimeSpan.FromSeconds(40) : TimeSpan.FromMinutes(5), rate);
        var ratio = result.MessagesPerSecond / json.MessagesPerSecond;
        Console.WriteLine(Table($"{path}, Sparkplug B ({Math.Min(nodes, machines)} edge nodes, a connection each, DDATA by alias)", result, rate, [
            $"| gateway CPU (of one core; 2 cores = 200 %) | {result.GatewayCpuPercentOfOneCore:F0} % |",
            $"| Sparkplug rate / JSON rate in this run | **{ratio:P0}** (at least 80 %) |"]));
        if (ratio < 0.8 && rate is null)
        {
            Console.WriteLine($"SLOW: Sparkplug ingested {result.MessagesPerSecond:N0} messages/s, under 80 % of JSON's {json.MessagesPerSecond:N0}.\n");
        }

        return result.ZeroLoss && (ratio >= 0.8 || rate is not null);
    }

    public static void Print(string broker, IngestResult r, double? rate = null) =>
        Console.WriteLine(Table(broker, r, rate, [$"| gateway CPU (of one core; 2 cores = 200 %) | {r.GatewayCpuPercentOfOneCore:F0} % |"]));

    /// <summary>The result of an end-to-end run as a Markdown table, with rows of the mode's own after the common ones.</summary>
    public static string Table(string path, IngestResult r, double? rate, IEnumerable<string> rows) => $"""
        End to end through {path}: {r.Machines:N0} machines × {r.Messages / r.Machines:N0} messages (3 values each), QoS 1, {(rate is null ? "published as fast as the broker acknowledges" : $"published at {rate:N0} messages/s")}
        | | |
        |---|---:|
        | messages published (broker acknowledged) in | {r.PublishSeconds:F2} s |
        | all messages durable in the twins after | {r.DurableSeconds:F2} s |
        | sustained accepted messages/s | **{r.MessagesPerSecond:N0}** |
        | sustained readings/s | **{r.MessagesPerSecond * 3:N0}** |
        | applied / late / duplicates / missing | {r.Applied:N0} / {r.Late:N0} / {r.Duplicates:N0} / {r.Missing:N0} |
        {string.Join("\n", rows)}

        """;

    /// <summary>
    /// Publishes and waits until every twin has every message durable (or the deadline passes), then
    /// checks sequences. <paramref name="processes"/>: further processes whose CPU time to read over
    /// the same interval.
    /// </summary>
    public static async Task<IngestResult> EndToEndAsync(GatewayProcess gateway, int brokerPort, string factory, int machines, int perMachine, int connections, TimeSpan deadline, long firstSeq = 1, double? rate = null, IReadOnlyList<(string Name, Func<TimeSpan> Cpu)>? processes = null)
    {
        await using var devices = await Devices.ConnectAsync(brokerPort, connections);
        processes ??= [];
        var cpuBefore = gateway.Process.CpuTime();
        var othersBefore = processes.Select(p => p.Cpu()).ToArray();
        var clock = Stopwatch.StartNew();
        var acknowledged = await devices.PublishAsync(m => Devices.Topic(factory, Devices.Machine(m)), machines, firstSeq, perMachine, rate, deadline);
        var published = clock.Elapsed;
        var lastSeq = firstSeq + perMachine - 1;

        // Durable when every twin's last sequence number is the last one published (and everything before it applied).
        var (counters, finished) = await WaitDurableAsync(gateway, factory, machines, clock, deadline + published,
            (twin, c) => twin.GetProperty("lastSeq").GetInt64() == lastSeq && c.Applied + c.Late >= perMachine);

        var cpu = gateway.Process.CpuTime() - cpuBefore;
        var others = processes.Select((p, i) => new ProcessCpu(p.Name, 100 * (p.Cpu() - othersBefore[i]).TotalSeconds / finished.TotalSeconds)).ToList();
        var applied = counters.Sum(c => c.Applied);
        var late = counters.Sum(c => c.Late);
        var total = (long)machines * perMachine;
        if (acknowledged != total)
        {
            Console.WriteLine($"note: the broker acknowledged {acknowledged:N0} of {total:N0} publishes before the deadline");
        }

        if (applied + late < total)
        {
            // A failed run says where: which twins fell short, and what the gateway warned about.
            var behind = Enumerable.Range(0, machines).Where(m => counters[m].Applied + counters[m].Late < perMachine).ToList();
            Console.WriteLine($"note: {behind.Count:N0} of {machines:N0} twins are short: " + string.Join(", ", behind.Take(10).Select(m => $"{Devices.Machine(m)} {counters[m].Applied + counters[m].Late:N0}")));
            var output = gateway.Output.Split('\n');
            var warnings = output.Count(l => l.StartsWith("warn", StringComparison.Ordinal) || l.StartsWith("fail", StringComparison.Ordinal) || l.StartsWith("crit", StringComparison.Ordinal));
            Console.WriteLine($"note: the gateway logged {warnings:N0} warnings or errors; the last of its output:\n{string.Join('\n', output.TakeLast(60))}\n");
        }

        return new IngestResult(
            machines,
            total,
            published.TotalSeconds,
            finished.TotalSeconds,
            applied,
            late,
            counters.Sum(c => c.Duplicates),
            Math.Max(0, total - applied - late),
            100 * cpu.TotalSeconds / finished.TotalSeconds,
            others);
    }

    /// <summary>Publisher → subscriber through the broker, QoS 1 both ways, nothing else.</summary>
    public static async Task<(long Sent, long Received, double Seconds)> RawBrokerAsync(int port, int machines, int perMachine, int connections)
    {
        var total = (long)machines * perMachine;
        var received = 0L;
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscriber = new MqttClientFactory().CreateMqttClient();
        subscriber.ApplicationMessageReceivedAsync += _ =>
        {
            if (Interlocked.Increment(ref received) == total)
            {
                all.TrySetResult();
            }

            return Task.CompletedTask;
        };
        await subscriber.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", port)
            .WithClientId("bench-raw-" + Guid.NewGuid().ToString("N")[..8])
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithReceiveMaximum(2000)
            .WithCleanStart(true)
            .Build());
        await subscriber.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(f => f.WithTopic("bench-raw/#").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)).Build());
        await using var devices = await Devices.ConnectAsync(port, connections);
        var clock = Stopwatch.StartNew();
        var sent = await devices.PublishAsync(m => $"bench-raw/{Devices.Machine(m)}", machines, 1, perMachine, rate: null, TimeSpan.FromMinutes(2));
        await Task.WhenAny(all.Task, Task.Delay(TimeSpan.FromSeconds(120)));
        var seconds = clock.Elapsed.TotalSeconds;
        await subscriber.DisconnectAsync();
        return (sent, Interlocked.Read(ref received), seconds);
    }

    /// <summary>
    /// Reads every machine's twin back until <paramref name="complete"/> holds for all of them or
    /// <paramref name="until"/> (on <paramref name="clock"/>) passed: the twins' ingest counters, and
    /// when the last one was complete.
    /// </summary>
    internal static async Task<((long Applied, long Late, long Duplicates)[] Counters, TimeSpan Finished)> WaitDurableAsync(
        GatewayProcess gateway, string factory, int machines, Stopwatch clock, TimeSpan until, Func<System.Text.Json.JsonElement, (long Applied, long Late, long Duplicates), bool> complete)
    {
        var done = new bool[machines];
        var counters = new (long Applied, long Late, long Duplicates)[machines];
        var finished = TimeSpan.Zero;
        while (clock.Elapsed < until)
        {
            var pending = Enumerable.Range(0, machines).Where(m => !done[m]).ToList();
            if (pending.Count == 0)
            {
                break;
            }

            var now = clock.Elapsed;
            await Parallel.ForEachAsync(pending, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (m, _) =>
            {
                if (await gateway.MachineAsync(factory, Devices.Machine(m)) is not { } twin)
                {
                    return;
                }

                var ingest = twin.GetProperty("ingest");
                counters[m] = (ingest.GetProperty("applied").GetInt64(), ingest.GetProperty("late").GetInt64(), ingest.GetProperty("duplicates").GetInt64());
                if (complete(twin, counters[m]))
                {
                    done[m] = true;
                }
            });
            finished = now;
            if (done.All(d => d))
            {
                break;
            }

            await Task.Delay(200);
        }

        return (counters, finished);
    }
}
