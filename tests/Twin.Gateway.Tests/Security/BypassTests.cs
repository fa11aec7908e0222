using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Twin.Testing;
using Xunit.Abstractions;

namespace Twin.Gateway.Tests.Security;

/// <summary>
/// An attacker with a valid token for plant-a tries to reach plant-b through every spelling the
/// router might map to the same endpoint, through the real process, byte for byte.
/// </summary>
public sealed class BypassTests(SecuredGatewayFixture fixture, ITestOutputHelper output) : IClassFixture<SecuredGatewayFixture>
{
    private const string Secret = "secret-b1";

    private GatewayProcess Gateway => fixture.Gateway;

    /// <summary>Request targets that all mean (or might be taken to mean) plant-b's machines.</summary>
    public static IEnumerable<string> PlantBReads()
    {
        string[] api = ["api", "API", "Api", "aPi", "%61pi", "%41PI"];
        string[] factories = ["factories", "FACTORIES", "Factories", "factorie%73", "%66actories", "FaCtOrIeS"];
        string[] factory = ["plant-b", "plant%2Db", "%70lant-b", "plant%2db", "PLANT-B", "Plant-b"];
        string[] machines = ["machines", "MACHINES", "Machines", "machine%73"];
        foreach (var a in api)
        {
            foreach (var f in factories)
            {
                yield return $"/{a}/{f}/plant-b/machines";
            }
        }

        foreach (var f in factory)
        {
            foreach (var m in machines)
            {
                yield return $"/api/factories/{f}/{m}";
                yield return $"/api/factories/{f}/{m}/{Secret}";
            }
        }

        yield return "/api/factories/plant-b/machines/";
        yield return "/api/factories/plant-b/machines//";
        yield return "//api/factories/plant-b/machines";
        yield return "/api//factories/plant-b/machines";
        yield return "/api/factories//plant-b/machines";
        yield return "/api/factories/plant-b//machines";
        yield return "/api/./factories/plant-b/machines";
        yield return "/api/factories/./plant-b/machines";
        yield return "/api/factories/plant-a/../plant-b/machines";
        yield return "/api/factories/plant-a/%2e%2e/plant-b/machines";
        yield return "/api/factories/plant-a/%2E%2E/plant-b/machines";
        yield return "/api/factories/plant-a/.%2e/plant-b/machines";
        yield return "/api/factories/plant-a%2f..%2fplant-b/machines";
        yield return "/api/factories/plant-a%2F..%2Fplant-b/machines";
        yield return "/api/factories/plant-b%2fmachines";
        yield return "/api/x/../factories/plant-b/machines";
        yield return "/api/factories/plant-b/machines/./";
        yield return "/api/factories/plant-b/machines/%2e";
        yield return "/api/factories/plant-b/machines;x=1";
        yield return "/api/factories/plant-b;/machines";
        yield return "/api/factories/plant-b/machines?factory=plant-a";
        yield return "/api/factories/plant-a/machines/../../plant-b/machines";
        yield return "/api/factories/plant-b%00/machines";
        yield return "/api/factories/plant-b%20/machines";
        yield return "/api/factories/%20plant-b/machines";
        yield return "/api/factories/plant-b\\machines";
        yield return "/api\\factories\\plant-b\\machines";
        yield return "/api/factories/pl%C3%A4nt-b/machines";
        yield return "/api/factories/plant-b/machines/" + Secret + "/history?sensor=temperature";
        yield return "/api/factories/plant-b/dead-letters";
        yield return "/api/factories/plant-b/tickets";
        yield return "/api/factories/plant-b/kpis";
        yield return "/api/factories/plant-b/mapping-profile";
        yield return "/api/factories/plant-b/lines";
        yield return "/api/factories/plant-b/bins";
        yield return "/api/factories/plant-b/work-orders";
        yield return "/api/factories/plant-b/purchase-requests";
    }

