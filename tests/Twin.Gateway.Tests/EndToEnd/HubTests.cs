using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Twin.Testing;

namespace Twin.Gateway.Tests.EndToEnd;

public class HubTests(EmbeddedGatewayFixture fixture) : IClassFixture<EmbeddedGatewayFixture>
{
    private readonly string _factory = "hub-" + Guid.NewGuid().ToString("N")[..8];
    private GatewayProcess Gateway => fixture.Gateway;

    private HubConnection Connect() => new HubConnectionBuilder().WithUrl(new Uri(Gateway.Http.BaseAddress!, "/hubs/twins")).Build();

    private static long Version(JsonElement change) => change.GetProperty("version").GetInt64();

    private async Task PublishAsync(TestDevice device, string machine, int seq, double value) =>
        await device.PublishAsync($"factory/{_factory}/machine/{machine}/telemetry", string.Create(CultureInfo.InvariantCulture, $"{{\"seq\":{seq},\"ts\":\"{TestDevice.Now(seq)}\",\"values\":{{\"temperature\":{value}}}}}"));

    [Fact]
    public async Task A_subscriber_gets_a_snapshot_then_changes_in_version_order_and_resyncs_after_a_gap()
    {
        await using var device = await TestDevice.ConnectAsync(Gateway.MqttPort);
        await PublishAsync(device, "m1", 1, 20);
        await Wait.UntilAsync(async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/machines/m1") is not null, TimeSpan.FromSeconds(10), "m1 exists");

        var changes = new ConcurrentQueue<JsonElement>();
        await using var connection = Connect();
        connection.On<JsonElement>("twinChanged", c => changes.Enqueue(c));
        await connection.StartAsync();
        var snapshot = await connection.InvokeAsync<JsonElement>("Subscribe", $"machine:{_factory}/m1");
        Assert.Equal(1, Version(snapshot));
        Assert.Equal(20, snapshot.GetProperty("machine").GetProperty("sensors")[0].GetProperty("value").GetDouble());

        for (var seq = 2; seq <= 30; seq++)
        {
            await PublishAsync(device, "m1", seq, 20 + seq);
        }

        await Wait.UntilAsync(() => Task.FromResult(changes.Any(c => Version(c) == 30)), TimeSpan.FromSeconds(10), "version 30 pushed");
        var versions = changes.Select(Version).ToList();
        Assert.Equal(versions.Order(), versions);
        Assert.Equal(versions.Distinct().Count(), versions.Count);
        Assert.All(changes, c => Assert.Equal($"machine:{_factory}/m1", c.GetProperty("topic").GetString()));
        Assert.Equal(50, changes.Last().GetProperty("machine").GetProperty("sensors")[0].GetProperty("value").GetDouble());

        // Missed versions while away: subscribing again is the resync.
        await connection.StopAsync();
        for (var seq = 31; seq <= 40; seq++)
        {
            await PublishAsync(device, "m1", seq, 100 + seq);
        }

        await Wait.UntilAsync(async () => (await Gateway.GetJsonAsync($"/api/factories/{_factory}/machines/m1"))!.Value.GetProperty("version").GetInt64() == 40, TimeSpan.FromSeconds(10), "version 40 stored");
        await connection.StartAsync();
        var resynced = await connection.InvokeAsync<JsonElement>("Subscribe", $"machine:{_factory}/m1");
        Assert.Equal(40, Version(resynced));

        await Assert.ThrowsAsync<HubException>(() => connection.InvokeAsync<JsonElement>("Subscribe", "line:nope"));
    }

    [Fact]
    public async Task A_hot_twin_is_coalesced_to_the_live_rate_and_its_latest_state_arrives()
    {
        await using var device = await TestDevice.ConnectAsync(Gateway.MqttPort);
        await PublishAsync(device, "hot", 1, 0);
        await Wait.UntilAsync(async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/machines/hot") is not null, TimeSpan.FromSeconds(10), "hot exists");

        var changes = new ConcurrentQueue<JsonElement>();
        await using var connection = Connect();
        connection.On<JsonElement>("twinChanged", c => changes.Enqueue(c));
        await connection.StartAsync();
        await connection.InvokeAsync<JsonElement>("Subscribe", $"machine:{_factory}/hot");

        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var seq = 2; seq <= 400; seq++)
        {
            await PublishAsync(device, "hot", seq, seq);
        }

        await Wait.UntilAsync(() => Task.FromResult(changes.Any(c => Version(c) == 400)), TimeSpan.FromSeconds(20), "version 400 pushed");
        var elapsed = clock.Elapsed;

        // At most one change per 100 ms (the default 10 per second), plus the first one at once.
        var versions = changes.Select(Version).ToList();
        Assert.True(versions.Count <= (elapsed.TotalMilliseconds / 100) + 2, $"{versions.Count} changes in {elapsed.TotalMilliseconds:F0} ms");
        Assert.Equal(versions.Order(), versions);
        Assert.Equal(400, changes.Last().GetProperty("machine").GetProperty("sensors")[0].GetProperty("value").GetDouble());
    }

    [Fact]
    public async Task Two_hundred_clients_each_receive_only_the_twins_they_subscribed_to()
    {
        const int machines = 20, clients = 200;
        await using var device = await TestDevice.ConnectAsync(Gateway.MqttPort);
        for (var m = 0; m < machines; m++)
        {
            await PublishAsync(device, $"m{m}", 1, m);
        }

        var received = new ConcurrentDictionary<int, ConcurrentBag<string>>();
        var connections = new List<HubConnection>();
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, clients), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (c, token) =>
            {
                var connection = Connect();
                var bag = received.GetOrAdd(c, _ => []);
                connection.On<JsonElement>("twinChanged", change => bag.Add(change.GetProperty("topic").GetString()!));
                await connection.StartAsync(token);
                await connection.InvokeAsync<JsonElement>("Subscribe", $"machine:{_factory}/m{c % machines}", token);
                lock (connections)
                {
                    connections.Add(connection);
                }
            });

