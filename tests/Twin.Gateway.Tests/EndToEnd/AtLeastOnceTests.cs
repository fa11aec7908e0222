using System.Text.Json;
using Twin.Testing;
using Xunit.Abstractions;

namespace Twin.Gateway.Tests.EndToEnd;

/// <summary>
/// At-least-once delivery through a real Mosquitto with persistence: duplicates and reordering
/// from the publisher, and the gateway killed (SIGKILL) and restarted in the middle of the stream.
/// </summary>
public class AtLeastOnceTests(ITestOutputHelper output)
{
    private const int Machines = 4;
    private const int PerMachine = 400;

    [Fact]
    public async Task Every_sequence_is_applied_exactly_once_across_a_gateway_kill()
    {
        using var temp = new TempDirectory();
        await using var mosquitto = await MosquittoProcess.StartAsync(temp.Sub("mosquitto"));
        var settings = new Dictionary<string, string>
        {
            ["Twin:Broker:Enabled"] = "false",
            ["Twin:Mqtt:Port"] = mosquitto.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Twin:Mqtt:ClientId"] = "gw-at-least-once",
            ["Twin:Mqtt:MaxInFlight"] = "200",
        };

        var deliveries = Plan(new Random(2026));
        output.WriteLine($"{deliveries.Count} publications for {Machines * PerMachine} sequence numbers");

        var gateway = new GatewayProcess(temp.Sub("data"), settings);
        await gateway.StartAsync();
        await WaitConnectedAsync(gateway);
        await using var device = await TestDevice.ConnectAsync(mosquitto.Port, "publisher");

        var killAt = deliveries.Count / 3;
        var restartAt = deliveries.Count / 2;
        for (var i = 0; i < deliveries.Count; i++)
        {
            if (i == killAt)
            {
                await gateway.Process.KillAsync();
                await gateway.DisposeAsync();
            }

            if (i == restartAt)
            {
                gateway = new GatewayProcess(temp.Sub("data"), settings);
                await gateway.StartAsync();
            }

            var (machine, seq) = deliveries[i];
            await device.PublishAsync($"factory/alo/machine/{machine}/telemetry", Payload(seq));
        }

        await using (gateway)
        {
            foreach (var machine in Enumerable.Range(0, Machines).Select(MachineId))
            {
                var snapshot = await Wait.ForAsync(
                    async () => await gateway.GetJsonAsync($"/api/factories/alo/machines/{machine}") is { } s
                        && s.GetProperty("lastSeq").GetInt64() == PerMachine
                        && Applied(s) == PerMachine ? s : (JsonElement?)null,
                    TimeSpan.FromSeconds(60),
                    $"all {PerMachine} sequence numbers of {machine} applied");
                var ingest = snapshot.GetProperty("ingest");
                output.WriteLine($"{machine}: {ingest}");

                // Exactly once: the statistics window holds every reading once, no more.
                var temperature = snapshot.GetProperty("sensors").EnumerateArray().Single(s => s.GetProperty("sensor").GetString() == "temperature");
                Assert.Equal(PerMachine, temperature.GetProperty("statistics").GetProperty("count").GetInt64());
                Assert.Equal(Enumerable.Range(1, PerMachine).Average(), temperature.GetProperty("statistics").GetProperty("mean").GetDouble(), 6);

                // No older value overwrote a newer one.
                Assert.Equal(PerMachine, temperature.GetProperty("value").GetDouble());
                Assert.Equal(0, ingest.GetProperty("tooOld").GetInt64());
                Assert.True(ingest.GetProperty("duplicates").GetInt64() >= PerMachine / 10 - 20);
            }
        }
    }

    private static long Applied(JsonElement snapshot) =>
        snapshot.GetProperty("ingest").GetProperty("applied").GetInt64() + snapshot.GetProperty("ingest").GetProperty("late").GetInt64();

    private static string MachineId(int i) => $"m-{i}";

    private static readonly DateTimeOffset Start = DateTimeOffset.UtcNow.AddMinutes(-1);

    private static string Payload(int seq) =>
        $"{{\"seq\":{seq},\"ts\":\"{Start.AddMilliseconds(seq * 10):O}\",\"values\":{{\"temperature\":{seq}}}}}";

    /// <summary>Each machine's 1..N in order, then about 10% duplicated and 10% moved a few places back.</summary>
    private static List<(string Machine, int Seq)> Plan(Random random)
    {
        var all = new List<(string, int)>();
        for (var seq = 1; seq <= PerMachine; seq++)
        {
            for (var m = 0; m < Machines; m++)
            {
                all.Add((MachineId(m), seq));
            }
        }

        var withDuplicates = new List<(string, int)>();
        foreach (var item in all)
        {
            withDuplicates.Add(item);
            if (random.NextDouble() < 0.10)
            {
                withDuplicates.Insert(Math.Max(0, withDuplicates.Count - random.Next(1, 30)), item);
            }
        }

        for (var i = 0; i < withDuplicates.Count; i++)
        {
            if (random.NextDouble() < 0.10)
            {
                var j = Math.Min(withDuplicates.Count - 1, i + random.Next(1, 40));
                (withDuplicates[i], withDuplicates[j]) = (withDuplicates[j], withDuplicates[i]);
            }
        }

        return withDuplicates;
    }

    private static Task WaitConnectedAsync(GatewayProcess gateway) =>
        Wait.UntilAsync(
            async () => (await gateway.GetJsonAsync("/health/ready"))?.GetProperty("checks").GetProperty("mqtt").GetProperty("status").GetString() == "Healthy",
            TimeSpan.FromSeconds(20),
            "the consumer connected");
}