    private async Task SeedPlantBAsync()
    {
        var admin = SecuredGatewayFixture.Token("admin", "*");
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/factories/plant-b/machines/{Secret}/telemetry")
        {
            Content = JsonContent.Create(new { seq = 1, ts = DateTimeOffset.UtcNow, values = new { temperature = 42.5 } }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", admin);
        Assert.Equal(HttpStatusCode.OK, (await Gateway.Http.SendAsync(request)).StatusCode);
    }

    [Fact]
    public async Task No_spelling_of_a_plant_b_path_lets_a_plant_a_viewer_read_it()
    {
        await SeedPlantBAsync();
        var leaks = new List<string>();
        var statuses = new Dictionary<int, int>();
        foreach (var target in PlantBReads())
        {
            var viewer = SecuredGatewayFixture.Token("viewer", "plant-a");
            var response = await RawHttp.SendAsync(Gateway.HttpPort, "GET", target, viewer);
            statuses[response.Status] = statuses.GetValueOrDefault(response.Status) + 1;
            if (response.Status is >= 200 and < 300 || response.Status == 0 || response.Body.Contains(Secret, StringComparison.Ordinal) || response.Status >= 500)
            {
                leaks.Add($"{target} → {response.Status} {response.Body[..Math.Min(200, response.Body.Length)]}");
            }
        }

        output.WriteLine($"{PlantBReads().Count()} spellings: " + string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}×{s.Value}")));
        Assert.True(leaks.Count == 0, "reached plant-b or failed badly:\n" + string.Join("\n", leaks));
        Assert.True(statuses.GetValueOrDefault(403) >= 40, "most spellings route to the endpoint and are refused there");

        // The same request for its own factory works: the refusals above are about plant-b, not about the spelling.
        var own = await RawHttp.SendAsync(Gateway.HttpPort, "GET", "/API/Factories/plant-a/MACHINES", SecuredGatewayFixture.Token("viewer", "plant-a"));
        Assert.Equal(200, own.Status);
    }

    [Fact]
    public async Task No_spelling_lets_a_plant_a_integrator_write_plant_b()
    {
        await SeedPlantBAsync();
        string[] targets =
        [
            $"/api/factories/plant-b/machines/{Secret}",
            $"/API/FACTORIES/plant-b/MACHINES/{Secret}",
            $"/api/Factories/plant-b/machines/{Secret}",
            $"/api/factories/plant%2Db/machines/{Secret}",
            $"/api/factories/plant-a/../plant-b/machines/{Secret}",
            $"/api/factories/plant-a/%2e%2e/plant-b/machines/{Secret}",
            $"//api/factories/plant-b/machines/{Secret}",
            $"/api/factories/plant-b/machines/{Secret}/",
        ];
        foreach (var target in targets)
        {
            var integrator = SecuredGatewayFixture.Token("integrator", "plant-a");
            var put = await RawHttp.SendAsync(Gateway.HttpPort, "PUT", target, integrator, "{\"name\":\"pwned\"}");
            Assert.True(put.Status is 403 or 404 or 400, $"PUT {target} → {put.Status}");
            var telemetry = await RawHttp.SendAsync(Gateway.HttpPort, "POST", target + "/telemetry", integrator, $"{{\"seq\":99,\"ts\":\"{DateTimeOffset.UtcNow:O}\",\"values\":{{\"temperature\":1}}}}");
            Assert.True(telemetry.Status is 403 or 404 or 400, $"POST {target}/telemetry → {telemetry.Status}");
        }

        foreach (var target in new[] { "/api/factories/plant-b/erp/work-orders", "/API/factories/plant-b/ERP/work-orders", "/api/factories/plant-b/wms/movements", "/api/factories/plant-b/mapping-profile" })
        {
            var method = target.EndsWith("mapping-profile", StringComparison.Ordinal) ? "PUT" : "POST";
            var response = await RawHttp.SendAsync(Gateway.HttpPort, method, target, SecuredGatewayFixture.Token("integrator", "plant-a"), "{\"eventId\":\"e1\"}");
            Assert.Equal(403, response.Status);
        }

        var snapshot = await GetAsJsonAsync($"/api/factories/plant-b/machines/{Secret}", SecuredGatewayFixture.Token("admin", "*"));
        Assert.NotEqual("pwned", snapshot.TryGetProperty("name", out var name) ? name.GetString() : null);
        Assert.NotEqual(99, snapshot.GetProperty("lastSeq").GetInt64());
    }

    [Fact]
    public async Task Tokens_that_are_wrong_in_any_way_are_refused()
    {
        var path = "/api/factories/plant-a/machines";
        async Task<int> StatusAsync(string? token) => (await RawHttp.SendAsync(Gateway.HttpPort, "GET", path, token)).Status;

        Assert.Equal(200, await StatusAsync(SecuredGatewayFixture.Mint("viewer", "plant-a")));
        Assert.Equal(200, await StatusAsync(SecuredGatewayFixture.Mint("viewer", "*")));
        Assert.Equal(401, await StatusAsync(null));
        Assert.Equal(401, await StatusAsync(""));
        Assert.Equal(401, await StatusAsync("not-a-jwt"));
        Assert.Equal(401, await StatusAsync(SecuredGatewayFixture.Mint("viewer", "plant-a", lifetime: TimeSpan.FromMinutes(-5))));
        Assert.Equal(401, await StatusAsync(SecuredGatewayFixture.Mint("viewer", "plant-a", notBefore: DateTime.UtcNow.AddMinutes(5), lifetime: TimeSpan.FromMinutes(20))));
        Assert.Equal(401, await StatusAsync(SecuredGatewayFixture.Mint("viewer", "plant-a", key: "another-signing-key-of-more-than-32-characters")));
        Assert.Equal(401, await StatusAsync(SecuredGatewayFixture.Mint("viewer", "plant-a", audience: "another-api")));
        Assert.Equal(401, await StatusAsync(SecuredGatewayFixture.Mint("viewer", "plant-a", issuer: "someone-else")));
        Assert.Equal(401, await StatusAsync(Unsigned("admin", "*")));
        Assert.Equal(401, await StatusAsync(Resigned(SecuredGatewayFixture.Mint("viewer", "plant-a"), "\"role\":\"admin\"")));

        // Valid tokens without the right to this: no role, a made-up role, a number for a role, another factory, another case.
        Assert.Equal(403, await StatusAsync(SecuredGatewayFixture.Mint(null, "plant-a")));
        Assert.Equal(403, await StatusAsync(SecuredGatewayFixture.Mint("superuser", "plant-a")));
        Assert.Equal(403, await StatusAsync(SecuredGatewayFixture.Mint("3", "plant-a")));
        Assert.Equal(403, await StatusAsync(SecuredGatewayFixture.Mint("viewer", "plant-b")));
        Assert.Equal(403, await StatusAsync(SecuredGatewayFixture.Mint("viewer", "PLANT-A")));
        Assert.Equal(403, await StatusAsync(SecuredGatewayFixture.Mint("viewer", "plant-*")));
        Assert.Equal(403, await StatusAsync(SecuredGatewayFixture.Mint("viewer", "")));

        // A `*` viewer reads everything but writes nothing; the token in the query counts only on the hub.
        var everywhere = SecuredGatewayFixture.Mint("viewer", "*");
        Assert.Equal(403, (await RawHttp.SendAsync(Gateway.HttpPort, "PUT", "/api/factories/plant-b/machines/x1", everywhere, "{\"name\":\"x\"}")).Status);
        Assert.Equal(401, (await RawHttp.SendAsync(Gateway.HttpPort, "GET", path + "?access_token=" + SecuredGatewayFixture.Mint("viewer", "plant-a"))).Status);
    }

    [Fact]
    public async Task Ingest_statistics_show_only_the_callers_factories()
    {
        await SeedPlantBAsync();
        var mine = await GetAsJsonAsync("/api/gateway/ingest", SecuredGatewayFixture.Token("viewer", "plant-a"));
        Assert.False(mine.GetProperty("factories").TryGetProperty("plant-b", out _));
        var all = await GetAsJsonAsync("/api/gateway/ingest", SecuredGatewayFixture.Token("admin", "*"));
        Assert.True(all.GetProperty("factories").GetProperty("plant-b").GetProperty("acceptedMessages").GetInt64() >= 1);
        var plantB = await GetAsJsonAsync("/api/gateway/ingest", SecuredGatewayFixture.Token("viewer", "plant-b"));
        Assert.Equal(plantB.GetProperty("acceptedMessages").GetInt64(), plantB.GetProperty("factories").GetProperty("plant-b").GetProperty("acceptedMessages").GetInt64());
    }

    [Fact]
    public async Task No_hub_topic_spelling_subscribes_a_plant_a_viewer_to_plant_b()
    {
        await SeedPlantBAsync();
        await using var hub = await ConnectAsync(SecuredGatewayFixture.Token("viewer", "plant-a"));
        var received = new ConcurrentQueue<string>();
        hub.On<JsonElement>("twinChanged", change => received.Enqueue(change.GetRawText()));
        string[] topics =
        [
            $"machine:plant-b/{Secret}", $"machine:PLANT-B/{Secret}", $"MACHINE:plant-b/{Secret}", $"Machine:plant-b/{Secret}",
            $" machine:plant-b/{Secret}", $"machine: plant-b/{Secret}", $"machine:plant-b/{Secret} ", $"machine:plant-a/../plant-b/{Secret}",
            $"machine:plant-a/../../plant-b/{Secret}", $"machine:plant-b%2F{Secret}", $"machine:plant%2Db/{Secret}", $"machine:plant-b//{Secret}",
            "line:plant-b/l1", "factory:plant-b", "factory:*", "factory:plant-b/", "machine:*/" + Secret, "machine:+/" + Secret, "machine:#",
            $"machine:plant-b\\{Secret}", $"machine:plant-b/{Secret}\0", "machine:plant-b", "",
        ];
        foreach (var topic in topics)
        {
            await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync<JsonElement>("Subscribe", topic));
        }

        // A change in plant-b, then one in plant-a: the plant-a one arrives, the plant-b one never does.
        await PostAsync("plant-a", "open-a1", 1);
        await hub.InvokeAsync<JsonElement>("Subscribe", "machine:plant-a/open-a1");
        await PostAsync("plant-b", Secret, 2);
        await PostAsync("plant-a", "open-a1", 2);
        await Wait.UntilAsync(() => Task.FromResult(received.Any(r => r.Contains("plant-a/open-a1", StringComparison.Ordinal))), TimeSpan.FromSeconds(10), "the plant-a change delivered");
        Assert.DoesNotContain(received, r => r.Contains("plant-b", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_hub_connection_has_a_subscription_limit_and_rate()
    {
        await using var hub = await ConnectAsync(SecuredGatewayFixture.Token("viewer", "plant-a"));
        for (var i = 0; i < 5; i++)
        {
            await hub.InvokeAsync<JsonElement>("Subscribe", $"machine:plant-a/limit-{i}");
        }

        var full = await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync<JsonElement>("Subscribe", "machine:plant-a/limit-5"));
        Assert.Contains("MaxSubscriptionsPerConnection", full.Message, StringComparison.Ordinal);
        await hub.InvokeAsync("Unsubscribe", "machine:plant-a/limit-0");
        await hub.InvokeAsync<JsonElement>("Subscribe", "machine:plant-a/limit-5");

        // A second connection with the same identity has its own limit, not more of the first's.
        await using var second = await ConnectAsync(SecuredGatewayFixture.Token("viewer", "plant-a", subject: "same-user"));
        await using var third = await ConnectAsync(SecuredGatewayFixture.Token("viewer", "plant-a", subject: "same-user"));
        await second.InvokeAsync<JsonElement>("Subscribe", "machine:plant-a/limit-1");
        await third.InvokeAsync<JsonElement>("Subscribe", "machine:plant-a/limit-1");

        // Subscribe calls beyond the burst (40) at 2 a second are refused, naming the setting.
        HubException? limited = null;
        for (var i = 0; i < 80 && limited is null; i++)
        {
            try
            {
                await second.InvokeAsync<JsonElement>("Subscribe", "machine:plant-a/limit-1");
            }
            catch (HubException ex)
            {
                limited = ex;
            }
        }

        Assert.NotNull(limited);
        Assert.Contains("SubscribesPerSecond", limited.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task One_identity_holds_a_bounded_number_of_hub_connections()
    {
        var connections = new List<HubConnection>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                connections.Add(await ConnectAsync(SecuredGatewayFixture.Token("viewer", "plant-a", subject: "crowd")));
                await connections[^1].InvokeAsync<JsonElement>("Subscribe", "machine:plant-a/crowd-1");
            }

            // The fourth connection of the same identity is closed at once; another identity still connects.
            var fourth = new HubConnectionBuilder()
                .WithUrl(new Uri(Gateway.Http.BaseAddress!, "/hubs/twins"), o => o.AccessTokenProvider = () => Task.FromResult<string?>(SecuredGatewayFixture.Token("viewer", "plant-a", subject: "crowd")))
                .Build();
            connections.Add(fourth);
            await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                await fourth.StartAsync();
                await fourth.InvokeAsync<JsonElement>("Subscribe", "machine:plant-a/crowd-1");
            });
            connections.Add(await ConnectAsync(SecuredGatewayFixture.Token("viewer", "plant-a", subject: "someone-else")));

            // Tokens without a subject share one cap per client address: they cannot go around it.
            var anonymous = new List<HubConnection>();
            try
            {
                for (var i = 0; i < 3; i++)
                {
                    anonymous.Add(await ConnectAsync(SecuredGatewayFixture.Token("viewer", "plant-a", subject: SecuredGatewayFixture.NoSubject)));
                    await anonymous[^1].InvokeAsync<JsonElement>("Subscribe", "machine:plant-a/crowd-1");
                }

                var extra = new HubConnectionBuilder()
                    .WithUrl(new Uri(Gateway.Http.BaseAddress!, "/hubs/twins"), o => o.AccessTokenProvider = () => Task.FromResult<string?>(SecuredGatewayFixture.Token("viewer", "plant-a", subject: SecuredGatewayFixture.NoSubject)))
                    .Build();
                anonymous.Add(extra);
                await Assert.ThrowsAnyAsync<Exception>(async () =>
                {
                    await extra.StartAsync();
                    await extra.InvokeAsync<JsonElement>("Subscribe", "machine:plant-a/crowd-1");
                });
            }
            finally
            {
                foreach (var connection in anonymous)
                {
                    await connection.DisposeAsync();
                }
            }

            // One leaves: the identity may connect again.
            await connections[0].DisposeAsync();
            await Wait.UntilAsync(
                async () =>
                {
                    try
                    {
                        connections.Add(await ConnectAsync(SecuredGatewayFixture.Token("viewer", "plant-a", subject: "crowd")));
                        await connections[^1].InvokeAsync<JsonElement>("Subscribe", "machine:plant-a/crowd-1");
                        return true;
                    }
                    catch (Exception ex) when (ex is HubException or InvalidOperationException or IOException or TaskCanceledException)
                    {
                        return false;
                    }
                },
                TimeSpan.FromSeconds(10),
                "a connection of the identity after one left");
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_wrong_method_or_content_type_is_405_or_415_not_a_policy_refusal()
    {
        var admin = SecuredGatewayFixture.Token("admin", "*");
        Assert.Equal(405, (await RawHttp.SendAsync(Gateway.HttpPort, "DELETE", "/api/factories/plant-a/machines", admin)).Status);
        Assert.Equal(405, (await RawHttp.SendAsync(Gateway.HttpPort, "PATCH", "/api/factories/plant-a/machines/x1", admin, "{}")).Status);
        // And such a request without a token is still only a 405 that shows nothing.
        var anonymous = await RawHttp.SendAsync(Gateway.HttpPort, "DELETE", "/api/factories/plant-b/machines", null);
        Assert.True(anonymous.Status is 405 or 401, $"{anonymous.Status}");
        Assert.DoesNotContain(Secret, anonymous.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_hub_connection_closes_when_its_token_expires()
    {
        var token = SecuredGatewayFixture.Token("viewer", "plant-a", lifetime: TimeSpan.FromSeconds(6));
        await using var hub = await ConnectAsync(token);
        var closed = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        hub.Closed += error =>
        {
            closed.TrySetResult(error);
            return Task.CompletedTask;
        };
        await hub.InvokeAsync<JsonElement>("Subscribe", "machine:plant-a/expiring");
        var started = System.Diagnostics.Stopwatch.StartNew();
        await closed.Task.WaitAsync(TimeSpan.FromSeconds(30));
        output.WriteLine($"closed {started.Elapsed.TotalSeconds:F1} s after subscribing");
        Assert.Equal(HubConnectionState.Disconnected, hub.State);

        // The expired token opens nothing new: within the clock skew the connection may be accepted,
        // but it subscribes to nothing and is closed.
        await using var again = new HubConnectionBuilder()
            .WithUrl(new Uri(Gateway.Http.BaseAddress!, "/hubs/twins"), o => o.AccessTokenProvider = () => Task.FromResult<string?>(token))
            .Build();
        try
        {
            await again.StartAsync();
        }
        catch (Exception refused) when (refused is HttpRequestException or HubException)
        {
            // Refused by authentication (401), or closed by the expiry timer during the handshake.
            Assert.NotEqual(HubConnectionState.Connected, again.State);
            return;
        }

        await Assert.ThrowsAnyAsync<Exception>(() => again.InvokeAsync<JsonElement>("Subscribe", "machine:plant-a/expiring"));
        await Wait.UntilAsync(() => Task.FromResult(again.State == HubConnectionState.Disconnected), TimeSpan.FromSeconds(10), "the connection with the expired token closed");
    }

    private async Task PostAsync(string factory, string machine, int seq)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/factories/{factory}/machines/{machine}/telemetry")
        {
            Content = JsonContent.Create(new { seq, ts = DateTimeOffset.UtcNow, values = new { temperature = 40.5 + seq } }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", SecuredGatewayFixture.Token("admin", "*"));
        Assert.Equal(HttpStatusCode.OK, (await Gateway.Http.SendAsync(request)).StatusCode);
    }

    private async Task<HubConnection> ConnectAsync(string token)
    {
        var hub = new HubConnectionBuilder()
            .WithUrl(new Uri(Gateway.Http.BaseAddress!, "/hubs/twins"), o => o.AccessTokenProvider = () => Task.FromResult<string?>(token))
            .Build();
        await hub.StartAsync();
        return hub;
    }

    private async Task<JsonElement> GetAsJsonAsync(string path, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await Gateway.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static string Base64Url(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>An <c>alg: none</c> token with the claims an attacker would like.</summary>
    private static string Unsigned(string role, string factory)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var payload = $"{{\"sub\":\"x\",\"role\":\"{role}\",\"factory\":\"{factory}\",\"iss\":\"twin-tests\",\"aud\":\"factory-twin\",\"nbf\":{now - 10},\"exp\":{now + 600}}}";
        return Base64Url("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." + Base64Url(payload) + ".";
    }

    /// <summary>A real token whose payload was edited after signing (the signature no longer matches).</summary>
    private static string Resigned(string token, string insert)
    {
        var parts = token.Split('.');
        var padded = parts[1].Replace('-', '+').Replace('_', '/');
        padded += new string('=', (4 - (padded.Length % 4)) % 4);
        var json = Encoding.UTF8.GetString(Convert.FromBase64String(padded));
        var edited = json.Insert(1, insert + ",");
        return parts[0] + "." + Base64Url(edited) + "." + parts[2];
    }
}
