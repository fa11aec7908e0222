using Microsoft.AspNetCore.Http.HttpResults;
using Twin.Genealogy;

namespace Twin.Gateway.Api;

/// <summary>Traceability: a work order's genealogy, and the reverse, which work orders used a lot.</summary>
internal static class GenealogyApi
{
    public static RouteGroupBuilder MapGenealogyApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapFactoryGroup("").WithTags("Genealogy");
        group.MapGet("/work-orders/{workOrder}/genealogy", GetWorkOrderAsync).WithName("GetWorkOrderGenealogy")
            .WithSummary("A work order's genealogy: the bins, SKUs, movements and lots it consumed, the machines that made it with their processing windows, and per machine the summary of every sensor over its window (from the history).");
        group.MapGet("/lots/{lot}", GetLotAsync).WithName("GetLot")
            .WithSummary("Where a material lot went: the bins that received it and the work orders that used it.");
        return group;
    }

    private static async Task<Results<Ok<WorkOrderGenealogy>, ValidationProblem>> GetWorkOrderAsync(string factory, string workOrder, IGrainFactory grains)
    {
        if (ApiSupport.ValidateIds(("factory", factory), ("workOrder", workOrder)) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        return TypedResults.Ok(await grains.GetGrain<IGenealogyGrain>(0).GetWorkOrderAsync(factory, workOrder));
    }

    private static async Task<Results<Ok<LotGenealogy>, ValidationProblem>> GetLotAsync(string factory, string lot, IGrainFactory grains)
    {
        if (ApiSupport.ValidateIds(("factory", factory), ("lot", lot)) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        return TypedResults.Ok(await grains.GetGrain<ILotGrain>(TwinKey.Compose(factory, lot)).GetAsync());
    }
}
