using System.Text;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace Twin.Gateway.Security;

/// <summary>
/// Authentication (JWT bearer), the role and factory rules of <see cref="TwinAccess"/>, and per-caller
/// rate limiting. Without authentication the gateway refuses to listen on anything but loopback.
/// </summary>
internal static partial class TwinSecurity
{
    public static WebApplicationBuilder AddTwinSecurity(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AuthOptions>, AuthOptionsValidator>();
        var auth = builder.Configuration.GetSection(AuthOptions.Section).Get<AuthOptions>() ?? new AuthOptions();
        if (!auth.IsJwt)
        {
            var urls = builder.Configuration["urls"] ?? "http://127.0.0.1:5080";
            var open = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault(u => !IsLoopback(u));
            if (open is not null)
            {
                throw new InvalidOperationException(
                    $"The gateway would listen on {open}, which is not a loopback address, while Twin:Auth:Mode is 'None'. " +
                    "Set Twin:Auth:Mode=Jwt with Twin:Auth:Authority or Twin:Auth:SigningKey (see docs/SECURITY.md), or listen on 127.0.0.1 only.");
            }
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
                    ClockSkew = TimeSpan.FromSeconds(30),
                    RoleClaimType = "role",
                    NameClaimType = "sub",
                };
                if (string.IsNullOrWhiteSpace(auth.Authority) && auth.SigningKey is { } key)
                {
                    o.TokenValidationParameters.IssuerSigningKey = new SymmetricSecurityKey(Encoding.UTF8.GetBytes(key));
                }

                o.Events = new JwtBearerEvents
                {
                    // Browsers cannot set headers on WebSockets: the hub (only) takes the token from the query.
                    OnMessageReceived = context =>
                    {
                        if (context.HttpContext.Request.Path.StartsWithSegments("/hubs")
                            && context.Request.Query["access_token"] is { Count: > 0 } token)
                        {
                            context.Token = token[0];
                        }

                        return Task.CompletedTask;
                    },
                };
            });
            services.AddAuthorization();
        }

        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            // Without authentication only this machine can call (loopback): nothing to shield
            // from other callers, so local scripts and the dashboard are not limited.
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                context.Request.Path.StartsWithSegments("/api") && auth.IsJwt
                    ? RateLimitPartition.GetFixedWindowLimiter(
                        context.User.Identity?.IsAuthenticated == true ? "user:" + context.User.FindFirst("sub")?.Value : "ip:" + context.Connection.RemoteIpAddress,
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

    public static WebApplication UseTwinSecurity(this WebApplication app)
    {
        var auth = app.Services.GetRequiredService<IOptions<AuthOptions>>().Value;
        if (auth.IsJwt)
        {
            app.UseAuthentication();
            app.Use(async (context, next) =>
            {
                if (TwinAccess.Required(context.Request.Method, context.Request.Path.Value ?? "/") is not { } required)
                {
                    await next(context);
                    return;
                }

                var user = context.User;
                if (user.Identity?.IsAuthenticated != true)
                {
                    context.Response.Headers.WWWAuthenticate = "Bearer";
                    await Results.Problem(statusCode: 401, title: "Unauthorized", detail: "A valid bearer token is required.").ExecuteAsync(context);
                    return;
                }

                if (!TwinAccess.HasRole(user, required))
                {
                    await Results.Problem(statusCode: 403, title: "Forbidden", detail: $"This needs the role '{required.ToString().ToLowerInvariant()}'.").ExecuteAsync(context);
                    return;
                }

                if (TwinAccess.FactoryOf(context.Request.Path.Value ?? "/") is { } factory && !TwinAccess.MayAccess(user, factory))
                {
                    await Results.Problem(statusCode: 403, title: "Forbidden", detail: $"The token does not grant factory '{factory}'.").ExecuteAsync(context);
                    return;
                }

                await next(context);
            });
        }

        app.UseRateLimiter();
        return app;
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
}