            for (var m = 0; m < machines; m++)
            {
                await PublishAsync(device, $"m{m}", 2, 100 + m);
            }

            await Wait.UntilAsync(() => Task.FromResult(received.Values.All(b => !b.IsEmpty)), TimeSpan.FromSeconds(20), "every client got its change");
            foreach (var (client, topics) in received)
            {
                Assert.All(topics, t => Assert.Equal($"machine:{_factory}/m{client % machines}", t));
            }
        }
        finally
        {
            await Task.WhenAll(connections.Select(c => c.DisposeAsync().AsTask()));
        }
    }

    [Fact]
    public async Task Line_and_factory_subscriptions_follow_their_machines()
    {
        await using var device = await TestDevice.ConnectAsync(Gateway.MqttPort);
        await PublishAsync(device, "a", 1, 10);
        await PublishAsync(device, "b", 1, 10);
        await Wait.UntilAsync(async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/machines/b") is not null, TimeSpan.FromSeconds(10), "machines exist");
        using (var put = await Gateway.Http.PutAsync($"/api/factories/{_factory}/lines/l1", new StringContent("{\"name\":\"L1\",\"machines\":[\"a\",\"b\"]}", System.Text.Encoding.UTF8, "application/json")))
        {
            put.EnsureSuccessStatusCode();
        }

        var changes = new ConcurrentQueue<JsonElement>();
        await using var connection = Connect();
        connection.On<JsonElement>("twinChanged", c => changes.Enqueue(c));
        await connection.StartAsync();
        var line = await connection.InvokeAsync<JsonElement>("Subscribe", $"line:{_factory}/l1");
        var factory = await connection.InvokeAsync<JsonElement>("Subscribe", $"factory:{_factory}");
        Assert.Equal(2, line.GetProperty("line").GetProperty("machines").GetArrayLength());
        Assert.Equal("l1", factory.GetProperty("factory").GetProperty("lines")[0].GetProperty("id").GetString());

        await PublishAsync(device, "b", 2, 99);
        await Wait.UntilAsync(
            () => Task.FromResult(changes.Any(c => c.GetProperty("topic").GetString() == $"line:{_factory}/l1" && Version(c) > Version(line))
                && changes.Any(c => c.GetProperty("topic").GetString() == $"factory:{_factory}" && Version(c) > Version(factory))),
            TimeSpan.FromSeconds(10),
            "line and factory changes");
        var latest = changes.Last(c => c.GetProperty("topic").GetString() == $"line:{_factory}/l1");
        // a: reading + joining the line = 2; b: the same + the new reading = 3.
        Assert.Equal(5, latest.GetProperty("line").GetProperty("machines").EnumerateArray().Sum(m => m.GetProperty("version").GetInt64()));
        await Assert.ThrowsAsync<HubException>(() => connection.InvokeAsync<JsonElement>("Subscribe", $"line:{_factory}/nope"));
    }
    [Fact]
    public async Task Line_and_factory_subscriptions_follow_a_machine_joining_the_line()
    {
        await using var device = await TestDevice.ConnectAsync(Gateway.MqttPort);
        await PublishAsync(device, "a", 1, 10);
        await PublishAsync(device, "c", 1, 10);
        await Wait.UntilAsync(async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/machines/c") is not null, TimeSpan.FromSeconds(10), "machines exist");
        await PutLineAsync("l1", "a");

        var changes = new ConcurrentQueue<JsonElement>();
        await using var connection = Connect();
        connection.On<JsonElement>("twinChanged", c => changes.Enqueue(c));
        await connection.StartAsync();
        var line = await connection.InvokeAsync<JsonElement>("Subscribe", $"line:{_factory}/l1");
        var factory = await connection.InvokeAsync<JsonElement>("Subscribe", $"factory:{_factory}");
        Assert.Equal(1, line.GetProperty("line").GetProperty("machines").GetArrayLength());

        // c joins the line: the line's and the factory's watchers get it without subscribing again.
        await PutLineAsync("l1", "a", "c");
        bool Shows(JsonElement change, string topic, Func<JsonElement, bool> what) => change.GetProperty("topic").GetString() == topic && what(change);
        bool LineHasC(JsonElement l) => l.GetProperty("machines").EnumerateArray().Any(m => m.GetProperty("id").GetString() == "c");
        await Wait.UntilAsync(
            () => Task.FromResult(changes.Any(c => Shows(c, $"line:{_factory}/l1", c => LineHasC(c.GetProperty("line"))))
                && changes.Any(c => Shows(c, $"factory:{_factory}", c => LineHasC(c.GetProperty("factory").GetProperty("lines")[0])))),
            TimeSpan.FromSeconds(10),
            "line and factory views with c");

        // From then on c's own changes move the line and the factory.
        await PublishAsync(device, "c", 2, 77);
        bool CShows77(JsonElement l) => l.GetProperty("machines").EnumerateArray().Any(m => m.GetProperty("id").GetString() == "c" && m.GetProperty("version").GetInt64() >= 3);
        await Wait.UntilAsync(
            () => Task.FromResult(changes.Any(c => Shows(c, $"line:{_factory}/l1", c => CShows77(c.GetProperty("line"))))
                && changes.Any(c => Shows(c, $"factory:{_factory}", c => CShows77(c.GetProperty("factory").GetProperty("lines")[0])))),
            TimeSpan.FromSeconds(10),
            "line and factory changes from c's reading");
        var lineVersions = changes.Where(c => c.GetProperty("topic").GetString() == $"line:{_factory}/l1").Select(Version).ToList();
        Assert.Equal(lineVersions.Order(), lineVersions);
        Assert.True(lineVersions[0] >= Version(line), "a line change older than the snapshot was sent");
        Assert.True(changes.Where(c => c.GetProperty("topic").GetString() == $"factory:{_factory}").All(c => Version(c) >= Version(factory)));
    }

    private async Task PutLineAsync(string line, params string[] machines)
    {
        var body = JsonSerializer.Serialize(new { name = line.ToUpperInvariant(), machines });
        using var put = await Gateway.Http.PutAsync($"/api/factories/{_factory}/lines/{line}", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        put.EnsureSuccessStatusCode();
    }
}
