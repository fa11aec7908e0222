using System.Collections.Immutable;
using Microsoft.AspNetCore.Http.HttpResults;
using Twin.Factories;
using Twin.Gateway.Security;
using Twin.Scheduling;
using Twin.WorkOrders;

namespace Twin.Gateway.Api;

/// <summary>One operation of a routing: the machines that can run it, its setup and its run time per part.</summary>
public sealed record RoutingStepRequest(string? Operation, List<string>? Machines, TimeSpan? Setup, TimeSpan? RunPerPart, string? Name);

/// <summary>A product's routing: its operations in precedence order.</summary>
public sealed record RoutingRequest(List<RoutingStepRequest>? Steps);

/// <summary>An order that might come in now: when would it finish? <c>bom</c> (as on an ERP order) is checked against the bins; without it, the BOM of an open order of the product.</summary>
public sealed record WhatIfRequest(string? Product, long? Quantity, DateTimeOffset? Due, int? Priority, List<BomLineRequest>? Bom = null);

/// <summary>
/// A routing as stored, with warnings: each machine it names that is not (yet) a machine twin of
/// the factory. Such a routing is accepted (master data may arrive before the machines do); the
/// planner plans that machine as always available until it reports.
/// </summary>
public sealed record RoutingResponse(string Product, ImmutableArray<RoutingStep> Steps, ImmutableArray<string> Warnings);

/// <summary>Why a re-plan is asked for (recorded as its trigger).</summary>
public sealed record ReplanRequest(string? Reason);

/// <summary>
/// The factory's planner over HTTP: routings (master data), the schedule with its promises and
/// re-plan history, per-machine dispatch lists, and what-if questions that leave the plan alone.
/// </summary>
internal static class PlanningApi
{
    /// <summary>The code prefix of the planner's refusals of a what-if question; the rest names the field.</summary>
    private const string WhatIfRefusal = "what-if.";

    public static RouteGroupBuilder MapPlanningApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapFactoryGroup("").WithTags("Planning");
        group.MapGet("/routings", ListRoutingsAsync).WithName("ListRoutings").WithSummary("The products' routings (planning master data).");
        group.MapPut("/routings/{product}", PutRoutingAsync).RequireAuthorization(TwinPolicies.Integrator).WithName("PutRouting")
            .WithSummary("Sets a product's routing: operations in order, each with its machines, setup and run time per part; re-plans.");
        group.MapGet("/schedule", GetScheduleAsync).WithName("GetSchedule").WithSummary("The finite-capacity schedule in force: operations, each order's projected completion and lateness, the last re-plan.");
        group.MapGet("/schedule/history", GetHistoryAsync).WithName("GetScheduleHistory").WithSummary("The recent re-plans, newest first: trigger, method, what moved.");
        group.MapPost("/schedule/replan", ReplanAsync).RequireAuthorization(TwinPolicies.Integrator).WithName("PostReplan").WithSummary("Re-plans now, recording the reason as the trigger.");
        group.MapGet("/machines/{machine}/dispatch", GetDispatchAsync).WithName("GetDispatchList").WithSummary("A machine's dispatch list: what it runs next, in order.");

