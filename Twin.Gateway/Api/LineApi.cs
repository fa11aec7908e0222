using Microsoft.AspNetCore.Http.HttpResults;
using Twin.Factories;
using Twin.Lines;
using Twin.Gateway.Security;

namespace Twin.Gateway.Api;

/// <summary>Master data of a line: its machines in flow order.</summary>
public sealed record LineRequest(string? Name, List<string>? Machines);

internal static class LineApi
{
    public static RouteGroupBuilder MapLineApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapFactoryGroup("/lines").WithTags("Lines");
        group.MapGet("/", ListAsync).WithName("ListLines").WithSummary("The factory's lines with status and throughput.");
        group.MapGet("/{line}", GetAsync).WithName("GetLine").WithSummary("A line twin's snapshot with its machines.");
        group.MapGet("/{line}/performance", GetPerformanceAsync).WithName("GetLinePerformance").WithSummary("The line's OEE windows, its bottleneck machine with the evidence, and each machine's utilisation.");
        group.MapPut("/{line}", PutAsync).RequireAuthorization(TwinPolicies.Integrator).WithName("PutLine").WithSummary("Sets a line's master data (name, machines in flow order).");
        return group;
    }

    private static async Task<Results<Ok<TwinList<LineSnapshot>>, ValidationProblem>> ListAsync(
        string factory, int? offset, int? limit, IGrainFactory grains)
    {
        var paging = ApiSupport.Paging(offset, limit);
        var errors = ApiSupport.ValidateIds(("factory", factory)) ?? paging.Errors;
        if (errors is not null)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var ids = await grains.GetGrain<IFactoryGrain>(factory).ListAsync(TwinKind.Line);
        var page = ids.Skip(paging.Offset).Take(paging.Limit);
        var lines = await Task.WhenAll(page.Select(id => grains.GetGrain<ILineGrain>(TwinKey.Compose(factory, id)).GetSnapshotAsync()));
        return TypedResults.Ok(new TwinList<LineSnapshot>(factory, ids.Length, paging.Offset, lines));
    }

    private static async Task<Results<Ok<LinePerformance>, ValidationProblem>> GetPerformanceAsync(string factory, string line, IGrainFactory grains)
    {
        if (ApiSupport.ValidateIds(("factory", factory), ("line", line)) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        return TypedResults.Ok(await grains.GetGrain<ILineGrain>(TwinKey.Compose(factory, line)).GetPerformanceAsync());
    }

    private static async Task<Results<Ok<LineSnapshot>, ValidationProblem>> GetAsync(string factory, string line, IGrainFactory grains)
    {
        if (ApiSupport.ValidateIds(("factory", factory), ("line", line)) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        return TypedResults.Ok(await grains.GetGrain<ILineGrain>(TwinKey.Compose(factory, line)).GetSnapshotAsync());
    }

    private static async Task<Results<Ok<LineSnapshot>, ValidationProblem>> PutAsync(
        string factory, string line, LineRequest request, IGrainFactory grains)
    {
        var errors = ApiSupport.ValidateIds(("factory", factory), ("line", line)) ?? [];
        if (request.Name is { Length: > 200 })
        {
            errors["name"] = ["must be at most 200 characters"];
        }

        if (request.Machines is null)
        {
            errors["machines"] = ["required: the line's machine ids in flow order (may be empty)"];
        }
        else
        {
            var problems = request.Machines
                .Select((m, i) => TwinKey.IsValidId(m, out var e) ? null : $"[{i}]: {e}")
                .Where(e => e is not null)
                .Cast<string>()
                .ToList();
            var duplicates = request.Machines.GroupBy(m => m, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => $"'{g.Key}' is listed twice");
            problems.AddRange(duplicates);
            if (request.Machines.Count > 500)
            {
                problems.Add("at most 500 machines per line");
            }

            if (problems.Count > 0)
            {
                errors["machines"] = [.. problems];
            }
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var definition = new LineDefinition(request.Name, [.. request.Machines!]);
        return TypedResults.Ok(await grains.GetGrain<ILineGrain>(TwinKey.Compose(factory, line)).DefineAsync(definition));
    }
}
