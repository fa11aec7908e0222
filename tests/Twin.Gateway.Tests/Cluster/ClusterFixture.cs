using System.Text.Json;
using Twin.Testing;

namespace Twin.Gateway.Tests.Cluster;

/// <summary>
/// A factory cluster of real processes on 127.0.0.1: PostgreSQL (own data directory and port),
/// Mosquitto with persistence, three silos and two gateways sharing the MQTT subscription.
/// The schema is applied with the same <c>Twin.Silo migrate</c> command an operator runs.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public const int Silos = 3;

    private readonly TempDirectory _temp = new();
    private readonly Dictionary<string, string> _siloSettings = new()
    {
        // Short membership timeouts so a dead silo is declared dead within seconds.
        ["Twin:Cluster:ProbeTimeout"] = "00:00:01",
        ["Twin:Cluster:MissedProbesLimit"] = "2",
        ["Twin:Cluster:ClusterId"] = "test-cluster",
        ["Twin:Cluster:ServiceId"] = "test-service",
    };

    public PostgresProcess Postgres { get; private set; } = null!;

    public MosquittoProcess Mosquitto { get; private set; } = null!;

    public SiloProcess[] SiloProcesses { get; } = new SiloProcess[Silos];

    public GatewayProcess[] Gateways { get; } = new GatewayProcess[2];

    public async Task InitializeAsync()
    {
        Postgres = await PostgresProcess.StartAsync(_temp.Sub("postgres"));
        await SiloProcess.MigrateAsync(Postgres.ConnectionString);
        Mosquitto = await MosquittoProcess.StartAsync(_temp.Sub("mosquitto"));
        for (var i = 0; i < Silos; i++)
        {
            SiloProcesses[i] = new SiloProcess(Postgres.ConnectionString, _siloSettings);
        }

        await Task.WhenAll(SiloProcesses.Select(s => s.StartAsync()));
        for (var i = 0; i < Gateways.Length; i++)
        {
            Gateways[i] = NewGateway(i);
        }

        await Task.WhenAll(Gateways.Select(g => g.StartAsync(TimeSpan.FromSeconds(60))));
        await Task.WhenAll(Gateways.Select(g => g.WaitConsumingAsync(TimeSpan.FromSeconds(30))));
    }

    public GatewayProcess NewGateway(int index) =>
        new(_temp.Sub($"gateway-{index}"), new Dictionary<string, string>
        {
            ["Twin:Gateway:Mode"] = "Client",
            ["Twin:Cluster:Membership"] = "PostgreSql",
            ["Twin:Cluster:ClusterId"] = "test-cluster",
            ["Twin:Cluster:ServiceId"] = "test-service",
            ["Twin:Storage:ConnectionString"] = Postgres.ConnectionString,
            ["Twin:Broker:Enabled"] = "false",
            ["Twin:Mqtt:Port"] = Mosquitto.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Twin:Mqtt:ClientId"] = $"cluster-gateway-{index}",
            ["Twin:Mqtt:SharedGroup"] = "twins",
            ["Twin:Mqtt:MaxInFlight"] = "200",
        });

    /// <summary>Replaces a gateway that was killed with a new process (same MQTT session).</summary>
    public async Task RestartGatewayAsync(int index)
    {
        await Gateways[index].DisposeAsync();
        Gateways[index] = NewGateway(index);
        // A loaded machine (the fault suite) starts a process slowly: the wait is for readiness, not a pause.
        await Gateways[index].StartAsync(TimeSpan.FromSeconds(180));
        await Gateways[index].WaitConsumingAsync(TimeSpan.FromSeconds(30));
    }

    /// <summary>Starts a new silo in place of one that was stopped or killed (new ports, as a rescheduled pod gets).</summary>
    public async Task RestartSiloAsync(int index)
    {
        await SiloProcesses[index].DisposeAsync();
        SiloProcesses[index] = new SiloProcess(Postgres.ConnectionString, _siloSettings);
        await SiloProcesses[index].StartAsync(TimeSpan.FromSeconds(180));
    }

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

    public void WriteOutputs(Xunit.Abstractions.ITestOutputHelper output)
    {
        for (var i = 0; i < Silos; i++)
        {
            output.WriteLine($"--- silo {i}\n{Tail(SiloProcesses[i].Output)}");
        }

        for (var i = 0; i < Gateways.Length; i++)
        {
            output.WriteLine($"--- gateway {i}\n{Tail(Gateways[i].Output)}");
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var gateway in Gateways.Where(g => g is not null))
        {
            await gateway.DisposeAsync();
        }

        foreach (var silo in SiloProcesses.Where(s => s is not null))
        {
            await silo.DisposeAsync();
        }

        if (Mosquitto is not null)
        {
            await Mosquitto.DisposeAsync();
        }

        if (Postgres is not null)
        {
            await Postgres.DisposeAsync();
        }

        _temp.Dispose();
    }

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

    private static string Tail(string text) => text.Length <= 4000 ? text : text[^4000..];
}
