using System.Diagnostics;
using System.Globalization;
using System.Text;
using MQTTnet;
using MQTTnet.Protocol;

namespace Twin.Bench;

/// <summary>One hot twin over HTTP, and the cold start of the embedded gateway.</summary>
public static class TwinBenchmarks
{
    public const string HotUsage = "[--seconds 15] [--batch 500] [--quick]";

    public const string ColdUsage = "[--runs 3]";

    public static async Task<int> HotAsync(BenchArguments arguments)
    {
        var quick = arguments.Flag("quick");
        var seconds = arguments.Number("seconds", quick ? 2 : 15, 1, 600);
        var batch = arguments.Number("batch", 500, 1, 10_000);
        arguments.RejectUnknown();
        Console.WriteLine($"# One hot twin\n\n{BenchEnvironment.Describe()}\n");
        using var folder = new TempDirectory("twin-bench-hot");
        await using var gateway = BenchServers.Gateway(folder.Sub("gateway"), brokerPort: null);
        await gateway.StartAndWaitAsync();
        var result = await HotTwinAsync(gateway, TimeSpan.FromSeconds(seconds), batch);
        Console.WriteLine(result.Text);
        return result.ZeroLoss ? 0 : 1;
    }

    /// <summary>Sequential batches of telemetry (3 values per message) over HTTP into one machine twin; each answer comes once they are durable.</summary>
    public static async Task<(double ReadingsPerSecond, bool ZeroLoss, string Text)> HotTwinAsync(GatewayProcess gateway, TimeSpan duration, int batch)
    {
        const string factory = "hot", machine = "m1";
        var path = $"/api/factories/{factory}/machines/{machine}/telemetry";
        var seq = 0L;

        // Warm-up: the twin is activated and the code paths compiled before the clock starts.
        for (var i = 0; i < 3; i++)
        {
            await PostAsync(gateway, path, seq + 1, batch);
            seq += batch;
        }

        var warm = seq;
        var requests = new List<double>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            var request = Stopwatch.StartNew();
            await PostAsync(gateway, path, seq + 1, batch);
            requests.Add(request.Elapsed.TotalMilliseconds);
            seq += batch;
        }

