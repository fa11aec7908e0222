using System.Diagnostics;
using Google.Protobuf;
using MQTTnet;
using MQTTnet.Protocol;
using Twin.Ingestion.Sparkplug.Protocol;
using Metric = Twin.Ingestion.Sparkplug.Protocol.Payload.Types.Metric;

namespace Twin.Bench;

/// <summary>
/// Sparkplug B edge nodes for the ingest benchmark: one MQTT connection per edge node (its will would
/// be its NDEATH), the machines spread over the nodes as their devices. Each node sends NBIRTH, a DBIRTH per device (names, aliases,
/// units), then DDATA by alias round by round, QoS 1, one publish at a time (the node's seq 0–255
/// must arrive in order, as a real edge node sends it). Payloads
/// are encoded with Google.Protobuf from the project's own sparkplug_b.proto (the correctness tests
/// use Eclipse Tahu's client instead).
/// </summary>
public sealed class SparkplugEdges : IAsyncDisposable
{
    private static readonly (string Name, string Unit)[] Metrics = [("pressure", "bar"), ("temperature", "degC"), ("vibration", "mm/s")];
    private readonly List<IMqttClient> _clients = [];

    public static string Node(int connection) => $"edge-{connection}";

    public static async Task<SparkplugEdges> ConnectAsync(int port, int connections)
    {
        var edges = new SparkplugEdges();
        try
        {
            for (var i = 0; i < connections; i++)
            {
                var client = new MqttClientFactory().CreateMqttClient();
                edges._clients.Add(client);
                await client.ConnectAsync(new MqttClientOptionsBuilder()
                    .WithTcpServer("127.0.0.1", port)
                    .WithClientId($"bench-edge-{i}-{Guid.NewGuid():N}"[..30])
                    .WithCleanStart(true)
                    .WithTimeout(TimeSpan.FromSeconds(10))
                    .Build());
            }
        }
        catch
        {
            await edges.DisposeAsync();
            throw;
        }

        return edges;
    }

    /// <summary>The value of <c>pressure</c> in round <paramref name="round"/> (1-based): tells which message a twin holds last.</summary>
    public static double Pressure(long round) => round / 1000.0;

    /// <summary>
    /// Births, then <paramref name="rounds"/> DDATA per machine (machine <c>m</c> is a device of
    /// edge node <c>m % connections</c>). Returns the DDATA messages the broker acknowledged.
    /// </summary>
    public async Task<long> PublishAsync(string group, int machines, int rounds, double? rate, TimeSpan deadline)
    {
        var acknowledged = 0L;
        var failures = 0L;
        var clock = Stopwatch.StartNew();
        var perConnectionRate = rate / _clients.Count;
        var tasks = _clients.Select((client, c) => Task.Run(async () =>
        {
            var mine = Enumerable.Range(0, machines).Where(m => m % _clients.Count == c).ToArray();
            var node = Node(c);
            ulong seq = 0;
            var birthAt = (ulong)Devices.EventTimeBase.ToUnixTimeMilliseconds();

            async Task SendAsync(string topic, Payload payload, bool data)
            {
                // One at a time: concurrent publishes on one MQTTnet client may leave out of order, and
                // an edge node's seq must arrive in order (the host takes a reordering for a gap).
                var message = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload.ToByteArray()).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
                var result = await client.PublishAsync(message);
                if (!result.IsSuccess)
                {
                    Interlocked.Increment(ref failures);
                }
                else if (data)
                {
                    Interlocked.Increment(ref acknowledged);
                }
            }

            var nodeBirth = new Payload { Timestamp = birthAt, Seq = seq };
            nodeBirth.Metrics.Add(new Metric { Name = "bdSeq", Datatype = (uint)DataType.Int64, LongValue = 0 });
            nodeBirth.Metrics.Add(new Metric { Name = "Node Control/Rebirth", Datatype = (uint)DataType.Boolean, BooleanValue = false });
            await SendAsync($"spBv1.0/{group}/NBIRTH/{node}", nodeBirth, data: false);
            foreach (var m in mine)
            {
                seq = (seq + 1) % 256;
                var birth = new Payload { Timestamp = birthAt, Seq = seq };
                for (var i = 0; i < Metrics.Length; i++)
                {
                    var metric = new Metric { Name = Metrics[i].Name, Alias = (ulong)i + 1, Datatype = (uint)DataType.Double, DoubleValue = 0, Timestamp = birthAt };
                    metric.Properties = new Payload.Types.PropertySet();
                    metric.Properties.Keys.Add("engUnit");
                    metric.Properties.Values.Add(new Payload.Types.PropertyValue { Type = (uint)DataType.String, StringValue = Metrics[i].Unit });
                    birth.Metrics.Add(metric);
                }

                await SendAsync($"spBv1.0/{group}/DBIRTH/{node}/{Devices.Machine(m)}", birth, data: false);
            }

            var topics = mine.Select(m => $"spBv1.0/{group}/DDATA/{node}/{Devices.Machine(m)}").ToArray();
            var sent = 0L;
            for (var round = 1; round <= rounds && clock.Elapsed < deadline; round++)
            {
                var at = birthAt + (ulong)round;
                for (var i = 0; i < mine.Length; i++)
                {
                    if (perConnectionRate is { } r && sent % 16 == 0)
                    {
                        var ahead = TimeSpan.FromSeconds(sent / r) - clock.Elapsed;
                        if (ahead > TimeSpan.FromMilliseconds(2))
                        {
                            await Task.Delay(ahead);
                        }
                    }

                    seq = (seq + 1) % 256;
                    var data = new Payload { Timestamp = at, Seq = seq };
                    data.Metrics.Add(new Metric { Alias = 1, Timestamp = at, Datatype = (uint)DataType.Double, DoubleValue = Pressure(round) });
                    data.Metrics.Add(new Metric { Alias = 2, Timestamp = at, Datatype = (uint)DataType.Double, DoubleValue = 20 + (round % 100 * 0.1) });
                    data.Metrics.Add(new Metric { Alias = 3, Timestamp = at, Datatype = (uint)DataType.Double, DoubleValue = 2 + (round % 7 * 0.1) });
                    sent++;
                    await SendAsync(topics[i], data, data: true);
                }
            }

        }));
        await Task.WhenAll(tasks);
        if (failures > 0)
        {
            throw new InvalidOperationException($"{failures} Sparkplug publishes failed at the broker");
        }

