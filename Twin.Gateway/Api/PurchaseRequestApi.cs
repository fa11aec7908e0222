using Microsoft.AspNetCore.Http.HttpResults;
using Twin.Factories;
using Twin.Purchasing;
using Twin.Gateway.Security;

namespace Twin.Gateway.Api;

internal static class PurchaseRequestApi
{
    public static RouteGroupBuilder MapPurchaseRequestApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapFactoryGroup("/purchase-requests").WithTags("Purchasing");
        group.MapGet("/", ListAsync).WithName("ListPurchaseRequests").WithSummary("Purchase requests, newest first; filter with ?status=open&bin=bin-steel.");
        foreach (var (action, status) in new[] { ("order", PurchaseRequestStatus.Ordered), ("receive", PurchaseRequestStatus.Received), ("close", PurchaseRequestStatus.Closed) })
        {
            group.MapPost($"/{{request}}/{action}", (string factory, string request, TicketActionRequest? body, IGrainFactory grains) => MoveAsync(factory, request, status, body, grains))
                .RequireAuthorization(TwinPolicies.Operator)
                .WithName($"PurchaseRequest{char.ToUpperInvariant(action[0])}{action[1..]}")
                .WithSummary($"Moves a purchase request to {status}.");
        }

        return group;
    }

    private static async Task<Results<Ok<TwinList<PurchaseRequest>>, ValidationProblem>> ListAsync(
        string factory, string? status, string? bin, int? offset, int? limit, IGrainFactory grains)
    {
        var paging = ApiSupport.Paging(offset, limit);
        var errors = ApiSupport.ValidateIds(("factory", factory)) ?? paging.Errors ?? [];
        var wanted = ApiSupport.Filter<PurchaseRequestStatus>(status, "status", errors);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var desks = await grains.GetGrain<IFactoryGrain>(factory).ListAsync(TwinKind.PurchaseDesk);
        var lists = await Task.WhenAll(desks.Where(d => bin is null || d == bin)
            .Select(d => grains.GetGrain<IPurchaseRequestGrain>(TwinKey.Compose(factory, d)).ListAsync()));
        var requests = lists.SelectMany(l => l).Where(r => wanted is null || r.Status == wanted)
            .OrderByDescending(r => r.History.IsDefaultOrEmpty ? DateTimeOffset.MinValue : r.History[0].At).ToList();
        return TypedResults.Ok(new TwinList<PurchaseRequest>(factory, requests.Count, paging.Offset, [.. requests.Skip(paging.Offset).Take(paging.Limit)]));
    }

    private static async Task<Results<Ok<PurchaseRequest>, ValidationProblem>> MoveAsync(string factory, string request, PurchaseRequestStatus target, TicketActionRequest? body, IGrainFactory grains)
    {
        var errors = ApiSupport.ValidateIds(("factory", factory)) ?? [];
        var dot = request.LastIndexOf('.');
        if (dot <= 0 || !int.TryParse(request[(dot + 1)..], out var number) || !TwinKey.IsValidId(request[..dot], out _))
        {
            errors["request"] = ["a purchase request id: {bin}.{number}, as listed"];
            return TypedResults.ValidationProblem(errors);
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var desk = grains.GetGrain<IPurchaseRequestGrain>(TwinKey.Compose(factory, request[..dot]));
        return TypedResults.Ok(await desk.MoveAsync(number, target, body?.By, body?.Note));
    }
}
