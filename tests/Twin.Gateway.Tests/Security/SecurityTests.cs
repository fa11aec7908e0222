using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using MQTTnet;
using MQTTnet.Protocol;
using Twin.Testing;

namespace Twin.Gateway.Tests.Security;

/// <summary>A gateway with JWT authentication and device accounts on its broker, as a real process.</summary>
public sealed class SecuredGatewayFixture : IAsyncLifetime
{
    public const string Key = "a-test-signing-key-of-more-than-32-characters";
    public const string DevicePassword = "device-a-secret";
    private readonly TempDirectory _temp = new();

    public GatewayProcess Gateway { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Gateway = new GatewayProcess(_temp.Sub("data"), new Dictionary<string, string>
        {
            ["Twin:Auth:Mode"] = "Jwt",
            ["Twin:Auth:SigningKey"] = Key,
            ["Twin:Auth:Issuer"] = "twin-tests",
            ["Twin:Auth:Audience"] = "factory-twin",
            ["Twin:Auth:RequestsPerMinute"] = "100",
            ["Twin:Broker:Devices:0:Username"] = "press-a",
            ["Twin:Broker:Devices:0:Password"] = DevicePassword,
            ["Twin:Broker:Devices:0:Factory"] = "plant-a",
            ["Twin:Broker:Devices:0:Machines:0"] = "press-1",
            ["Twin:Broker:Devices:1:Username"] = "press-b",
            ["Twin:Broker:Devices:1:Password"] = DevicePassword,
            ["Twin:Broker:Devices:1:Factory"] = "plant-b",
            ["Twin:Broker:Devices:1:Machines:0"] = "press-9",
            // UNS templates: a device account may publish those routed to its own machines.
            ["Twin:Profiles:plant-a:Topics:0:Topic"] = "acme/{line}/{machine}/{tag}",
            ["Twin:Profiles:plant-b:Topics:0:Topic"] = "bravo/{machine}/{tag}",
            ["Twin:Profiles:default:Topics:0:Topic"] = "umh/v1/{factory}/{machine}/{tag}",
            ["Twin:Live:MaxSubscriptionsPerConnection"] = "5",
            ["Twin:Live:SubscribesPerSecond"] = "2",
            ["Twin:Live:SubscribeBurst"] = "40",
            ["Twin:Live:MaxConnectionsPerIdentity"] = "3",
        });
        await Gateway.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        _temp.Dispose();
    }

    public static string Token(string role, string factory, TimeSpan? lifetime = null, string? subject = null) =>
        Mint(role, factory, lifetime, subject);

    /// <summary>As <c>subject</c>: a token without a <c>sub</c> claim.</summary>
    public const string NoSubject = "\0no-sub";

    /// <summary>A token with every part settable, to forge the wrong ones; <paramref name="role"/> null leaves the claim out.</summary>
    public static string Mint(
        string? role,
        string factory,
        TimeSpan? lifetime = null,
        string? subject = null,
        string issuer = "twin-tests",
        string audience = "factory-twin",
        string key = Key,
        DateTime? notBefore = null)
    {
        var now = DateTime.UtcNow;
        var expires = now + (lifetime ?? TimeSpan.FromMinutes(10));
        var claims = new List<Claim> { new("factory", factory) };
        if (subject != NoSubject)
        {
            claims.Add(new Claim("sub", subject ?? $"{role}-{factory}-{Guid.NewGuid():N}"));
        }

        if (role is not null)
        {
            claims.Add(new Claim("role", role));
        }

        var start = notBefore ?? (expires < now ? expires.AddMinutes(-5) : now);
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            IssuedAt = start,
            NotBefore = start,
            Expires = expires,
            Subject = new ClaimsIdentity(claims),
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(key)), SecurityAlgorithms.HmacSha256),
        });
    }
}

