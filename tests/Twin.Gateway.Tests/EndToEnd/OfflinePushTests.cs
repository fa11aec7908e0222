using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR.Client;
using Twin.Testing;

namespace Twin.Gateway.Tests.EndToEnd;

/// <summary>A machine that goes quiet is pushed offline to the live feed when it goes offline, not a heartbeat period later.</summary>
public class OfflinePushTests
{
    private static readonly TimeSpan OfflineAfter = TimeSpan.FromSeconds(6);

    [Fact]
    public async Task A_quiet_machine_is_pushed_offline_within_a_second_of_going_offline()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Sub("data"), new Dictionary<string, string>
        {
            ["Twin:Machine:OfflineAfter"] = OfflineAfter.ToString("c", CultureInfo.InvariantCulture),
        });
        await gateway.StartAsync();
        var factory = "off-" + Guid.NewGuid().ToString("N")[..8];

        // Three machines heard at different moments, so their heartbeat periods start at different
        // phases: a check once a period (every 3 s here) would be late by up to 3 s for most of them.
        var changes = new ConcurrentQueue<string>();
        await using var connection = new HubConnectionBuilder().WithUrl(new Uri(gateway.Http.BaseAddress!, "/hubs/twins")).Build();
        var offlineAt = WatchOffline(connection, changes);
        await connection.StartAsync();

        var lastSeen = new Dictionary<string, DateTimeOffset>();
        foreach (var id in new[] { "m1", "m2", "m3" })
        {
            var url = $"/api/factories/{factory}/machines/{id}/telemetry";
            var body = $"{{\"seq\":1,\"ts\":\"{TestDevice.Now()}\",\"values\":{{\"temp\":25}}}}";
            Assert.True((await gateway.Http.PostAsync(url, new StringContent(body, Encoding.UTF8, "application/json"))).IsSuccessStatusCode);
            var snapshot = await connection.InvokeAsync<JsonElement>("Subscribe", $"machine:{factory}/{id}");
            lastSeen[id] = snapshot.GetProperty("machine").GetProperty("lastSeen").GetDateTimeOffset();
            await Task.Delay(TimeSpan.FromSeconds(0.9)); // spacing the phases, not waiting for a result
        }

        try
        {
            await Wait.UntilAsync(() => Task.FromResult(offlineAt.Count == 3), OfflineAfter * 3, "all three pushed offline");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + " Changes pushed: " + string.Join("\n", changes), ex);
        }

        foreach (var (id, seen) in lastSeen)
        {
            var lag = offlineAt[id] - (seen + OfflineAfter);
            // A wheel tick is 3 s / 16; the rest is the live feed and the machine's load.
            Assert.True(lag > TimeSpan.FromMilliseconds(-50) && lag < TimeSpan.FromSeconds(1), $"{id} pushed offline {lag.TotalMilliseconds:F0} ms after it went offline");
        }
    }

    [Fact]
    public async Task After_a_restart_a_machine_heard_before_it_is_pushed_offline_on_time()
    {
        // Offline 30 s after the last message; the twins come back more than a period (15 s) after
        // it and before that moment, so a first check a period after the activation would be late.
        var offlineAfter = TimeSpan.FromSeconds(30);
        using var temp = new TempDirectory();
        var settings = new Dictionary<string, string> { ["Twin:Machine:OfflineAfter"] = offlineAfter.ToString("c", CultureInfo.InvariantCulture) };
        var factory = "off-" + Guid.NewGuid().ToString("N")[..8];
        var lastSeen = new Dictionary<string, DateTimeOffset>();
        await using (var before = new GatewayProcess(temp.Sub("data"), settings))
        {
            await before.StartAsync();
            foreach (var id in new[] { "m1", "m2" })
            {
                var body = $"{{\"seq\":1,\"ts\":\"{TestDevice.Now()}\",\"values\":{{\"temp\":25}}}}";
                Assert.True((await before.Http.PostAsync($"/api/factories/{factory}/machines/{id}/telemetry", new StringContent(body, Encoding.UTF8, "application/json"))).IsSuccessStatusCode);
                lastSeen[id] = (await before.MachineAsync(factory, id))!.Value.GetProperty("lastSeen").GetDateTimeOffset();
            }

            await before.StopAsync();
        }

        var comeBack = lastSeen.Values.Min() + (offlineAfter / 2) + TimeSpan.FromSeconds(1) - DateTimeOffset.UtcNow;
        if (comeBack > TimeSpan.Zero)
        {
            await Task.Delay(comeBack); // the scenario's moment, not a wait for a result
        }

        await using var gateway = new GatewayProcess(temp.Sub("data"), settings);
        await gateway.StartAsync();
        await using var connection = new HubConnectionBuilder().WithUrl(new Uri(gateway.Http.BaseAddress!, "/hubs/twins")).Build();
        var offlineAt = WatchOffline(connection, new ConcurrentQueue<string>());
        await connection.StartAsync();
        foreach (var id in lastSeen.Keys)
        {
            await connection.InvokeAsync<JsonElement>("Subscribe", $"machine:{factory}/{id}");
            Assert.True(DateTimeOffset.UtcNow < lastSeen[id] + offlineAfter - TimeSpan.FromSeconds(2), "the restart took longer than the offline time: the test would prove nothing");
        }

        await Wait.UntilAsync(() => Task.FromResult(offlineAt.Count == lastSeen.Count), offlineAfter * 2, "both pushed offline after the restart");
        foreach (var (id, seen) in lastSeen)
        {
            var lag = offlineAt[id] - (seen + offlineAfter);
            // A wheel tick is 15 s / 16 here.
            Assert.True(lag > TimeSpan.FromMilliseconds(-50) && lag < TimeSpan.FromSeconds(1.5), $"{id} pushed offline {lag.TotalMilliseconds:F0} ms after it went offline");
        }
    }

    /// <summary>When each machine was first pushed offline; every change pushed goes into <paramref name="changes"/>.</summary>
    private static ConcurrentDictionary<string, DateTimeOffset> WatchOffline(HubConnection connection, ConcurrentQueue<string> changes)
    {
        var offlineAt = new ConcurrentDictionary<string, DateTimeOffset>();
        connection.On<JsonElement>("twinChanged", change =>
        {
            changes.Enqueue(change.GetRawText());
            var machine = change.GetProperty("machine");
            if (machine.GetProperty("status").GetString() == "offline")
            {
                offlineAt.TryAdd(machine.GetProperty("id").GetString()!, DateTimeOffset.UtcNow);
            }
        });
        return offlineAt;
    }
}
