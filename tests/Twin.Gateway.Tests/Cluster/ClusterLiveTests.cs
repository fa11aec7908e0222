using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR.Client;
using Twin.Testing;
using Xunit.Abstractions;

namespace Twin.Gateway.Tests.Cluster;

/// <summary>
/// The live feed in cluster mode: twins on the silo processes publish to their streams, and each
/// client-mode gateway subscribes for its own hub clients, whichever gateway ingested the reading.
/// </summary>
public sealed class ClusterLiveTests(ClusterFixture cluster, ITestOutputHelper output) : IClassFixture<ClusterFixture>
{
    private const string Factory = "cluster-live";

    [Fact]
    public async Task A_change_reaches_hub_clients_on_every_gateway_through_the_streams()
    {
        await using var device = await TestDevice.ConnectAsync(cluster.Mosquitto.Port);
        await PublishAsync(device, "m1", 1, 1);
        await Wait.UntilAsync(async () => await cluster.Gateways[0].GetJsonAsync($"/api/factories/{Factory}/machines/m1") is not null, TimeSpan.FromSeconds(20), "m1 exists");

        var received = cluster.Gateways.Select(_ => new ConcurrentQueue<JsonElement>()).ToArray();
        var connections = new List<HubConnection>();
        try
        {
            for (var g = 0; g < cluster.Gateways.Length; g++)
            {
                var changes = received[g];
                var connection = Connect(cluster.Gateways[g]);
                connection.On<JsonElement>("twinChanged", c => changes.Enqueue(c));
                await connection.StartAsync();
                connections.Add(connection);
                var snapshot = await connection.InvokeAsync<JsonElement>("Subscribe", $"machine:{Factory}/m1");
                Assert.Equal(1, snapshot.GetProperty("version").GetInt64());
            }

            for (var seq = 2; seq <= 20; seq++)
            {
                await PublishAsync(device, "m1", seq, seq);
            }

            await Wait.UntilAsync(
                () => Task.FromResult(received.All(r => r.Any(c => c.GetProperty("version").GetInt64() == 20))),
                TimeSpan.FromSeconds(20),
                "version 20 on both gateways' clients");
            foreach (var changes in received)
            {
                var versions = changes.Select(c => c.GetProperty("version").GetInt64()).ToList();
                output.WriteLine(string.Join(", ", versions));
                Assert.Equal(versions.Order(), versions);
                Assert.Equal(versions.Distinct().Count(), versions.Count);
                Assert.Equal(20, changes.Last().GetProperty("machine").GetProperty("sensors")[0].GetProperty("value").GetDouble());
            }
        }
        finally
        {
            await Task.WhenAll(connections.Select(c => c.DisposeAsync().AsTask()));
        }
    }

    [Fact]
    public async Task A_line_watched_on_one_gateway_follows_a_machine_joining_it_through_another()
    {
        await using var device = await TestDevice.ConnectAsync(cluster.Mosquitto.Port);
        await PublishAsync(device, "a", 1, 1);
        await PublishAsync(device, "b", 1, 1);
        await Wait.UntilAsync(async () => await cluster.Gateways[0].GetJsonAsync($"/api/factories/{Factory}/machines/b") is not null, TimeSpan.FromSeconds(20), "machines exist");
        await PutLineAsync(cluster.Gateways[0], "l1", "a");

        var changes = new ConcurrentQueue<JsonElement>();
        await using var connection = Connect(cluster.Gateways[1]);
        connection.On<JsonElement>("twinChanged", c => changes.Enqueue(c));
        await connection.StartAsync();
        var line = await connection.InvokeAsync<JsonElement>("Subscribe", $"line:{Factory}/l1");
        Assert.Equal(1, line.GetProperty("line").GetProperty("machines").GetArrayLength());

        // b joins through the other gateway's API; then b's reading moves the line.
        await PutLineAsync(cluster.Gateways[0], "l1", "a", "b");
        await Wait.UntilAsync(() => Task.FromResult(changes.Any(c => Has(c, "b", 2))), TimeSpan.FromSeconds(20), "the line with b");
        await PublishAsync(device, "b", 2, 42);
        await Wait.UntilAsync(() => Task.FromResult(changes.Any(c => Has(c, "b", 3))), TimeSpan.FromSeconds(20), "the line with b's reading");
        var versions = changes.Select(c => c.GetProperty("version").GetInt64()).ToList();
        Assert.Equal(versions.Order(), versions);

        static bool Has(JsonElement change, string machine, long version) =>
            change.GetProperty("line").GetProperty("machines").EnumerateArray().Any(m => m.GetProperty("id").GetString() == machine && m.GetProperty("version").GetInt64() >= version);
    }

    private static HubConnection Connect(GatewayProcess gateway) =>
        new HubConnectionBuilder().WithUrl(new Uri(gateway.Http.BaseAddress!, "/hubs/twins")).Build();

    private static Task PublishAsync(TestDevice device, string machine, int seq, double value) =>
        device.PublishAsync($"factory/{Factory}/machine/{machine}/telemetry", string.Create(CultureInfo.InvariantCulture, $"{{\"seq\":{seq},\"ts\":\"{TestDevice.Now(seq)}\",\"values\":{{\"temperature\":{value}}}}}"));

    private static async Task PutLineAsync(GatewayProcess gateway, string line, params string[] machines)
    {
        var body = JsonSerializer.Serialize(new { name = line, machines });
        using var put = await gateway.Http.PutAsync($"/api/factories/{Factory}/lines/{line}", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        put.EnsureSuccessStatusCode();
    }
}