public sealed class SecurityTests(SecuredGatewayFixture fixture) : IClassFixture<SecuredGatewayFixture>
{
    private GatewayProcess Gateway => fixture.Gateway;

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? token, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        return await Gateway.Http.SendAsync(request);
    }

    [Fact]
    public async Task No_token_or_an_expired_one_is_401_and_health_stays_open()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Get, "/api/factories/plant-a/machines", null)).StatusCode);
        var expired = SecuredGatewayFixture.Token("viewer", "plant-a", TimeSpan.FromMinutes(-10));
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Get, "/api/factories/plant-a/machines", expired)).StatusCode);
        var forged = SecuredGatewayFixture.Token("admin", "*")[..^4] + "AAAA";
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Get, "/api/factories/plant-a/machines", forged)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/health/live", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/api/factories/plant-a/machines", SecuredGatewayFixture.Token("viewer", "plant-a"))).StatusCode);
    }

    [Fact]
    public async Task Each_role_may_do_its_part_only()
    {
        var telemetry = new { seq = 1, ts = DateTimeOffset.UtcNow, values = new { temperature = 20 } };
        var viewer = SecuredGatewayFixture.Token("viewer", "plant-a");
        var operatorToken = SecuredGatewayFixture.Token("operator", "plant-a");
        var integrator = SecuredGatewayFixture.Token("integrator", "plant-a");

        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Post, "/api/factories/plant-a/machines/roles-1/telemetry", viewer, telemetry)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Post, "/api/factories/plant-a/machines/roles-1/telemetry", operatorToken, telemetry)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/api/factories/plant-a/machines/roles-1/telemetry", integrator, telemetry)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Put, "/api/factories/plant-a/machines/roles-1", viewer, new { name = "x" })).StatusCode);

        // Ticket actions are for operators (the ticket does not exist: past authorization, the API answers 404).
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Post, "/api/factories/plant-a/tickets/none.LimitHigh.1/acknowledge", integrator, new { by = "x" })).StatusCode);
        Assert.NotEqual(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Post, "/api/factories/plant-a/tickets/none.LimitHigh.1/acknowledge", operatorToken, new { by = "x" })).StatusCode);
    }

    [Fact]
    public async Task A_token_for_factory_A_can_neither_read_nor_subscribe_to_factory_B()
    {
        var admin = SecuredGatewayFixture.Token("admin", "*");
        var readerA = SecuredGatewayFixture.Token("viewer", "plant-a");
        var telemetry = (int seq) => new { seq, ts = DateTimeOffset.UtcNow, values = new { temperature = 20 + seq } };
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/api/factories/plant-b/machines/secret-1/telemetry", admin, telemetry(1))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/api/factories/plant-a/machines/open-1/telemetry", admin, telemetry(1))).StatusCode);

        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Get, "/api/factories/plant-b/machines/secret-1", readerA)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Get, "/api/factories/plant-b/machines", readerA)).StatusCode);

        await using var hub = new HubConnectionBuilder()
            .WithUrl(new Uri(Gateway.Http.BaseAddress!, "/hubs/twins"), o => o.AccessTokenProvider = () => Task.FromResult<string?>(readerA))
            .Build();
        var received = new System.Collections.Concurrent.ConcurrentQueue<string>();
        hub.On<System.Text.Json.JsonElement>("twinChanged", change => received.Enqueue(change.GetProperty("topic").GetString()!));
        await hub.StartAsync();

        var refused = await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync<System.Text.Json.JsonElement>("Subscribe", "machine:plant-b/secret-1"));
        Assert.Contains("forbidden", refused.Message, StringComparison.Ordinal);
        await hub.InvokeAsync<System.Text.Json.JsonElement>("Subscribe", "machine:plant-a/open-1");

        // A change in B, then one in A: the A change arrives, the B one never does.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/api/factories/plant-b/machines/secret-1/telemetry", admin, telemetry(2))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/api/factories/plant-a/machines/open-1/telemetry", admin, telemetry(2))).StatusCode);
        await Wait.UntilAsync(() => Task.FromResult(received.Contains("machine:plant-a/open-1")), TimeSpan.FromSeconds(10), "the change in plant-a delivered");
        Assert.DoesNotContain(received, t => t.Contains("plant-b", StringComparison.Ordinal));

        // Without a token the hub refuses the connection.
        await using var anonymous = new HubConnectionBuilder().WithUrl(new Uri(Gateway.Http.BaseAddress!, "/hubs/twins")).Build();
        await Assert.ThrowsAsync<HttpRequestException>(() => anonymous.StartAsync());
    }

    [Fact]
    public async Task A_device_publishes_only_under_its_own_machine_and_bad_credentials_are_refused()
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", Gateway.MqttPort).WithClientId("press-a-1")
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithCredentials("press-a", SecuredGatewayFixture.DevicePassword).Build();
        await client.ConnectAsync(options);

        var ts = DateTimeOffset.UtcNow.ToString("O");
        var own = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("factory/plant-a/machine/press-1/telemetry")
            .WithPayload($"{{\"seq\":1,\"ts\":\"{ts}\",\"values\":{{\"temperature\":21}}}}").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.True(own.IsSuccess);
        var other = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("factory/plant-a/machine/press-2/telemetry")
            .WithPayload($"{{\"seq\":1,\"ts\":\"{ts}\",\"values\":{{\"temperature\":99}}}}").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, other.ReasonCode);

        var admin = SecuredGatewayFixture.Token("admin", "*");
        await Wait.UntilAsync(
            async () => (await SendAsync(HttpMethod.Get, "/api/factories/plant-a/machines/press-1", admin)).StatusCode == HttpStatusCode.OK,
            TimeSpan.FromSeconds(10),
            "the device's own reading applied");
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, "/api/factories/plant-a/machines/press-2", admin)).StatusCode);

        using var intruder = new MqttClientFactory().CreateMqttClient();
        var bad = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", Gateway.MqttPort).WithClientId("intruder")
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500).WithCredentials("press-a", "wrong-password").Build();
        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, await ConnectResultAsync(intruder, bad));
        using var anonymous = new MqttClientFactory().CreateMqttClient();
        var anonymousOptions = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", Gateway.MqttPort).WithClientId("anon")
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500).Build();
        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, await ConnectResultAsync(anonymous, anonymousOptions));
        Assert.False(intruder.IsConnected || anonymous.IsConnected);
    }

    internal static async Task<MqttClientConnectResultCode> ConnectResultAsync(IMqttClient client, MqttClientOptions options)
    {
        try
        {
            return (await client.ConnectAsync(options)).ResultCode;
        }
        catch (MQTTnet.Exceptions.MqttCommunicationException ex) when (ex.GetType().GetProperty("ResultCode")?.GetValue(ex) is MqttClientConnectResultCode code)
        {
            return code;
        }
    }

    [Fact]
    public async Task A_caller_over_its_request_budget_gets_429()
    {
        var token = SecuredGatewayFixture.Token("viewer", "plant-a", subject: "busy-client");
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 110; i++)
        {
            statuses.Add((await SendAsync(HttpMethod.Get, "/api/factories/plant-a/machines", token)).StatusCode);
        }

        Assert.Equal(100, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(10, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
        // Other callers are not affected.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/api/factories/plant-a/machines", SecuredGatewayFixture.Token("viewer", "plant-a", subject: "calm-client"))).StatusCode);
    }
}

