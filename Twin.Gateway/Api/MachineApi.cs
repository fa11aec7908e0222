using Microsoft.AspNetCore.Http.HttpResults;
using Twin.Factories;
using Twin.Machines;

namespace Twin.Gateway.Api;

/// <summary>Limits and detector settings of one sensor, in its canonical unit.</summary>
public sealed record SensorLimitRequest(double? High, double? Low, double? Hysteresis, TimeSpan? MinDuration, double? MaxRatePerSecond, TimeSpan? FlatlineAfter, TimeSpan? ExpectedInterval);

/// <summary>Master data of a machine.</summary>
public sealed record MachineRequest(string? Name, Dictionary<string, SensorLimitRequest?>? Sensors);

internal static class MachineApi
{
    public static RouteGroupBuilder MapMachineApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/factories/{factory}/machines").WithTags("Machines");
        group.MapGet("/", ListAsync).WithName("ListMachines").WithSummary("The factory's machines with a summary each.");
        group.MapGet("/{machine}", GetAsync).WithName("GetMachine").WithSummary("A machine twin's snapshot.");
        group.MapPut("/{machine}", PutAsync).WithName("PutMachine").WithSummary("Sets a machine's master data: name, sensor limits and detector settings.");
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

    private static async Task<Results<Ok<MachineSnapshot>, ValidationProblem>> PutAsync(string factory, string machine, MachineRequest request, IGrainFactory grains)
    {
        var errors = ApiSupport.ValidateIds(("factory", factory), ("machine", machine)) ?? [];
        if (request.Name is { Length: > 200 })
        {
            errors["name"] = ["at most 200 characters"];
        }

        var sensors = System.Collections.Immutable.ImmutableDictionary.CreateBuilder<string, SensorLimit>(StringComparer.Ordinal);
        foreach (var (name, limit) in request.Sensors ?? [])
        {
            var field = $"sensors.{name}";
            if (!TwinKey.IsValidId(name, out var nameError))
            {
                errors[field] = [nameError];
                continue;
            }

            if (limit is null)
            {
                errors[field] = ["an object of limits (it may be empty)"];
                continue;
            }

            var problems = new List<string>();
            if (limit.High is { } high && limit.Low is { } low && low >= high)
            {
                problems.Add("low must be below high");
            }

            if (limit.Hysteresis is < 0 || limit.MinDuration < TimeSpan.Zero || limit.MaxRatePerSecond is <= 0
                || limit.FlatlineAfter <= TimeSpan.Zero || limit.ExpectedInterval <= TimeSpan.Zero)
            {
                problems.Add("hysteresis and minDuration cannot be negative; maxRatePerSecond, flatlineAfter and expectedInterval must be positive");
            }

            if (problems.Count > 0)
            {
                errors[field] = [.. problems];
                continue;
            }

            sensors[name] = new SensorLimit(limit.High, limit.Low, limit.Hysteresis ?? 0, limit.MinDuration ?? TimeSpan.Zero, limit.MaxRatePerSecond, limit.FlatlineAfter, limit.ExpectedInterval);
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var grain = grains.GetGrain<IMachineGrain>(TwinKey.Compose(factory, machine));
        return TypedResults.Ok(await grain.DefineAsync(new MachineDefinition(request.Name, sensors.ToImmutable())));
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
