using System.Diagnostics;
using Twin.Testing;
using Xunit.Abstractions;

namespace Twin.Gateway.Tests.Cluster;

/// <summary>
/// Cluster mode on PostgreSQL with real process deaths: whatever the broker acknowledged to the
/// publisher ends up in the twins exactly once, whichever process dies.
/// </summary>
public sealed class ClusterTests(ClusterFixture cluster, ITestOutputHelper output) : IClassFixture<ClusterFixture>
{
    private const int Machines = 8;
    private const int Rate = 400;

    [Fact]
    public async Task Killing_a_silo_loses_no_acknowledged_reading_and_ingestion_resumes()
    {
        const int perMachine = 600;
        var publisher = new LoadPublisher("kill-silo", Machines, perMachine, Rate);
        publisher.Start(cluster.Mosquitto.Port);
        try
        {
            await publisher.WaitForAsync(publisher.Total / 3, TimeSpan.FromSeconds(60));
            var before = await AppliedAsync("kill-silo", publisher);
            var deadPort = cluster.SiloProcesses[1].SiloPort;
            var killed = Stopwatch.StartNew();
            await cluster.SiloProcesses[1].KillAsync();

            // Every machine, including those whose twin lived on the dead silo, moves on again.
            await Wait.UntilAsync(
                async () =>
                {
                    var now = await AppliedAsync("kill-silo", publisher);
                    return now.Zip(before).All(p => p.First > p.Second) || publisher.Published == publisher.Total;
                },
                TimeSpan.FromSeconds(60),
                "every machine ingesting again after the silo died");
            var resumed = killed.Elapsed;

            // The survivors declare it dead in the membership table (the membership timeout).
            await Wait.UntilAsync(() => StatusInTableAsync(deadPort), TimeSpan.FromSeconds(60), "the killed silo declared dead");
            output.WriteLine($"kill -9 of a silo: every machine ingesting again after {resumed.TotalSeconds:F1} s; declared dead after {killed.Elapsed.TotalSeconds:F1} s");
            Assert.True(resumed < TimeSpan.FromSeconds(30), $"resumed after {resumed}");

            await publisher.CompleteAsync(TimeSpan.FromSeconds(120));
            await cluster.AssertExactlyOnceAsync(publisher, "kill-silo", perMachine, output);
            await cluster.AssertHistoryCompleteAsync(publisher, "kill-silo", perMachine);
            cluster.AssertAllRunning(except: 1);
        }
        finally
        {
            cluster.WriteOutputs(output);
            await cluster.RestartSiloAsync(1);
        }
    }

    [Fact]
    public async Task A_silo_hung_for_20_seconds_loses_and_doubles_nothing_in_the_twins_or_the_history()
    {
        const int perMachine = 900;
        var publisher = new LoadPublisher("hung-silo", Machines, perMachine, Rate);
        publisher.Start(cluster.Mosquitto.Port);
        var hung = cluster.SiloProcesses[1].Process;
        try
        {
            await publisher.WaitForAsync(publisher.Total / 4, TimeSpan.FromSeconds(60));
            output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} SIGSTOP silo 1 (pid {hung.Id})");
            await hung.PauseAsync();
            var stopped = Stopwatch.StartNew();
            await Wait.UntilAsync(() => Task.FromResult(stopped.Elapsed >= TimeSpan.FromSeconds(20)), TimeSpan.FromSeconds(30), "20 s hung");
            await hung.ResumeAsync();
            output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} SIGCONT silo 1");

