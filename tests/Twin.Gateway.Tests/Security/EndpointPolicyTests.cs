using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;
using Twin.Gateway.Security;
using Twin.Testing;
using Xunit.Abstractions;

namespace Twin.Gateway.Tests.Security;

/// <summary>The gateway in JWT mode, in process (no broker, memory storage): its endpoint table as the router sees it.</summary>
// Any public type of the gateway assembly names its entry point (Program is ambiguous: the silo has one too).
public sealed class JwtAppFactory : WebApplicationFactory<AuthOptions>
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        var settings = new Dictionary<string, string>
        {
            ["Twin:Auth:Mode"] = "Jwt",
            ["Twin:Auth:SigningKey"] = SecuredGatewayFixture.Key,
            ["Twin:Auth:Issuer"] = "twin-tests",
            ["Twin:Auth:Audience"] = "factory-twin",
            ["Twin:Storage:Provider"] = "Memory",
            ["Twin:History:Enabled"] = "false",
            ["Twin:Broker:Enabled"] = "false",
            ["Twin:Mqtt:Enabled"] = "false",
            ["Twin:Simulator:Enabled"] = "false",
            ["Twin:Cluster:SiloPort"] = Ports.Free().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Twin:Cluster:GatewayPort"] = Ports.Free().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings)
        {
            builder.UseSetting(key, value);
        }
    }

    public IReadOnlyList<RouteEndpoint> Endpoints()
    {
        using var _ = CreateClient(); // builds the pipeline, so every endpoint is mapped
        return [.. Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()];
    }
}

public sealed class EndpointPolicyTests(JwtAppFactory app, ITestOutputHelper output) : IClassFixture<JwtAppFactory>
{
    private static readonly HashSet<string> Policies = [TwinPolicies.Viewer, TwinPolicies.Operator, TwinPolicies.Integrator, TwinPolicies.Admin];

    /// <summary>Where anonymous access is allowed at all: health, metrics, OpenAPI (static files are not endpoints).</summary>
    private static readonly string[] OpenPrefixes = ["/health/", "/metrics", "/openapi/"];

    [Fact]
    public void Every_endpoint_names_a_twin_policy_or_is_explicitly_anonymous()
    {
        var endpoints = app.Endpoints();
        Assert.True(endpoints.Count > 30, $"only {endpoints.Count} endpoints found");
        var problems = new List<string>();
        foreach (var endpoint in endpoints)
        {
            var route = endpoint.RoutePattern.RawText ?? "?";
            var anonymous = endpoint.Metadata.GetMetadata<IAllowAnonymous>() is not null;
            var policies = endpoint.Metadata.GetOrderedMetadata<IAuthorizeData>().Select(a => a.Policy).ToList();
            if (anonymous)
            {
                if (!OpenPrefixes.Any(p => ("/" + route.TrimStart('/')).StartsWith(p, StringComparison.OrdinalIgnoreCase)))
                {
                    problems.Add($"{route}: anonymous, but only health, metrics and OpenAPI may be");
                }

                continue;
            }

            if (policies.Count == 0)
            {
                problems.Add($"{route}: neither a policy nor AllowAnonymous");
            }
            else if (policies.Any(p => p is null || !Policies.Contains(p)))
            {
                problems.Add($"{route}: names a policy that is not a twin policy ({string.Join(", ", policies)})");
            }

            var scoped = endpoint.RoutePattern.GetParameter(TwinPolicies.FactoryRouteValue) is not null;
            if (!scoped && endpoint.Metadata.GetMetadata<TwinPolicies.CrossFactory>() is null)
            {
                problems.Add($"{route}: has no {{factory}} route value and is not marked cross-factory");
            }

            if (route.Contains("factor", StringComparison.OrdinalIgnoreCase) && !scoped && !route.StartsWith("/hubs", StringComparison.Ordinal))
            {
                problems.Add($"{route}: mentions factories but does not bind {{factory}}");
            }
        }

        output.WriteLine($"{endpoints.Count} endpoints checked");
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public async Task Every_protected_endpoint_refuses_no_token_and_a_neighbour_factorys_token()
    {
        using var client = app.CreateClient();
        var neighbour = SecuredGatewayFixture.Token("admin", "plant-z");
        var checkedCount = 0;
        var problems = new List<string>();
        foreach (var endpoint in app.Endpoints())
        {
            if (endpoint.Metadata.GetMetadata<IAllowAnonymous>() is not null)
            {
                continue;
            }

            var methods = endpoint.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? ["GET"];
            var path = Sample(endpoint.RoutePattern);
            foreach (var method in methods)
            {
                // No token at all: 401, whatever the endpoint.
                var status = await SendAsync(client, method, path, null);
                if (status != HttpStatusCode.Unauthorized)
                {
                    problems.Add($"{method} {path} without a token: {(int)status}");
                }

                // An admin of another factory: 403 on everything that names plant-a.
                if (endpoint.RoutePattern.GetParameter(TwinPolicies.FactoryRouteValue) is not null)
                {
                    status = await SendAsync(client, method, path, neighbour);
                    if (status != HttpStatusCode.Forbidden)
                    {
                        problems.Add($"{method} {path} with a plant-z admin token: {(int)status}");
                    }
                }

                checkedCount++;
            }
        }

        output.WriteLine($"{checkedCount} endpoint/method pairs refused as they should be");
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        Assert.True(checkedCount > 30);
    }

    private static async Task<HttpStatusCode> SendAsync(HttpClient client, string method, string path, string? token)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (method is "POST" or "PUT")
        {
            request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        }

        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    /// <summary>The route with each parameter filled: <c>{factory}</c> → plant-a, others → x1.</summary>
    private static string Sample(RoutePattern pattern)
    {
        var parts = new List<string>();
        foreach (var segment in pattern.PathSegments)
        {
            var text = new StringBuilder();
            foreach (var part in segment.Parts)
            {
                text.Append(part switch
                {
                    RoutePatternLiteralPart literal => literal.Content,
                    RoutePatternParameterPart parameter => parameter.Name == TwinPolicies.FactoryRouteValue ? "plant-a" : "x1",
                    RoutePatternSeparatorPart separator => separator.Content,
                    _ => "",
                });
            }

            parts.Add(text.ToString());
        }

        return "/" + string.Join("/", parts);
    }
}