/// <summary>Starting without authentication on a non-loopback address is refused, naming the setting, however the address is given.</summary>
public sealed class OpenBindingTests
{
    public static TheoryData<string, string> Bindings() => new()
    {
        { "--urls", "http://0.0.0.0:{port}" },
        { "--urls", "http://127.0.0.1:{port2};http://[::]:{port}" },
        { "--Kestrel:Endpoints:Public:Url", "http://0.0.0.0:{port}" },
        // ASPNETCORE_URLS and ASPNETCORE_HTTP_PORTS are overridden by the program's own Urls
        // (appsettings.json, loaded wherever it is started from), so they bind loopback.
    };

    [Theory]
    [MemberData(nameof(Bindings))]
    public async Task A_non_loopback_binding_without_authentication_refuses_to_start(string setting, string value)
    {
        using var temp = new TempDirectory();
        var dll = Repository.ProgramDll("Twin.Gateway");
        value = value.Replace("{port}", Ports.Free().ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{port2}", Ports.Free().ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        string[] arguments = [dll, "--Twin:Simulator:Enabled=false", $"--Twin:Broker:Port={Ports.Free()}", $"--Twin:Storage:SqlitePath={temp.Sub("db")}/twin.db"];
        var environment = new Dictionary<string, string>();
        if (setting.StartsWith("--", StringComparison.Ordinal))
        {
            arguments = [.. arguments, $"{setting}={value}"];
        }
        else
        {
            environment[setting] = value;
        }

        // Started from another folder, as a service manager would: the program's own settings still apply.
        var elsewhere = Directory.CreateDirectory(temp.Sub("elsewhere")).FullName;
        await using var process = ChildProcess.Start("dotnet", arguments, elsewhere, environment);
        var exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, exit);
        Assert.Contains("Twin:Auth:Mode", process.Output, StringComparison.Ordinal);
    }
}

/// <summary>Tokens in URLs (the hub's access_token, the dashboard's ?token=) never reach the log, whatever its level.</summary>
public sealed class TokenLoggingTests
{
    [Fact]
    public async Task Tokens_in_urls_are_not_logged_even_at_information_level()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Sub("data"), new Dictionary<string, string>
        {
            ["Twin:Auth:Mode"] = "Jwt",
            ["Twin:Auth:SigningKey"] = SecuredGatewayFixture.Key,
            ["Twin:Auth:Issuer"] = "twin-tests",
            ["Twin:Auth:Audience"] = "factory-twin",
            ["Logging:LogLevel:Default"] = "Information",
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Debug",
            ["Twin:Telemetry:Console"] = "true",
        });
        // Traces on the console too, with the instrumentation's own query redaction switched off.
        gateway.Environment["OTEL_DOTNET_EXPERIMENTAL_ASPNETCORE_DISABLE_URL_QUERY_REDACTION"] = "true";
        await gateway.StartAsync();
        var token = SecuredGatewayFixture.Token("viewer", "plant-a");
        Assert.Equal(System.Net.HttpStatusCode.OK, (await gateway.Http.GetAsync("/?token=" + token)).StatusCode);
        await gateway.Http.GetAsync("/api/factories/plant-a/machines?access_token=" + token);
        await using (var hub = new HubConnectionBuilder()
            .WithUrl(new Uri(gateway.Http.BaseAddress!, "/hubs/twins"), o =>
            {
                o.AccessTokenProvider = () => Task.FromResult<string?>(token);
                o.Transports = Microsoft.AspNetCore.Http.Connections.HttpTransportType.WebSockets;
                o.SkipNegotiation = true;
            })
            .Build())
        {
            await hub.StartAsync();
        }

        // A request after them, and its trace on the console, so everything before is written.
        await gateway.Http.GetAsync("/api/factories/plant-a/machines/none");
        await Wait.UntilAsync(() => Task.FromResult(gateway.Output.Contains("/api/factories/plant-a/machines/none", StringComparison.Ordinal)), TimeSpan.FromSeconds(20), "the last request's trace on the console");
        Assert.DoesNotContain(token[^20..], gateway.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("access_token=ey", gateway.Output, StringComparison.Ordinal);
    }
}