        var elapsed = clock.Elapsed.TotalSeconds;
        var twin = await gateway.MachineAsync(factory, machine) ?? throw new InvalidOperationException("the hot twin is missing");
        var ingest = twin.GetProperty("ingest");
        var applied = ingest.GetProperty("applied").GetInt64() + ingest.GetProperty("late").GetInt64();
        var zeroLoss = twin.GetProperty("lastSeq").GetInt64() == seq && applied == seq;
        var messages = seq - warm;
        requests.Sort();
        var text = string.Create(CultureInfo.InvariantCulture, $"""
            One machine twin, {messages:N0} messages of 3 values in {elapsed:F1} s, sequential HTTP batches of {batch} (the answer comes once the batch is durable)
            | | |
            |---|---:|
            | messages/s | {messages / elapsed:N0} |
            | readings/s | **{messages * 3 / elapsed:N0}** |
            | batch round trip median / max | {requests[requests.Count / 2]:F1} / {requests[^1]:F1} ms |
            | twin's last sequence / applied | {twin.GetProperty("lastSeq").GetInt64():N0} / {applied:N0} ({(zeroLoss ? "none missing" : "LOSS")}) |

            """);
        return (messages * 3 / elapsed, zeroLoss, text);
    }

    private static async Task PostAsync(GatewayProcess gateway, string path, long firstSeq, int count)
    {
        var body = new StringBuilder(count * 200).Append('[');
        for (var i = 0; i < count; i++)
        {
            body.Append(i == 0 ? "" : ",").Append(Encoding.UTF8.GetString(Devices.Telemetry(firstSeq + i)));
        }

        using var content = new StringContent(body.Append(']').ToString(), Encoding.UTF8, "application/json");
        using var response = await gateway.Http.PostAsync(path, content);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"POST {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    public static async Task<int> ColdStartAsync(BenchArguments arguments)
    {
        var runs = arguments.Number("runs", 3, 1, 20);
        arguments.RejectUnknown();
        Console.WriteLine($"# Cold start\n\n{BenchEnvironment.Describe()}\n");
        var result = await ColdStartRunsAsync(runs);
        Console.WriteLine(result.Text);
        return 0;
    }

    /// <summary>
    /// Process start → first reading durable, embedded default (co-hosted silo, embedded broker,
    /// new SQLite file): a device connects as soon as the broker listens, publishes one reading,
    /// and the twin is polled over HTTP until it holds it.
    /// </summary>
    public static async Task<(double MedianSeconds, double MaxSeconds, string Text)> ColdStartRunsAsync(int runs)
    {
        var samples = new List<(double Broker, double Ready, double Durable)>();
        for (var run = 0; run < runs; run++)
        {
            using var folder = new TempDirectory("twin-bench-cold");
            await using var gateway = BenchServers.Gateway(folder.Sub("gateway"), brokerPort: null);
            var clock = Stopwatch.StartNew();
            gateway.Start();
            using var device = new MqttClientFactory().CreateMqttClient();
            await Wait.UntilAsync(
                async () =>
                {
                    if (gateway.Process.HasExited)
                    {
                        throw new InvalidOperationException("the gateway exited:\n" + gateway.Process.Output);
                    }

                    try
                    {
                        await device.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", gateway.MqttPort).WithClientId("bench-cold").WithTimeout(TimeSpan.FromSeconds(5)).Build());
                        return true;
                    }
                    catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException)
                    {
                        return false;
                    }
                },
                TimeSpan.FromSeconds(60),
                "embedded broker listening",
                interval: TimeSpan.FromMilliseconds(20));
            var broker = clock.Elapsed.TotalSeconds;

            // Published again (same sequence number, deduplicated by the twin) until it is durable:
            // a message published before the gateway's consumer has subscribed reaches nobody.
            var lastPublish = TimeSpan.FromSeconds(-1);
            var ready = 0.0;
            await Wait.UntilAsync(
                async () =>
                {
                    try
                    {
                        if (clock.Elapsed - lastPublish > TimeSpan.FromMilliseconds(100))
                        {
                            lastPublish = clock.Elapsed;
                            await device.PublishAsync(new MqttApplicationMessageBuilder()
                                .WithTopic(Devices.Topic("cold", "m1"))
                                .WithPayload(Devices.Telemetry(1))
                                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                                .Build());
                        }

                        if (ready == 0)
                        {
                            using var health = await gateway.Http.GetAsync("/health/ready");
                            ready = health.IsSuccessStatusCode ? clock.Elapsed.TotalSeconds : 0;
                        }

                        return await gateway.MachineAsync("cold", "m1") is { } twin && twin.GetProperty("lastSeq").GetInt64() == 1;
                    }
                    catch (HttpRequestException)
                    {
                        return false;
                    }
                },
                TimeSpan.FromSeconds(60),
                "first reading durable",
                interval: TimeSpan.FromMilliseconds(20));
            var durable = clock.Elapsed.TotalSeconds;
            samples.Add((broker, ready == 0 ? durable : ready, durable));
            await device.DisconnectAsync();
        }

        var ordered = samples.OrderBy(s => s.Durable).ToList();
        var median = ordered[ordered.Count / 2].Durable;
        var lines = string.Join("\n", samples.Select((s, i) => string.Create(CultureInfo.InvariantCulture, $"| {i + 1} | {s.Broker:F2} s | {s.Ready:F2} s | **{s.Durable:F2} s** |")));
        var text = string.Create(CultureInfo.InvariantCulture, $"""
            Cold start of the embedded default (new state folder), {runs} runs: process start → embedded broker accepts a device → /health/ready → first reading durable in its twin
            | run | broker accepts | ready | first reading durable |
            |---:|---:|---:|---:|
            {lines}

            Median {median:F2} s, max {ordered[^1].Durable:F2} s.

            """);
        return (median, ordered[^1].Durable, text);
    }
}
