using System.Text;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace Twin.Gateway.Security;

/// <summary>
/// Authentication (JWT bearer), the endpoint policies of <see cref="TwinPolicies"/>, and per-caller
/// rate limiting. Without authentication the gateway refuses to listen on anything but loopback.
/// </summary>
internal static partial class TwinSecurity
{
    public static WebApplicationBuilder AddTwinSecurity(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddTwinOptions<AuthOptions, AuthOptionsValidator>();
        var auth = builder.Configuration.GetTwinOptions<AuthOptions, AuthOptionsValidator>();
        if (!auth.IsJwt)
        {
            if (OpenAddress(builder.Configuration) is { } open)
            {
                throw new Twin.Hosting.TwinSettingsException(
                    $"The gateway would listen on {open}, which is not a loopback address, while Twin:Auth:Mode is '{auth.Mode}'. " +
                    "Set Twin:Auth:Mode=Jwt with Twin:Auth:Authority or Twin:Auth:SigningKey (see docs/SECURITY.md), or listen on 127.0.0.1 only.");
            }

            // Whatever the configuration said, what Kestrel really bound is checked once it has
            // started, and every request arriving on a non-loopback address is refused.
            services.AddHostedService<LoopbackGuard>();
        }
        else
        {
            services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer(o =>
            {
                o.MapInboundClaims = false;
                if (!string.IsNullOrWhiteSpace(auth.Authority))
                {
                    o.Authority = auth.Authority;
                }

                o.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidateIssuer = !string.IsNullOrWhiteSpace(auth.Issuer),
                    ValidIssuer = auth.Issuer,
                    ValidateAudience = !string.IsNullOrWhiteSpace(auth.Audience),
                    ValidAudience = auth.Audience,
                    ValidateLifetime = true,
                    RequireExpirationTime = true,
                    RequireSignedTokens = true,
                    ClockSkew = TimeSpan.FromSeconds(30),
                    RoleClaimType = "role",
                    NameClaimType = "sub",
                };
                if (string.IsNullOrWhiteSpace(auth.Authority) && auth.SigningKey is { } key)
                {
                    o.TokenValidationParameters.IssuerSigningKey = new SymmetricSecurityKey(Encoding.UTF8.GetBytes(key));
                    o.TokenValidationParameters.ValidAlgorithms = [SecurityAlgorithms.HmacSha256, SecurityAlgorithms.HmacSha384, SecurityAlgorithms.HmacSha512];
                }

                o.Events = new JwtBearerEvents
                {
                    // Browsers cannot set headers on WebSockets: hub endpoints (only) take the token
                    // from the query. Decided by the matched endpoint, not by the path.
                    OnMessageReceived = context =>
                    {
                        if (context.HttpContext.GetEndpoint()?.Metadata.GetMetadata<HubMetadata>() is not null
                            && context.Request.Query["access_token"] is { Count: > 0 } token)
                        {
                            context.Token = token[0];
                        }

                        return Task.CompletedTask;
                    },
                };
            });
        }

        // The request-start and -finish lines carry the full URL, and with it a hub's access_token or
        // the dashboard's ?token=: never written, whatever level the configuration asks for.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Warning);