        return acknowledged;
    }

    /// <summary>
    /// Publishes and waits until every twin holds every DDATA (and its birth) durable, or the
    /// deadline passes; then counts what is missing. A twin is complete when it applied
    /// <paramref name="rounds"/> + 1 messages and its latest pressure is the last round's.
    /// </summary>
    public static async Task<IngestResult> EndToEndAsync(GatewayProcess gateway, int brokerPort, string group, int machines, int rounds, int nodes, TimeSpan deadline, double? rate = null)
    {
        await using var edges = await ConnectAsync(brokerPort, Math.Min(nodes, machines));
        var cpuBefore = gateway.Process.CpuTime();
        var clock = Stopwatch.StartNew();
        var acknowledged = await edges.PublishAsync(group, machines, rounds, rate, deadline);
        var published = clock.Elapsed;
        var (counters, finished) = await IngestBenchmark.WaitDurableAsync(gateway, group, machines, clock, deadline + published, (twin, c) =>
        {
            var pressure = twin.GetProperty("sensors").EnumerateArray().FirstOrDefault(s => s.GetProperty("sensor").GetString() == "pressure");
            return pressure.ValueKind == System.Text.Json.JsonValueKind.Object
                && pressure.GetProperty("value").GetDouble() == Pressure(rounds)
                && c.Applied + c.Late >= rounds + 1;
        });

        var cpu = gateway.Process.CpuTime() - cpuBefore;
        var total = (long)machines * rounds;
        if (acknowledged != total)
        {
            Console.WriteLine($"note: the broker acknowledged {acknowledged:N0} of {total:N0} Sparkplug DDATA before the deadline");
        }

        // The births are one applied message per twin more than the DDATA counted here.
        var applied = counters.Sum(c => Math.Max(0, c.Applied - 1));
        var late = counters.Sum(c => c.Late);
        return new IngestResult(machines, total, published.TotalSeconds, finished.TotalSeconds, applied, late, counters.Sum(c => c.Duplicates), Math.Max(0, total - applied - late), 100 * cpu.TotalSeconds / finished.TotalSeconds);
    }

    public ValueTask DisposeAsync() => Devices.DisconnectAllAsync(_clients);
}
