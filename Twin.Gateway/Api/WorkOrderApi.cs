using Microsoft.AspNetCore.Http.HttpResults;
using Twin.Factories;
using Twin.WorkOrders;

namespace Twin.Gateway.Api;

internal static class WorkOrderApi
{
    public static RouteGroupBuilder MapWorkOrderApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapFactoryGroup("/work-orders").WithTags("Work orders");
        group.MapGet("/", ListAsync).WithName("ListWorkOrders").WithSummary("The factory's work orders; filter with ?status=released.");
        group.MapGet("/{workOrder}", GetAsync).WithName("GetWorkOrder").WithSummary("A work order twin's snapshot.");
        return group;
    }

    private static async Task<Results<Ok<TwinList<WorkOrderSnapshot>>, ValidationProblem>> ListAsync(
        string factory, string? status, int? offset, int? limit, IGrainFactory grains)
    {
        var paging = ApiSupport.Paging(offset, limit);
        var errors = ApiSupport.ValidateIds(("factory", factory)) ?? paging.Errors ?? [];
        var wanted = ApiSupport.Filter<WorkOrderStatus>(status, "status", errors);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var ids = await grains.GetGrain<IFactoryGrain>(factory).ListAsync(TwinKind.WorkOrder);
        var all = await Task.WhenAll(ids.Select(id => grains.GetGrain<IWorkOrderGrain>(TwinKey.Compose(factory, id)).GetSnapshotAsync()));
        var matching = all.Where(w => wanted is null || w.Status == wanted).ToList();
        var page = matching.Skip(paging.Offset).Take(paging.Limit).ToList();
        return TypedResults.Ok(new TwinList<WorkOrderSnapshot>(factory, matching.Count, paging.Offset, page));
    }

    private static async Task<Results<Ok<WorkOrderSnapshot>, ValidationProblem>> GetAsync(string factory, string workOrder, IGrainFactory grains)
    {
        if (ApiSupport.ValidateIds(("factory", factory), ("workOrder", workOrder)) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        return TypedResults.Ok(await grains.GetGrain<IWorkOrderGrain>(TwinKey.Compose(factory, workOrder)).GetSnapshotAsync());
    }
}
