using Microsoft.AspNetCore.Http.HttpResults;
using Twin.Kpis;

namespace Twin.Gateway.Api;

/// <summary>Maintenance figures of a machine from its tickets.</summary>
/// <param name="MttrMinutes">Mean time to repair: opened → resolved, over resolved tickets.</param>
/// <param name="MtbfHours">Mean time between failures: between consecutive ticket openings.</param>
public sealed record Reliability(string Factory, string Machine, int Tickets, int Resolved, double? MttrMinutes, double? MtbfHours);

internal static class ReliabilityApi
{
    public static RouteGroupBuilder MapReliabilityApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapFactoryGroup("/machines/{machine}").WithTags("Maintenance");
        group.MapGet("/reliability", GetAsync).WithName("GetReliability").WithSummary("MTTR and MTBF of a machine, from its maintenance tickets.");
        return group;
    }

    private static async Task<Results<Ok<Reliability>, ValidationProblem>> GetAsync(string factory, string machine, IGrainFactory grains)
    {
        if (ApiSupport.ValidateIds(("factory", factory), ("machine", machine)) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var r = await grains.GetGrain<IFactoryKpiGrain>(factory).GetReliabilityAsync(machine);
        return TypedResults.Ok(new Reliability(factory, machine, r.Tickets, r.Resolved, r.MttrMinutes, r.MtbfHours));
    }
}
