using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Twin.Gateway.Security;
using Twin.Integration;
using Twin.Products;
using Twin.WorkOrders;

namespace Twin.Gateway.Api;

/// <summary>
/// A PLM engineering change: a new <c>revision</c> of <c>product</c> with its BOM (and optionally its
/// routing), in effect for orders due at or after <c>effective</c> (orders without a due date: when it
/// is applied). The change id is the idempotency id.
/// </summary>
public sealed record EngineeringChangeRequest(
    string? ChangeId, string? Product, string? Revision, DateTimeOffset? Effective, List<BomLineRequest>? Bom, RoutingRequest? Routing, string? Reason, string? By);

/// <summary>The business event's outcome and what the change did to each known work order of the product.</summary>
public sealed record EngineeringChangeResponse(EventOutcome Outcome, EngineeringChangeResult? Change);

/// <summary>A decision on a work order's pending engineering change: <c>switch</c> or <c>keep</c>.</summary>
public sealed record EngineeringChangeDecisionRequest(string? Decision, string? By);

/// <summary>Product revisions and engineering changes from PLM, and the decisions they ask of running orders.</summary>
internal static class PlmApi
{
    public static RouteGroupBuilder MapPlmApi(this IEndpointRouteBuilder app)
    {
        var limits = app.ServiceProvider.GetRequiredService<IOptions<HttpLimitsOptions>>().Value;
        var group = app.MapFactoryGroup("").WithTags("Products");
        group.MapPost("/plm/changes", PostChangeAsync).RequireAuthorization(TwinPolicies.Integrator)
            .WithMetadata(new Microsoft.AspNetCore.Mvc.RequestSizeLimitAttribute(limits.MaxEventBodyBytes))
            .WithName("PostPlmChange")
            .WithSummary("PLM: an engineering change creates a product revision and applies it to the product's work orders (idempotent by changeId).")
            .Accepts<EngineeringChangeRequest>("application/json");
        group.MapGet("/products/{product}", GetProductAsync).WithName("GetProduct").WithSummary("A product's revisions, the one in effect, its work orders and its engineering changes.");
        group.MapPost("/work-orders/{workOrder}/engineering-change", DecideAsync).RequireAuthorization(TwinPolicies.Operator)
            .WithName("DecideEngineeringChange")
            .WithSummary("Decides a released or running order's pending engineering change: switch (the rest of the quantity takes the new BOM) or keep.");
        return group;
    }

    private static async Task<IResult> PostChangeAsync(string factory, HttpRequest http, IGrainFactory grains, IOptions<JsonOptions> json, TimeProvider time)
    {
        var (request, raw, problem) = await BusinessEventApi.ReadAsync<EngineeringChangeRequest>(factory, http, grains, json.Value, time);
        if (problem is not null)
        {
            return problem;
        }

        var errors = BusinessEventApi.Common(factory, request!.ChangeId);
        errors.Remove("eventId");
        if (!TwinKey.IsValidId(request.ChangeId, out var idError))
        {
            // The change id is also its event id and part of the product's record: the stricter rule of ids holds.
            errors["changeId"] = [$"required: the engineering change's id, 1 to {TwinKey.MaxIdLength} letters, digits, '-', '_', '.' ({idError})"];
        }

        if (request.Effective is null)
        {
            errors["effective"] = ["required: from when the revision applies (ISO 8601 with offset); orders due before it keep their revision"];
        }

        var bom = request.Bom ?? [];
        var routing = request.Routing is { } given ? PlanningApi.Steps(request.Product ?? "", given.Steps, errors, "routing.") : null;
        var candidate = new EngineeringChange(
            request.ChangeId ?? "", request.Product ?? "", request.Revision ?? "", request.Effective ?? DateTimeOffset.MinValue,
            [.. bom.Select(b => new BomLine(b?.Sku ?? "", b?.QuantityPerUnit ?? 0, b?.SourceBin ?? ""))], routing, request.Reason, request.By);
        foreach (var (field, messages) in EngineeringChangeLimits.Validate(candidate))
        {
            errors.TryAdd(field, messages);
        }

        if (errors.Count == 0)
        {
            return await ApplyAsync(grains, factory, new EngineeringChangeEvent(candidate.ChangeId, BusinessEventApi.Fingerprint(Canonical(request), json.Value), candidate));
        }

        return await BusinessEventApi.RejectAsync(factory, http, grains, raw, errors, time);
    }

    private static async Task<IResult> ApplyAsync(IGrainFactory grains, string factory, EngineeringChangeEvent change)
    {
        var outcome = await grains.GetGrain<IBusinessEventGrain>($"{factory}/plm/{change.EventId}").ApplyOnceAsync(change);
        if (!outcome.Applied)
        {
            return TypedResults.Problem(new Microsoft.AspNetCore.Mvc.ProblemDetails
            {
                Status = StatusCodes.Status409Conflict,
                Title = "Refused by a twin rule",
                Detail = outcome.Detail,
                Extensions = { ["code"] = outcome.Code, ["outcome"] = outcome },
            });
        }

        var product = await grains.GetGrain<IProductGrain>(TwinKey.Compose(factory, change.Change.Product)).GetSnapshotAsync();
        return TypedResults.Ok(new EngineeringChangeResponse(outcome, product.Changes.FirstOrDefault(c => c.ChangeId == change.Change.ChangeId)));
    }

    private static async Task<Results<Ok<ProductSnapshot>, ValidationProblem>> GetProductAsync(string factory, string product, IGrainFactory grains)
    {
        if (ApiSupport.ValidateIds(("factory", factory), ("product", product)) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        return TypedResults.Ok(await grains.GetGrain<IProductGrain>(TwinKey.Compose(factory, product)).GetSnapshotAsync());
    }

    private static async Task<Results<Ok<WorkOrderSnapshot>, ValidationProblem>> DecideAsync(string factory, string workOrder, EngineeringChangeDecisionRequest? request, IGrainFactory grains)
    {
        var errors = ApiSupport.ValidateIds(("factory", factory), ("workOrder", workOrder)) ?? [];
        bool? switchBom = request?.Decision?.ToUpperInvariant() switch
        {
            "SWITCH" => true,
            "KEEP" => false,
            _ => null,
        };
        if (switchBom is null)
        {
            errors["decision"] = ["one of switch, keep"];
        }

        if (string.IsNullOrWhiteSpace(request?.By) || request.By.Length > 128)
        {
            errors["by"] = ["required: who decides, at most 128 characters"];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        return TypedResults.Ok(await grains.GetGrain<IWorkOrderGrain>(TwinKey.Compose(factory, workOrder)).DecideEngineeringChangeAsync(switchBom!.Value, request!.By));
    }

    /// <summary>
    /// The request as its fingerprint sees it: the same instant in any offset and the same quantity
    /// in any scale (<c>1</c>, <c>1.0</c>) are the same change, so a replay that a PLM system
    /// re-serialised is a replay, not a conflict.
    /// </summary>
    private static EngineeringChangeRequest Canonical(EngineeringChangeRequest request) => request with
    {
        Effective = request.Effective?.ToUniversalTime(),
        Bom = request.Bom?.Select(b => b is null ? null! : b with { QuantityPerUnit = b.QuantityPerUnit / 1.0000000000000000000000000000m }).ToList(),
    };
}
