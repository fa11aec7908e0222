using Microsoft.AspNetCore.Http.HttpResults;
using Twin.DeadLetters;

namespace Twin.Gateway.Api;

internal static class DeadLetterApi
{
    public static RouteGroupBuilder MapDeadLetterApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapFactoryGroup("/dead-letters").WithTags("Dead letters");
        group.MapGet("/", ListAsync).WithName("ListDeadLetters").WithSummary("Rejected messages, newest first; filter with ?reason=payload.malformed.");
        return group;
    }

    private static async Task<Results<Ok<DeadLetterPage>, ValidationProblem>> ListAsync(string factory, string? reason, int? limit, IGrainFactory grains)
    {
        var paging = ApiSupport.Paging(0, limit);
        var errors = ApiSupport.ValidateIds(("factory", factory)) ?? paging.Errors;
        if (errors is not null)
        {
            return TypedResults.ValidationProblem(errors);
        }

        return TypedResults.Ok(await grains.GetGrain<IDeadLetterGrain>(factory).ListAsync(reason, paging.Limit));
    }
}