        // Changes nothing: as readable as the schedule it is computed from.
        group.MapPost("/work-orders/what-if", WhatIfAsync).RequireAuthorization(TwinPolicies.Viewer).WithName("PostWhatIf")
            .WithSummary("If this order came in now, when would it finish, and whose promises would move? The plan is not changed.");
        return group;
    }

    private static async Task<Results<Ok<ImmutableArray<Routing>>, ValidationProblem>> ListRoutingsAsync(string factory, IGrainFactory grains)
    {
        if (ApiSupport.ValidateIds(("factory", factory)) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        return TypedResults.Ok(await grains.GetGrain<IPlanningGrain>(factory).GetRoutingsAsync());
    }

    private static async Task<Results<Ok<RoutingResponse>, ValidationProblem>> PutRoutingAsync(string factory, string product, RoutingRequest request, IGrainFactory grains)
    {
        var errors = ApiSupport.ValidateIds(("factory", factory), ("product", product)) ?? [];
        var routing = Steps(product, request.Steps, errors, "");
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var known = await grains.GetGrain<IFactoryGrain>(factory).ListAsync(TwinKind.Machine);
        var kept = await grains.GetGrain<IPlanningGrain>(factory).DefineRoutingAsync(routing!);
        return TypedResults.Ok(new RoutingResponse(kept.Product, kept.Steps, UnknownMachines(factory, kept, known)));
    }

    /// <summary>Checks a routing's steps, adding field errors under <paramref name="prefix"/>; the routing when they are valid.</summary>
    internal static Routing? Steps(string product, List<RoutingStepRequest>? given, Dictionary<string, string[]> errors, string prefix)
    {
        var before = errors.Count;
        var steps = given ?? [];
        if (steps.Count is 0 or > 100)
        {
            errors[prefix + "steps"] = ["1 to 100 operations in precedence order"];
        }

        for (var i = 0; i < steps.Count; i++)
        {
            var step = steps[i];
            if (string.IsNullOrWhiteSpace(step?.Operation) || step.Operation.Length > 64)
            {
                errors[$"{prefix}steps[{i}].operation"] = ["required, at most 64 characters"];
            }
            else if (steps.Take(i).Any(s => s?.Operation == step.Operation))
            {
                errors[$"{prefix}steps[{i}].operation"] = [$"'{step.Operation}' is listed twice"];
            }

            var machines = step?.Machines ?? [];
            var bad = machines.Select((m, k) => TwinKey.IsValidId(m, out var e) ? null : $"[{k}]: {e}").OfType<string>().ToList();
            if (machines.Count is 0 or > 100 || bad.Count > 0)
            {
                errors[$"{prefix}steps[{i}].machines"] = bad.Count > 0 ? [.. bad] : ["1 to 100 machine ids that can run it"];
            }

            if (step?.Setup is { } setup && (setup < TimeSpan.Zero || setup > TimeSpan.FromDays(7)))
            {
                errors[$"{prefix}steps[{i}].setup"] = ["from 00:00:00 to 7.00:00:00"];
            }

            if (step?.RunPerPart is not { } run || run <= TimeSpan.Zero || run > TimeSpan.FromDays(1))
            {
                errors[$"{prefix}steps[{i}].runPerPart"] = ["required: more than 00:00:00, at most 1.00:00:00"];
            }

            if (step?.Name is { Length: > 200 })
            {
                errors[$"{prefix}steps[{i}].name"] = ["at most 200 characters"];
            }
        }

        return errors.Count > before ? null : new Routing(product, [.. steps.Select(s => new RoutingStep(s.Operation!, [.. s.Machines!], s.Setup ?? TimeSpan.Zero, s.RunPerPart!.Value, s.Name))]);
    }

    /// <summary>A warning per machine of the routing that is not a machine twin of the factory, with the nearest known id when one is close (a typo).</summary>
    internal static ImmutableArray<string> UnknownMachines(string factory, Routing routing, ImmutableArray<string> known)
    {
        var warnings = ImmutableArray.CreateBuilder<string>();
        var ids = known.IsDefault ? [] : known;
        for (var i = 0; i < routing.Steps.Length; i++)
        {
            var machines = routing.Steps[i].Machines;
            for (var k = 0; k < machines.Length; k++)
            {
                var machine = machines[k];
                if (ids.Contains(machine, StringComparer.Ordinal))
                {
                    continue;
                }

                var near = ids.Select(id => (Id: id, Distance: Distance(id, machine))).Where(c => c.Distance <= 2).OrderBy(c => c.Distance).ThenBy(c => c.Id, StringComparer.Ordinal).Select(c => c.Id).FirstOrDefault();
                warnings.Add($"steps[{i}].machines[{k}]: '{machine}' is not a machine of factory '{factory}' yet (no data or master data from it); it is planned as always available until it reports"
                    + (near is null ? "" : $"; did you mean '{near}'?"));
            }
        }

        return warnings.ToImmutable();
    }

    /// <summary>Edit distance (Levenshtein) between two short ids.</summary>
    private static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var diagonal = row[0];
            row[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }

        return row[b.Length];
    }

    private static async Task<Results<Ok<PlanSnapshot>, ValidationProblem>> GetScheduleAsync(string factory, IGrainFactory grains)
    {
        if (ApiSupport.ValidateIds(("factory", factory)) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        return TypedResults.Ok(await grains.GetGrain<IPlanningGrain>(factory).GetPlanAsync());
    }

    private static async Task<Results<Ok<ImmutableArray<ReplanRecord>>, ValidationProblem>> GetHistoryAsync(string factory, IGrainFactory grains)
    {
        if (ApiSupport.ValidateIds(("factory", factory)) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        return TypedResults.Ok(await grains.GetGrain<IPlanningGrain>(factory).GetHistoryAsync());
    }

    private static async Task<Results<Accepted, ValidationProblem>> ReplanAsync(string factory, ReplanRequest? request, IGrainFactory grains)
    {
        var errors = ApiSupport.ValidateIds(("factory", factory)) ?? [];
        if (request?.Reason is { Length: > 200 })
        {
            errors["reason"] = ["at most 200 characters"];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        await grains.GetGrain<IPlanningGrain>(factory).ReplanAsync(request?.Reason is { Length: > 0 } reason ? $"asked: {reason}" : "asked over the API");
        return TypedResults.Accepted($"/api/factories/{factory}/schedule");
    }

    private static async Task<Results<Ok<DispatchList>, ValidationProblem>> GetDispatchAsync(string factory, string machine, IGrainFactory grains)
    {
        if (ApiSupport.ValidateIds(("factory", factory), ("machine", machine)) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        return TypedResults.Ok(await grains.GetGrain<IPlanningGrain>(factory).GetDispatchAsync(machine));
    }

    private static async Task<Results<Ok<WhatIfAnswer>, ValidationProblem>> WhatIfAsync(string factory, WhatIfRequest request, IGrainFactory grains)
    {
        var errors = ApiSupport.ValidateIds(("factory", factory)) ?? [];
        if (string.IsNullOrWhiteSpace(request.Product) || request.Product.Length > 128)
        {
            errors["product"] = ["required, at most 128 characters"];
        }

        if (request.Quantity is null or <= 0 or > WorkOrderLimits.MaxQuantity)
        {
            errors["quantity"] = [$"required, a whole number from 1 to {WorkOrderLimits.MaxQuantity} (as for an ERP work order)"];
        }

        if (request.Priority is < 1 or > 100)
        {
            errors["priority"] = ["from 1 to 100"];
        }

        var bom = request.Bom ?? [];
        if (bom.Count > 100)
        {
            errors["bom"] = ["at most 100 lines"];
        }

        for (var i = 0; i < bom.Count && i < 100; i++)
        {
            if (string.IsNullOrWhiteSpace(bom[i]?.Sku))
            {
                errors[$"bom[{i}].sku"] = ["required"];
            }

            if (bom[i]?.QuantityPerUnit is null or <= 0)
            {
                errors[$"bom[{i}].quantityPerUnit"] = ["required, positive"];
            }

            if (!TwinKey.IsValidId(bom[i]?.SourceBin, out var binError))
            {
                errors[$"bom[{i}].sourceBin"] = [binError];
            }
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var order = new WhatIfOrder(request.Product!, request.Quantity!.Value, request.Due, request.Priority ?? 1, [.. bom.Select(b => new BomLine(b.Sku!, b.QuantityPerUnit!.Value, b.SourceBin!))]);
        try
        {
            return TypedResults.Ok(await grains.GetGrain<IPlanningGrain>(factory).WhatIfAsync(order));
        }
        catch (TwinRuleException rule) when (rule.Code.StartsWith(WhatIfRefusal, StringComparison.Ordinal))
        {
            // The planner names the field it cannot plan (e.g. a quantity whose machine time exceeds the horizon).
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { [rule.Code[WhatIfRefusal.Length..]] = [rule.Message] });
        }
    }

}