        services.AddAuthorization(TwinPolicies.Add);
        services.AddSingleton<IAuthorizationHandler, TwinAccessHandler>();
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, TwinAuthorizationResultHandler>();

        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            // Without authentication only this machine can call (loopback): nothing to shield
            // from other callers, so local scripts and the dashboard are not limited. With it,
            // every endpoint that needs a policy is limited per caller; open ones (health,
            // metrics, OpenAPI) are not.
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                auth.IsJwt && NeedsPolicy(context.GetEndpoint())
                    ? RateLimitPartition.GetFixedWindowLimiter(
                        context.User.Identity?.IsAuthenticated == true && context.User.FindFirst("sub")?.Value is { } subject ? "user:" + subject : "ip:" + context.Connection.RemoteIpAddress,
                        _ => new FixedWindowRateLimiterOptions { PermitLimit = auth.RequestsPerMinute, Window = TimeSpan.FromMinutes(1), QueueLimit = 0 })
                    : RateLimitPartition.GetNoLimiter("open"));
            o.OnRejected = async (context, cancellationToken) =>
            {
                context.HttpContext.Response.Headers.RetryAfter = "60";
                await Results.Problem(statusCode: 429, title: "Too many requests", detail: $"At most {auth.RequestsPerMinute} requests a minute per caller (Twin:Auth:RequestsPerMinute).")
                    .ExecuteAsync(context.HttpContext);
            };
        });
        return builder;
    }

    /// <summary>
    /// Security headers on every answer, then routing, authentication, the per-caller rate limit and
    /// authorization by endpoint policy. Call before mapping endpoints; static files come before it.
    /// </summary>
    public static WebApplication UseTwinSecurity(this WebApplication app)
    {
        var auth = app.Services.GetRequiredService<IOptions<AuthOptions>>().Value;
        if (!auth.IsJwt)
        {
            // Without authentication only this machine may call, however Kestrel was configured.
            app.Use(async (context, next) =>
            {
                if (context.Connection.LocalIpAddress is { } local && !System.Net.IPAddress.IsLoopback(local))
                {
                    await Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden", detail: "Without authentication (Twin:Auth:Mode=None) the gateway answers on loopback addresses only.").ExecuteAsync(context);
                    return;
                }

                await next(context);
            });
        }

        app.UseRouting();
        if (auth.IsJwt)
        {
            app.UseAuthentication();
        }

        app.UseRateLimiter();
        app.UseAuthorization();
        return app;
    }

    /// <summary>
    /// The dashboard renders twin data as text only; this policy makes sure nothing else runs even if
    /// that rule is broken: scripts and styles from this origin only, no inline script, no eval, no
    /// framing, no plugins.
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

    public static WebApplication UseSecurityHeaders(this WebApplication app)
    {
        app.Use((context, next) =>
        {
            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "no-referrer";
            headers["Cross-Origin-Opener-Policy"] = "same-origin";
            return next(context);
        });
        return app;
    }

    private static bool NeedsPolicy(Endpoint? endpoint) =>
        endpoint is not null
        && endpoint.Metadata.GetMetadata<IAllowAnonymous>() is null
        && endpoint.Metadata.GetMetadata<IAuthorizeData>() is not null;

    /// <summary>
    /// The first address beyond loopback that the configuration asks to listen on: <c>urls</c>,
    /// <c>Kestrel:Endpoints:*:Url</c>, or <c>http_ports</c>/<c>https_ports</c> (which bind every interface).
    /// </summary>
    internal static string? OpenAddress(IConfiguration configuration)
    {
        var urls = (configuration["urls"] ?? "")
            .Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Concat(configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(e => e["Url"]).OfType<string>());
        if (urls.FirstOrDefault(u => !IsLoopback(u)) is { } open)
        {
            return open;
        }

        foreach (var key in new[] { "http_ports", "https_ports" })
        {
            if (!string.IsNullOrWhiteSpace(configuration[key]) && string.IsNullOrWhiteSpace(configuration["urls"]))
            {
                return $"every interface ({key.ToUpperInvariant()}={configuration[key]})";
            }
        }

        return null;
    }

    /// <summary>Whether an ASP.NET Core URL (<c>http://127.0.0.1:5080</c>, <c>http://+:80</c>) listens on loopback only.</summary>
    internal static bool IsLoopback(string url)
    {
        var start = url.IndexOf("://", StringComparison.Ordinal);
        var host = start < 0 ? url : url[(start + 3)..];
        var slash = host.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            host = host[..slash];
        }

        if (host.StartsWith('['))
        {
            host = host[1..host.IndexOf(']', StringComparison.Ordinal)];
        }
        else if (host.LastIndexOf(':') is var colon and > 0)
        {
            host = host[..colon];
        }

        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || (System.Net.IPAddress.TryParse(host, out var ip) && System.Net.IPAddress.IsLoopback(ip));
    }

    /// <summary>Stops the gateway when Kestrel bound an address beyond loopback without authentication.</summary>
    private sealed partial class LoopbackGuard(
        Microsoft.AspNetCore.Hosting.Server.IServer server,
        IHostApplicationLifetime lifetime,
        ILogger<LoopbackGuard> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            lifetime.ApplicationStarted.Register(() =>
            {
                var addresses = server.Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses ?? [];
                if (addresses.FirstOrDefault(a => !IsLoopback(a)) is { } open)
                {
                    LogOpen(open);
                    Environment.ExitCode = 1;
                    lifetime.StopApplication();
                }
            });
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        [LoggerMessage(EventId = TwinEvents.LoopbackGuardOpen, Level = LogLevel.Critical, Message = "The gateway listens on {Address}, which is not a loopback address, while Twin:Auth:Mode is 'None': stopping. Set Twin:Auth:Mode=Jwt (see docs/SECURITY.md), or listen on 127.0.0.1 only.")]
        private partial void LogOpen(string address);
    }
}
