using Microsoft.AspNetCore.Http.HttpResults;
using Twin.Effects;

namespace Twin.Gateway.Api;

/// <summary>Actions (tickets resolved, settings changed, re-plans, engineering changes) and their verified effect.</summary>
internal static class EffectApi
{
    public const int MaxActionIdLength = 200;

    public static RouteGroupBuilder MapEffectApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapFactoryGroup("/actions").WithTags("Effects");
        group.MapGet("/", ListAsync).WithName("ListActions")
            .WithSummary("Actions whose effect is tracked, newest first; ?status=open|verified. Each with its KPIs before and after over windows of equal length, with sample sizes.");
        group.MapGet("/{id}", GetAsync).WithName("GetAction")
            .WithSummary("One action's effect report: OEE, scrap rate, anomaly rate, failures/MTBF and Cpk before and after, each with its sample size, or 'not enough data'.");
        return group;
    }

    private static async Task<Results<Ok<TwinList<ActionEffect>>, ValidationProblem>> ListAsync(string factory, string? status, int? offset, int? limit, IGrainFactory grains)
    {
        var paging = ApiSupport.Paging(offset, limit);
        var errors = ApiSupport.ValidateIds(("factory", factory)) ?? paging.Errors ?? [];
        var wanted = ApiSupport.Filter<ActionStatus>(status, "status", errors);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var actions = await grains.GetGrain<IActionEffectGrain>(factory).ListAsync(wanted);
        return TypedResults.Ok(new TwinList<ActionEffect>(factory, actions.Length, paging.Offset, [.. actions.Skip(paging.Offset).Take(paging.Limit)]));
    }

    private static async Task<Results<Ok<ActionEffect>, NotFound<Microsoft.AspNetCore.Mvc.ProblemDetails>, ValidationProblem>> GetAsync(string factory, string id, IGrainFactory grains)
    {
        var errors = ApiSupport.ValidateIds(("factory", factory)) ?? [];
        if (string.IsNullOrWhiteSpace(id) || id.Length > MaxActionIdLength)
        {
            errors["id"] = [$"an action id as listed, at most {MaxActionIdLength} characters"];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        return await grains.GetGrain<IActionEffectGrain>(factory).GetAsync(id) is { } effect
            ? TypedResults.Ok(effect)
            : TypedResults.NotFound(new Microsoft.AspNetCore.Mvc.ProblemDetails { Status = StatusCodes.Status404NotFound, Title = "Not found", Detail = $"No action '{id}' is tracked in factory '{factory}'." });
    }
}