/// <summary>Settings that would open a hole refuse the start, naming the setting.</summary>
public sealed class AuthOptionsTests
{
    [Fact]
    public async Task An_authority_without_an_audience_refuses_to_start()
    {
        using var temp = new TempDirectory();
        var dll = Repository.ProgramDll("Twin.Gateway");
        await using var process = ChildProcess.Start(
            "dotnet",
            [dll, $"--urls=http://127.0.0.1:{Ports.Free()}", "--Twin:Simulator:Enabled=false", $"--Twin:Broker:Port={Ports.Free()}", $"--Twin:Storage:SqlitePath={temp.Sub("db")}/twin.db",
                "--Twin:Auth:Mode=Jwt", "--Twin:Auth:Authority=https://login.example.invalid/realms/plant"],
            Path.GetDirectoryName(dll));
        var exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, exit);
        Assert.Contains("Twin:Auth:Audience", process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_mode_that_does_not_exist_refuses_to_start_naming_the_setting()
    {
        using var temp = new TempDirectory();
        var dll = Repository.ProgramDll("Twin.Gateway");
        await using var process = ChildProcess.Start(
            "dotnet",
            [dll, $"--urls=http://127.0.0.1:{Ports.Free()}", "--Twin:Simulator:Enabled=false", $"--Twin:Broker:Port={Ports.Free()}", $"--Twin:Storage:SqlitePath={temp.Sub("db")}/twin.db",
                "--Twin:Auth:Mode=Jwts"],
            Path.GetDirectoryName(dll));
        var exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, exit);
        Assert.Contains("Twin:Auth:Mode", process.Output, StringComparison.Ordinal);
        Assert.Contains("Jwts", process.Output, StringComparison.Ordinal);
    }
}

/// <summary>The embedded broker listens where Twin:Broker:Host says, in both address families, and nowhere else.</summary>
public sealed class BrokerBindingTests
{
    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1", "::1")]
    [InlineData("0.0.0.0", "0.0.0.0", "::")]
    [InlineData("::1", "127.0.0.1", "::1")]
    [InlineData("::", "0.0.0.0", "::")]
    [InlineData("192.0.2.10", "192.0.2.10", "255.255.255.255")]
    public void Each_host_setting_maps_to_its_addresses_in_both_families(string host, string v4, string v6)
    {
        var (boundV4, boundV6) = Twin.Gateway.Mqtt.EmbeddedBroker.Bindings(IPAddress.Parse(host));
        Assert.Equal(IPAddress.Parse(v4), boundV4);
        Assert.Equal(v6 == "255.255.255.255" ? IPAddress.None : IPAddress.Parse(v6), boundV6);
    }

    [Fact]
    public async Task The_default_embedded_broker_listens_on_loopback_only_also_for_IPv6()
    {
        if (!File.Exists("/proc/net/tcp6"))
        {
            return; // not Linux: the listener table cannot be read this way
        }

        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Sub("data"));
        await gateway.StartAsync();
        var port = gateway.MqttPort.ToString("X4", System.Globalization.CultureInfo.InvariantCulture);
        // Listening sockets (state 0A) on the broker's port, from the kernel's own tables.
        var listeners = File.ReadLines("/proc/net/tcp").Concat(File.ReadLines("/proc/net/tcp6"))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length > 3 && f[3] == "0A" && f[1].EndsWith(":" + port, StringComparison.Ordinal))
            .Select(f => f[1][..f[1].IndexOf(':', StringComparison.Ordinal)])
            .ToList();
        Assert.NotEmpty(listeners);
        // 0100007F is 127.0.0.1; 00000000000000000000000001000000 is ::1. Any other address is beyond loopback.
        Assert.All(listeners, address => Assert.Contains(address, new[] { "0100007F", "00000000000000000000000001000000" }));
    }
}
