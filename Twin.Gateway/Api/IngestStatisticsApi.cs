using System.Security.Claims;
using Microsoft.Extensions.Options;
using Twin.Ingestion;
using Twin.Gateway.Security;

namespace Twin.Gateway.Api;

/// <summary>What this gateway ingested for one factory.</summary>
public sealed record FactoryIngest(long AcceptedMessages, long IgnoredMessages, IReadOnlyDictionary<string, long> RejectedByReason);

/// <summary>What this gateway ingested, summed over the factories in <see cref="Factories"/>.</summary>
public sealed record GatewayIngest(long AcceptedMessages, long IgnoredMessages, IReadOnlyDictionary<string, long> RejectedByReason, IReadOnlyDictionary<string, FactoryIngest> Factories);

/// <summary>
/// <c>GET /api/gateway/ingest</c>. A caller sees the factories its token grants (<c>*</c>: all);
/// messages whose factory is unknown (an unparsable topic, or past the counted factories) only an
/// admin of every factory sees. Without authentication (loopback only) everything is shown.
/// </summary>
internal static class IngestStatisticsApi
{
    public static GatewayIngest Get(IngestStatistics statistics, ClaimsPrincipal user, IOptions<AuthOptions> auth)
    {
        var everything = !auth.Value.IsJwt || (TwinAccess.HasRole(user, TwinRole.Admin) && TwinAccess.MayAccess(user, "*"));
        var shown = statistics.Factories
            .Where(f => everything || (f.Key != IngestStatistics.OtherFactories && TwinAccess.MayAccess(user, f.Key)))
            .OrderBy(f => f.Key, StringComparer.Ordinal)
            .ToDictionary(
                f => f.Key,
                f => new FactoryIngest(f.Value.AcceptedMessages, f.Value.IgnoredMessages, f.Value.Rejected.ToDictionary(r => r.Key, r => r.Value, StringComparer.Ordinal)),
                StringComparer.Ordinal);
        var rejected = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (reason, count) in shown.Values.SelectMany(f => f.RejectedByReason))
        {
            rejected[reason] = rejected.GetValueOrDefault(reason) + count;
        }

        return new GatewayIngest(shown.Values.Sum(f => f.AcceptedMessages), shown.Values.Sum(f => f.IgnoredMessages), rejected, shown);
    }
}
