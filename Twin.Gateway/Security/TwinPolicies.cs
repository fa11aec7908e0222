using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.Extensions.Options;

namespace Twin.Gateway.Security;

/// <summary>
/// The authorization policies every endpoint names. Each policy is a role plus the factory rule:
/// an endpoint whose route binds <c>{factory}</c> is allowed only for the factories the caller's
/// <c>factory</c> claims grant; an endpoint without that route value must say so with
/// <see cref="CrossFactory"/>, or it is refused. Decisions read the bound route values (after
/// routing), never the request path.
/// </summary>
public static class TwinPolicies
{
    public const string Viewer = "twin.viewer";
    public const string Operator = "twin.operator";
    public const string Integrator = "twin.integrator";
    public const string Admin = "twin.admin";

    /// <summary>The route value that names the factory an endpoint touches.</summary>
    public const string FactoryRouteValue = "factory";

    /// <summary>The policy of a role.</summary>
    public static string For(TwinRole role) => role switch
    {
        TwinRole.Viewer => Viewer,
        TwinRole.Operator => Operator,
        TwinRole.Integrator => Integrator,
        _ => Admin,
    };

    /// <summary>
    /// Endpoint metadata: this endpoint has no <c>{factory}</c> route value on purpose (the hub, which
    /// checks the factory per subscription; the gateway's own statistics, which it filters per caller).
    /// </summary>
    public sealed class CrossFactory;

    internal static void Add(AuthorizationOptions options)
    {
        foreach (var role in Enum.GetValues<TwinRole>())
        {
            options.AddPolicy(For(role), p => p.AddRequirements(new TwinAccessRequirement(role)));
        }

        // Anything that matched an endpoint and names no policy (and is not AllowAnonymous) is refused.
        options.FallbackPolicy = new AuthorizationPolicyBuilder().AddRequirements(new UnmarkedEndpointRequirement()).Build();
    }
}

/// <summary>The resource of a decision that is not an HTTP request: a live subscription to one factory's twin.</summary>
public sealed record FactoryResource(string Factory);

/// <summary>Holds the role, and the factory of the request or subscription is one the caller may touch.</summary>
internal sealed record TwinAccessRequirement(TwinRole Role) : IAuthorizationRequirement;

/// <summary>The fallback: an endpoint nobody marked is refused (a request that matched no endpoint goes on to its 404).</summary>
internal sealed class UnmarkedEndpointRequirement : IAuthorizationRequirement;

internal sealed class TwinAccessHandler(IOptions<AuthOptions> auth) : IAuthorizationHandler
{
    public Task HandleAsync(AuthorizationHandlerContext context)
    {
        foreach (var requirement in context.PendingRequirements.ToList())
        {
            switch (requirement)
            {
                case TwinAccessRequirement access:
                    Decide(context, access);
                    break;
                case UnmarkedEndpointRequirement unmarked:
                    if (context.Resource is HttpContext http && (http.GetEndpoint() is not { } endpoint || IsRoutingRefusal(endpoint)))
                    {
                        context.Succeed(unmarked);
                    }
                    else
                    {
                        context.Fail(new AuthorizationFailureReason(this, "This endpoint has no access policy; it is refused until it gets one."));
                    }

                    break;
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// The endpoints routing makes up to answer 405 (no endpoint for this method) or 415 (not this
    /// content type): they only set that status, so they need no policy and must not turn into 403.
    /// </summary>
    private static bool IsRoutingRefusal(Endpoint endpoint) =>
        endpoint is not RouteEndpoint
        && endpoint.DisplayName is { } name
        && (name.StartsWith("405 ", StringComparison.Ordinal) || name.StartsWith("415 ", StringComparison.Ordinal));

    private void Decide(AuthorizationHandlerContext context, TwinAccessRequirement requirement)
    {
        string? factory;
        switch (context.Resource)
        {
            case FactoryResource resource:
                factory = resource.Factory;
                break;
            case HttpContext http:
                factory = http.GetRouteValue(TwinPolicies.FactoryRouteValue) as string;
                if (factory is null && http.GetEndpoint()?.Metadata.GetMetadata<TwinPolicies.CrossFactory>() is null)
                {
                    context.Fail(new AuthorizationFailureReason(this, "This endpoint names no factory and is not marked as cross-factory."));
                    return;
                }

                break;
            default:
                context.Fail(new AuthorizationFailureReason(this, "Nothing to decide on."));
                return;
        }

        if (!auth.Value.IsJwt)
        {
            // Authentication off: only loopback can reach the gateway (checked at start), every caller is trusted.
            context.Succeed(requirement);
            return;
        }

        var user = context.User;
        if (user.Identity?.IsAuthenticated != true)
        {
            context.Fail(new AuthorizationFailureReason(this, "A valid bearer token is required."));
            return;
        }

        if (!TwinAccess.HasRole(user, requirement.Role))
        {
            context.Fail(new AuthorizationFailureReason(this, $"This needs the role '{requirement.Role.ToString().ToLowerInvariant()}'."));
            return;
        }

        if (factory is not null && !TwinAccess.MayAccess(user, factory))
        {
            context.Fail(new AuthorizationFailureReason(this, $"The token does not grant factory '{factory}'."));
            return;
        }

        context.Succeed(requirement);
    }
}

/// <summary>Answers refused requests with ProblemDetails that say which rule refused them.</summary>
internal sealed class TwinAuthorizationResultHandler : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (authorizeResult.Succeeded)
        {
            await _default.HandleAsync(next, context, policy, authorizeResult);
            return;
        }

        var reason = authorizeResult.AuthorizationFailure?.FailureReasons.FirstOrDefault()?.Message;
        if (authorizeResult.Challenged || context.User.Identity?.IsAuthenticated != true)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized", detail: "A valid bearer token is required.").ExecuteAsync(context);
            return;
        }

        await Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden", detail: reason ?? "Not allowed.").ExecuteAsync(context);
    }
}

/// <summary>The role and factory checks used by the policies and the hub.</summary>
public static class TwinAccess
{
    public const string FactoryClaim = "factory";

    /// <summary>Whether <paramref name="user"/> holds <paramref name="required"/> (admin holds every role; operator and integrator include viewer).</summary>
    public static bool HasRole(ClaimsPrincipal user, TwinRole required)
    {
        var roles = Roles(user);
        return roles.Contains(TwinRole.Admin)
            || roles.Contains(required)
            || (required == TwinRole.Viewer && roles.Count > 0);
    }

    /// <summary>Whether the caller's <c>factory</c> claims include <paramref name="factory"/> exactly (ids are case-sensitive) or <c>*</c>.</summary>
    public static bool MayAccess(ClaimsPrincipal user, string factory) =>
        user.FindAll(FactoryClaim).Any(c => c.Value == "*" || string.Equals(c.Value, factory, StringComparison.Ordinal));

    private static HashSet<TwinRole> Roles(ClaimsPrincipal user)
    {
        var roles = new HashSet<TwinRole>();
        foreach (var claim in user.FindAll(ClaimTypes.Role).Concat(user.FindAll("role")).Concat(user.FindAll("roles")))
        {
            foreach (var value in claim.Value.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries))
            {
                // Names only: Enum.TryParse would also take "3" for admin.
                foreach (var role in Enum.GetValues<TwinRole>())
                {
                    if (string.Equals(value, role.ToString(), StringComparison.OrdinalIgnoreCase))
                    {
                        roles.Add(role);
                    }
                }
            }
        }

        return roles;
    }
}
