using Microsoft.AspNetCore.Http.HttpResults;
using Twin.Factories;
using Twin.Machines;

namespace Twin.Gateway.Api;

internal static class MachineApi
{
    public static RouteGroupBuilder MapMachineApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/factories/{factory}/machines").WithTags("Machines");
        group.MapGet("/", ListAsync).WithName("ListMachines").WithSummary("The factory's machines with a summary each.");
        group.MapGet("/{machine}", GetAsync).WithName("GetMachine").WithSummary("A machine twin's snapshot.");
        return group;
    }

    private static async Task<Results<Ok<TwinList<MachineSummary>>, ValidationProblem>> ListAsync(
        string factory, int? offset, int? limit, IGrainFactory grains)
    {
        var paging = ApiSupport.Paging(offset, limit);
        var errors = ApiSupport.ValidateIds(("factory", factory)) ?? paging.Errors;
        if (errors is not null)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var ids = await grains.GetGrain<IFactoryGrain>(factory).ListAsync(TwinKind.Machine);
        var page = ids.Skip(paging.Offset).Take(paging.Limit);
        var summaries = await Task.WhenAll(page.Select(id => grains.GetGrain<IMachineGrain>(TwinKey.Compose(factory, id)).GetSummaryAsync()));
        return TypedResults.Ok(new TwinList<MachineSummary>(factory, ids.Length, paging.Offset, summaries));
    }

    private static async Task<Results<Ok<MachineSnapshot>, NotFound<Microsoft.AspNetCore.Mvc.ProblemDetails>, ValidationProblem>> GetAsync(
        string factory, string machine, IGrainFactory grains)
    {
        if (ApiSupport.ValidateIds(("factory", factory), ("machine", machine)) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var grain = grains.GetGrain<IMachineGrain>(TwinKey.Compose(factory, machine));
        if (!await grain.ExistsAsync())
        {
            return TypedResults.NotFound(new Microsoft.AspNetCore.Mvc.ProblemDetails
            {
                Status = StatusCodes.Status404NotFound,
                Title = "Not found",
                Detail = $"Machine '{machine}' of factory '{factory}' has sent nothing yet and has no master data.",
            });
        }

        return TypedResults.Ok(await grain.GetSnapshotAsync());
    }
}