            await publisher.CompleteAsync(TimeSpan.FromSeconds(180));
            await cluster.AssertExactlyOnceAsync(publisher, "hung-silo", perMachine, output);
            await cluster.AssertHistoryCompleteAsync(publisher, "hung-silo", perMachine);
            foreach (var gateway in cluster.Gateways)
            {
                Assert.False(gateway.Process.HasExited, $"a gateway exited:\n{gateway.Output}");
            }
        }
        finally
        {
            await hung.ResumeAsync();
            cluster.WriteOutputs(output);
            await cluster.RestartSiloAsync(1);
        }
    }

    [Fact]
    public async Task Killing_a_gateway_with_messages_in_flight_redelivers_them_once()
    {
        const int perMachine = 500;
        var publisher = new LoadPublisher("kill-gateway", Machines, perMachine, Rate);
        publisher.Start(cluster.Mosquitto.Port);
        try
        {
            await publisher.WaitForAsync(publisher.Total / 3, TimeSpan.FromSeconds(60));
            await cluster.Gateways[1].Process.KillAsync();
            await publisher.WaitForAsync(publisher.Total / 2, TimeSpan.FromSeconds(60));
            await cluster.RestartGatewayAsync(1);

            await publisher.CompleteAsync(TimeSpan.FromSeconds(120));
            await cluster.AssertExactlyOnceAsync(publisher, "kill-gateway", perMachine, output);
            await cluster.AssertHistoryCompleteAsync(publisher, "kill-gateway", perMachine);
            output.WriteLine($"restarted gateway: {await cluster.Gateways[1].GetJsonAsync("/api/gateway/ingest")}");
            cluster.AssertAllRunning();
        }
        finally
        {
            cluster.WriteOutputs(output);
        }
    }

    [Fact]
    public async Task PostgreSQL_down_for_20_seconds_loses_nothing_and_crashes_nothing()
    {
        const int perMachine = 1500;
        var publisher = new LoadPublisher("db-outage", Machines, perMachine, Rate);
        publisher.Start(cluster.Mosquitto.Port);
        try
        {
            await publisher.WaitForAsync(publisher.Total / 10, TimeSpan.FromSeconds(60));
            output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} stopping PostgreSQL");
            await cluster.Postgres.StopAsync();
            var down = Stopwatch.StartNew();
            await Wait.UntilAsync(() => Task.FromResult(down.Elapsed >= TimeSpan.FromSeconds(20)), TimeSpan.FromSeconds(30), "20 s of outage");
            cluster.AssertAllRunning();
            var during = await cluster.SiloProcesses[0].Http.GetAsync("/health/ready");
            Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, during.StatusCode);
            await cluster.Postgres.StartAgainAsync();
            output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} PostgreSQL started again");

            await publisher.CompleteAsync(TimeSpan.FromSeconds(120));
            await cluster.AssertExactlyOnceAsync(publisher, "db-outage", perMachine, output);
            await cluster.AssertHistoryCompleteAsync(publisher, "db-outage", perMachine);
            cluster.AssertAllRunning();
            foreach (var silo in cluster.SiloProcesses)
            {
                await silo.WaitReadyAsync(TimeSpan.FromSeconds(30));
            }
        }
        finally
        {
            cluster.WriteOutputs(output);
        }
    }

    [Fact]
    public async Task A_rolling_restart_of_every_silo_loses_nothing()
    {
        const int perMachine = 1500;
        var publisher = new LoadPublisher("rolling", Machines, perMachine, Rate);
        publisher.Start(cluster.Mosquitto.Port);
        try
        {
            await publisher.WaitForAsync(publisher.Total / 10, TimeSpan.FromSeconds(60));
            for (var i = 0; i < ClusterFixture.Silos; i++)
            {
                var stopping = Stopwatch.StartNew();
                await cluster.SiloProcesses[i].StopAsync();
                output.WriteLine($"silo {i} drained and left in {stopping.Elapsed.TotalSeconds:F1} s (SIGTERM)");
                await cluster.RestartSiloAsync(i);
            }

            await publisher.CompleteAsync(TimeSpan.FromSeconds(180));
            await cluster.AssertExactlyOnceAsync(publisher, "rolling", perMachine, output);
            cluster.AssertAllRunning();
        }
        finally
        {
            cluster.WriteOutputs(output);
        }
    }

    private async Task<bool> StatusInTableAsync(int siloPort)
    {
        await using var connection = new Npgsql.NpgsqlConnection(cluster.Postgres.ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT count(*) FROM twin_membership WHERE port = @port AND status = 6", connection);
        command.Parameters.AddWithValue("port", siloPort);
        return (long)(await command.ExecuteScalarAsync())! > 0;
    }

    private async Task<long[]> AppliedAsync(string factory, LoadPublisher publisher)
    {
        var applied = new List<long>();
        foreach (var machine in publisher.MachineIds)
        {
            var snapshot = await cluster.Gateways[0].GetJsonAsync($"/api/factories/{factory}/machines/{machine}");
            applied.Add(snapshot?.GetProperty("ingest").GetProperty("applied").GetInt64() ?? 0);
        }

        return [.. applied];
    }
}
