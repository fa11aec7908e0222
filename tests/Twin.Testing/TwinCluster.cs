using System.Globalization;

namespace Twin.Testing;

/// <summary>
/// A factory cluster of real processes on 127.0.0.1: PostgreSQL (own data directory and port),
/// Mosquitto with persistence, silos (three by default) and gateways (two by default) sharing the
/// MQTT subscription. The schema is applied with the same <c>Twin.Silo migrate</c> command an
/// operator runs. The tests' cluster fixture and <c>tools/Twin.Bench soak</c> both start it.
/// </summary>
public sealed class TwinCluster : IAsyncDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly Dictionary<string, string> _siloSettings = new()
    {
        // Short membership timeouts so a dead silo is declared dead within seconds.
        ["Twin:Cluster:ProbeTimeout"] = "00:00:01",
        ["Twin:Cluster:MissedProbesLimit"] = "2",
        ["Twin:Cluster:ClusterId"] = "test-cluster",
        ["Twin:Cluster:ServiceId"] = "test-service",
    };

    public TwinCluster(int silos = 3, int gateways = 2)
    {
        SiloProcesses = new SiloProcess[silos];
        Gateways = new GatewayProcess[gateways];
    }

    public PostgresProcess Postgres { get; private set; } = null!;

    public MosquittoProcess Mosquitto { get; private set; } = null!;

    /// <summary>The silos; a restart replaces an element in place.</summary>
    public SiloProcess[] SiloProcesses { get; }

    /// <summary>The gateways; a restart replaces an element in place.</summary>
    public GatewayProcess[] Gateways { get; }

    /// <summary>Starts every process and waits until the gateways consume from the broker.</summary>
    public async Task StartAsync()
    {
        Postgres = await PostgresProcess.StartAsync(_temp.Sub("postgres"));
        await SiloProcess.MigrateAsync(Postgres.ConnectionString);
        Mosquitto = await MosquittoProcess.StartAsync(_temp.Sub("mosquitto"));
        for (var i = 0; i < SiloProcesses.Length; i++)
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
            ["Twin:Mqtt:Port"] = Mosquitto.Port.ToString(CultureInfo.InvariantCulture),
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

    /// <summary>The last lines of what every silo and gateway printed, one block each.</summary>
    public void WriteOutputs(Action<string> writeLine)
    {
        for (var i = 0; i < SiloProcesses.Length; i++)
        {
            writeLine($"--- silo {i}\n{Tail(SiloProcesses[i]?.Output ?? "")}");
        }

        for (var i = 0; i < Gateways.Length; i++)
        {
            writeLine($"--- gateway {i}\n{Tail(Gateways[i]?.Output ?? "")}");
        }
    }

    public async ValueTask DisposeAsync()
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

    private static string Tail(string text) => text.Length <= 4000 ? text : text[^4000..];
}
