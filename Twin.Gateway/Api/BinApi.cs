using Microsoft.AspNetCore.Http.HttpResults;
using Twin.Bins;
using Twin.Factories;
using Twin.Gateway.Security;

namespace Twin.Gateway.Api;

/// <summary>Master data of a stock bin.</summary>
public sealed record BinRequest(string? Sku, decimal? ReorderPoint, decimal? ReorderQuantity, string? Location);

internal static class BinApi
{
    public static RouteGroupBuilder MapBinApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapFactoryGroup("/bins").WithTags("Stock bins");
        group.MapGet("/", ListAsync).WithName("ListBins").WithSummary("The factory's stock bins.");
        group.MapGet("/{bin}", GetAsync).WithName("GetBin").WithSummary("A stock bin twin's snapshot.");
        group.MapPut("/{bin}", PutAsync).RequireAuthorization(TwinPolicies.Integrator).WithName("PutBin").WithSummary("Sets a bin's master data (SKU, reorder point and quantity); stock is kept.");
        return group;
    }

    private static async Task<Results<Ok<TwinList<BinSnapshot>>, ValidationProblem>> ListAsync(
        string factory, int? offset, int? limit, IGrainFactory grains)
    {
        var paging = ApiSupport.Paging(offset, limit);
        var errors = ApiSupport.ValidateIds(("factory", factory)) ?? paging.Errors;
        if (errors is not null)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var ids = await grains.GetGrain<IFactoryGrain>(factory).ListAsync(TwinKind.StockBin);
        var page = ids.Skip(paging.Offset).Take(paging.Limit);
        var bins = await Task.WhenAll(page.Select(id => grains.GetGrain<IStockBinGrain>(TwinKey.Compose(factory, id)).GetSnapshotAsync()));
        return TypedResults.Ok(new TwinList<BinSnapshot>(factory, ids.Length, paging.Offset, bins));
    }

    private static async Task<Results<Ok<BinSnapshot>, ValidationProblem>> GetAsync(string factory, string bin, IGrainFactory grains)
    {
        if (ApiSupport.ValidateIds(("factory", factory), ("bin", bin)) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        return TypedResults.Ok(await grains.GetGrain<IStockBinGrain>(TwinKey.Compose(factory, bin)).GetSnapshotAsync());
    }

    private static async Task<Results<Ok<BinSnapshot>, ValidationProblem>> PutAsync(
        string factory, string bin, BinRequest request, IGrainFactory grains)
    {
        var errors = ApiSupport.ValidateIds(("factory", factory), ("bin", bin)) ?? [];
        if (string.IsNullOrWhiteSpace(request.Sku) || request.Sku.Length > 64)
        {
            errors["sku"] = ["required, at most 64 characters"];
        }

        if (request.ReorderPoint is null or < 0)
        {
            errors["reorderPoint"] = ["required, 0 or more"];
        }

        if (request.ReorderQuantity is null or < 0)
        {
            errors["reorderQuantity"] = ["required, 0 or more"];
        }

        if (request.Location is { Length: > 200 })
        {
            errors["location"] = ["at most 200 characters"];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var definition = new BinDefinition(request.Sku!, request.ReorderPoint!.Value, request.ReorderQuantity!.Value, request.Location);
        return TypedResults.Ok(await grains.GetGrain<IStockBinGrain>(TwinKey.Compose(factory, bin)).DefineAsync(definition));
    }
}
