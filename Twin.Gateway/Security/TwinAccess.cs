using System.Security.Claims;

namespace Twin.Gateway.Security;

/// <summary>What a caller may do, from least to most.</summary>
public enum TwinRole
{
    /// <summary>Read twins and lists, subscribe to live changes.</summary>
    Viewer = 0,

    /// <summary>Viewer, plus ticket and purchase-request actions.</summary>
    Operator = 1,

    /// <summary>Viewer, plus business-system events, master data, mapping profiles and telemetry over HTTP.</summary>
    Integrator = 2,

    /// <summary>Everything.</summary>
    Admin = 3,
}

/// <summary>The access rules of the HTTP API and the hub: which role a request needs, and which factories a caller may touch.</summary>
public static class TwinAccess
{
    public const string FactoryClaim = "factory";

    /// <summary>The role a request needs, or null when the path is open (health, OpenAPI, metrics, the dashboard's files).</summary>
    public static TwinRole? Required(string method, string path)
    {
        if (path.StartsWith("/hubs/", StringComparison.OrdinalIgnoreCase) || path.StartsWith("/api/gateway/", StringComparison.OrdinalIgnoreCase))
        {
            return TwinRole.Viewer;
        }

        if (!path.StartsWith("/api/", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method))
        {
            return TwinRole.Viewer;
        }

        // /api/factories/{f}/tickets/{id}/{action} and /purchase-requests/{id}/{action}: operators act on workflow outputs.
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (HttpMethods.IsPost(method) && parts.Length == 6 && parts[1] == "factories" && parts[3] is "tickets" or "purchase-requests")
        {
            return TwinRole.Operator;
        }

        return TwinRole.Integrator;
    }

    /// <summary>Whether <paramref name="user"/> holds <paramref name="required"/> (admin holds every role; operator and integrator include viewer).</summary>
    public static bool HasRole(ClaimsPrincipal user, TwinRole required)
    {
        var roles = Roles(user);
        return roles.Contains(TwinRole.Admin)
            || roles.Contains(required)
            || (required == TwinRole.Viewer && roles.Count > 0);
    }

    /// <summary>Whether the caller's <c>factory</c> claims include <paramref name="factory"/> (or <c>*</c>).</summary>
    public static bool MayAccess(ClaimsPrincipal user, string factory) =>
        user.FindAll(FactoryClaim).Any(c => c.Value == "*" || string.Equals(c.Value, factory, StringComparison.Ordinal));

    /// <summary>The factory a path addresses (<c>/api/factories/{f}/…</c>), if any.</summary>
    public static string? FactoryOf(string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 3 && parts[0] == "api" && parts[1] == "factories" ? Uri.UnescapeDataString(parts[2]) : null;
    }

    private static HashSet<TwinRole> Roles(ClaimsPrincipal user)
    {
        var roles = new HashSet<TwinRole>();
        foreach (var claim in user.FindAll(ClaimTypes.Role).Concat(user.FindAll("role")).Concat(user.FindAll("roles")))
        {
            foreach (var value in claim.Value.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries))
            {
                if (Enum.TryParse<TwinRole>(value, ignoreCase: true, out var role))
                {
                    roles.Add(role);
                }
            }
        }

        return roles;
    }
}
