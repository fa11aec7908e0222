using System.Text.Json;
using Twin.Testing;

namespace Twin.Gateway.Tests.Cluster;

/// <summary>
/// The cluster of real processes (<see cref="TwinCluster"/>: PostgreSQL, Mosquitto, three silos
/// and two gateways sharing the MQTT subscription) shared by a test class, with the assertions
/// the cluster tests make on it.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public const int Silos = 3;

    public TwinCluster Cluster { get; } = new(Silos, gateways: 2);

    public PostgresProcess Postgres => Cluster.Postgres;

    public MosquittoProcess Mosquitto => Cluster.Mosquitto;

    public SiloProcess[] SiloProcesses => Cluster.SiloProcesses;

    public GatewayProcess[] Gateways => Cluster.Gateways;

    public Task InitializeAsync() => Cluster.StartAsync();

    public GatewayProcess NewGateway(int index) => Cluster.NewGateway(index);

    /// <summary>Replaces a gateway that was killed with a new process (same MQTT session).</summary>
    public Task RestartGatewayAsync(int index) => Cluster.RestartGatewayAsync(index);

    /// <summary>Starts a new silo in place of one that was stopped or killed (new ports, as a rescheduled pod gets).</summary>
    public Task RestartSiloAsync(int index) => Cluster.RestartSiloAsync(index);

    /// <summary>Every process still running (none crashed).</summary>
    public void AssertAllRunning(int except = -1)
    {
        for (var i = 0; i < Silos; i++)
        {
            if (i == except)
            {
                continue;
            }

            Assert.False(SiloProcesses[i].HasExited, $"silo {i} exited:\n{SiloProcesses[i].Output}");
        }

        for (var i = 0; i < Gateways.Length; i++)
        {
            Assert.False(Gateways[i].Process.HasExited, $"gateway {i} exited:\n{Gateways[i].Output}");
        }
    }

    /// <summary>
    /// Reads every machine twin back and checks that each acknowledged reading is in its state
    /// exactly once: the last sequence number, the applied count and the statistics window all
    /// equal the number of acknowledged readings.
    /// </summary>
    public async Task AssertExactlyOnceAsync(LoadPublisher publisher, string factory, int perMachine, Xunit.Abstractions.ITestOutputHelper output)
    {
        var gateway = Gateways[0];
        foreach (var machine in publisher.MachineIds)
        {
            JsonElement snapshot;
            try
            {
                snapshot = await Wait.ForAsync(
                    async () => await gateway.GetJsonAsync($"/api/factories/{factory}/machines/{machine}") is { } s
                        && s.GetProperty("lastSeq").GetInt64() == perMachine
                        && Applied(s) >= perMachine ? s : (JsonElement?)null,
                    TimeSpan.FromSeconds(120),
                    $"all {perMachine} readings of {factory}/{machine} applied");
            }
            catch (TimeoutException ex)
            {
                var state = new System.Text.StringBuilder(ex.Message);
                state.AppendLine().Append("twin: ").Append(await TryGetAsync(gateway, $"/api/factories/{factory}/machines/{machine}"));
                for (var i = 0; i < Gateways.Length; i++)
                {
                    state.AppendLine().Append($"gateway {i} ready: ").Append(await TryGetAsync(Gateways[i], "/health/ready"));
                    state.AppendLine().Append($"gateway {i} ingest: ").Append(await TryGetAsync(Gateways[i], "/api/gateway/ingest"));
                }

                throw new TimeoutException(state.ToString(), ex);
            }

            var ingest = snapshot.GetProperty("ingest");
            output.WriteLine($"{machine}: {ingest}");
            Assert.Equal(perMachine, Applied(snapshot));
            var temperature = snapshot.GetProperty("sensors").EnumerateArray().Single(s => s.GetProperty("sensor").GetString() == "temperature");
            Assert.Equal(perMachine, temperature.GetProperty("statistics").GetProperty("count").GetInt64());
            Assert.Equal(Enumerable.Range(1, perMachine).Average(LoadPublisher.Temperature), temperature.GetProperty("statistics").GetProperty("mean").GetDouble(), 6);
            Assert.Equal(LoadPublisher.Temperature(perMachine), temperature.GetProperty("value").GetDouble(), 6);
        }
    }

    /// <summary>Every acknowledged reading of every machine is in the history once, with the value it was sent with.</summary>
    public async Task AssertHistoryCompleteAsync(LoadPublisher publisher, string factory, int perMachine)
    {
        var from = Uri.EscapeDataString(publisher.FirstEventTime.AddMinutes(-1).ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        var to = Uri.EscapeDataString(publisher.FirstEventTime.AddMinutes(10).ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        foreach (var machine in publisher.MachineIds)
        {
            var values = await Wait.ForAsync(
                async () => await Gateways[0].GetJsonAsync($"/api/factories/{factory}/machines/{machine}/history?sensor=temperature&from={from}&to={to}") is { } h
                    && h.GetProperty("points").GetArrayLength() >= perMachine
                        ? h.GetProperty("points").EnumerateArray().Select(p => p.GetProperty("value").GetDouble()).ToList()
                        : null,
                TimeSpan.FromSeconds(60),
                $"the history of {factory}/{machine} holding all {perMachine} readings");
            Assert.Equal(Enumerable.Range(1, perMachine).Select(LoadPublisher.Temperature), values);
        }
    }

    public void WriteOutputs(Xunit.Abstractions.ITestOutputHelper output) => Cluster.WriteOutputs(output.WriteLine);

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    private static async Task<string> TryGetAsync(GatewayProcess gateway, string path)
    {
        try
        {
            using var response = await gateway.Http.GetAsync(path);
            return $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return ex.GetType().Name + ": " + ex.Message;
        }
    }

    private static long Applied(JsonElement snapshot) =>
        snapshot.GetProperty("ingest").GetProperty("applied").GetInt64() + snapshot.GetProperty("ingest").GetProperty("late").GetInt64();
}
