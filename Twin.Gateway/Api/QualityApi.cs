using Microsoft.Extensions.Options;
using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Twin.Factories;
using Twin.Gateway.Security;
using Twin.Quality;

namespace Twin.Gateway.Api;

/// <summary>A characteristic's chart in a list: where it stands now.</summary>
public sealed record CharacteristicSummary(
    string Id, string Machine, string Characteristic, string Phase, SpecLimits? Spec, double? Center, double? Cpk, long Readings, long OutOfSpec, IReadOnlyList<Twin.Machines.FaultKind> FiringRules, DateTimeOffset? LastPoint);

/// <summary>How to learn a characteristic's limits again: from the next points, with new settings when given.</summary>
public sealed record RebaselineRequest(int? SubgroupSize, int? BaselineSubgroups, string? By, DateTimeOffset? From = null);

/// <summary>SPC charts per characteristic, re-baselining, and the root-cause ranking.</summary>
internal static class QualityApi
{
    /// <summary>The default span a root-cause ranking looks back over.</summary>
    public static readonly TimeSpan DefaultSpan = TimeSpan.FromDays(7);

    public static RouteGroupBuilder MapQualityApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapFactoryGroup("").WithTags("Quality");
        group.MapGet("/quality/characteristics", ListAsync).WithName("ListCharacteristics")
            .WithSummary("The characteristics with a control chart, each with its phase, centre line, Cpk and the rules firing now.");
        group.MapGet("/machines/{machine}/characteristics/{characteristic}", GetAsync).WithName("GetCharacteristic")
            .WithSummary("A characteristic's control chart: limits, recent points with the rules that fired, Cp/Cpk.");
        group.MapPost("/machines/{machine}/characteristics/{characteristic}/baseline", RebaselineAsync).RequireAuthorization(TwinPolicies.Operator).WithName("RebaselineCharacteristic")
            .WithSummary("Learns the characteristic's control limits again from the next points (phase I), optionally with a new subgroup size and baseline length.");
        group.MapGet("/quality/root-cause", RootCauseAsync).WithName("GetRootCause")
            .WithSummary("Ranks process parameters, machines, work orders and materials by how strongly they separate bad from good parts of a characteristic (?machine=&characteristic=) or a defect code (?defect=), with effect sizes, intervals and sample counts.");
        return group;
    }

    private static async Task<Results<Ok<TwinList<CharacteristicSummary>>, ValidationProblem>> ListAsync(string factory, int? offset, int? limit, IGrainFactory grains)
    {
        var paging = ApiSupport.Paging(offset, limit);
        var errors = ApiSupport.ValidateIds(("factory", factory)) ?? paging.Errors;
        if (errors is not null)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var ids = await grains.GetGrain<IFactoryGrain>(factory).ListAsync(TwinKind.Characteristic);
        var page = ids.Skip(paging.Offset).Take(paging.Limit).Select(id => CharacteristicKey.TryParseId(factory, id, out var key) ? key : (CharacteristicKey?)null).OfType<CharacteristicKey>().ToList();
        var charts = await Task.WhenAll(page.Select(async Task<CharacteristicSnapshot?> (key) =>
        {
            try
            {
                return await grains.GetGrain<ICharacteristicGrain>(key.GrainKey).GetAsync();
            }
            catch (TwinRuleException rule) when (rule.IsNotFound)
            {
                return null;
            }
        }));
        var items = charts.OfType<CharacteristicSnapshot>().Select(c => new CharacteristicSummary(
            $"{c.Machine}/{c.Characteristic}", c.Machine, c.Characteristic, c.Phase, c.Spec, c.Limits?.Center, c.Capability?.Cpk, c.Readings, c.OutOfSpec,
            c.FiringRules, c.Points.IsDefaultOrEmpty ? null : c.Points[^1].Time)).ToList();
        return TypedResults.Ok(new TwinList<CharacteristicSummary>(factory, ids.Length, paging.Offset, items));
    }

    private static async Task<Results<Ok<CharacteristicSnapshot>, ValidationProblem>> GetAsync(string factory, string machine, string characteristic, IGrainFactory grains)
    {
        if (Validate(factory, machine, characteristic) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        return TypedResults.Ok(await grains.GetGrain<ICharacteristicGrain>(new CharacteristicKey(factory, machine, characteristic).GrainKey).GetAsync());
    }

    private static async Task<Results<Ok<CharacteristicSnapshot>, ValidationProblem>> RebaselineAsync(string factory, string machine, string characteristic, RebaselineRequest? request, IGrainFactory grains, IOptions<Twin.Ingestion.IngestOptions> ingest, TimeProvider time)
    {
        var errors = Validate(factory, machine, characteristic) ?? [];
        if (request?.From is { } from && ingest.Value.Limits.Future(from, time.GetUtcNow()) is { } future)
        {
            // A cut-off in the future would keep every coming measurement out of the chart for good.
            errors["from"] = [future];
        }

        if (request?.SubgroupSize is < 1 or > 10)
        {
            errors["subgroupSize"] = ["from 1 (individuals) to 10"];
        }

        if (request?.BaselineSubgroups is < 5 or > 1000)
        {
            errors["baselineSubgroups"] = ["from 5 to 1000"];
        }

        if ((request?.SubgroupSize is null) != (request?.BaselineSubgroups is null))
        {
            errors["subgroupSize"] = ["give subgroupSize and baselineSubgroups together, or neither to keep the current settings"];
        }

        if (request?.By is { Length: > 100 })
        {
            errors["by"] = ["at most 100 characters"];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var settings = request?.SubgroupSize is { } n ? new SpcSettings(n, request.BaselineSubgroups!.Value) : null;
        return TypedResults.Ok(await grains.GetGrain<ICharacteristicGrain>(new CharacteristicKey(factory, machine, characteristic).GrainKey).RebaselineAsync(settings, request?.By, request?.From));
    }

    private static async Task<Results<Ok<RootCauseReport>, ValidationProblem>> RootCauseAsync(
        string factory, string? machine, string? characteristic, string? defect, string? from, string? to, IGrainFactory grains, TimeProvider time)
    {
        var errors = ApiSupport.ValidateIds(("factory", factory)) ?? [];
        if (characteristic is null == (defect is null))
        {
            errors["characteristic"] = ["give either characteristic (with machine) or defect"];
        }
        else if (characteristic is not null)
        {
            if (!CharacteristicKey.IsValidName(characteristic, out var nameError))
            {
                errors["characteristic"] = [nameError];
            }

            if (!TwinKey.IsValidId(machine, out var machineError))
            {
                errors["machine"] = ["required with characteristic: " + machineError];
            }
        }
        else
        {
            if (!TwinKey.IsValidId(defect, out var defectError))
            {
                errors["defect"] = [defectError];
            }

            if (machine is not null && !TwinKey.IsValidId(machine, out var machineError))
            {
                errors["machine"] = [machineError];
            }
        }

        var end = Time(to, "to", errors) ?? time.GetUtcNow();
        var start = Time(from, "from", errors) ?? end - DefaultSpan;
        if (start >= end)
        {
            errors["from"] = ["must be before to"];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        return TypedResults.Ok(await grains.GetGrain<IRootCauseGrain>(0).RankAsync(new RootCauseQuery(factory, machine, characteristic, defect, start, end)));
    }

    private static DateTimeOffset? Time(string? text, string field, Dictionary<string, string[]> errors)
    {
        if (text is null)
        {
            return null;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value))
        {
            return value;
        }

        errors[field] = ["an ISO 8601 time, e.g. 2026-12-01T08:00:00Z"];
        return null;
    }

    private static Dictionary<string, string[]>? Validate(string factory, string machine, string characteristic)
    {
        var errors = ApiSupport.ValidateIds(("factory", factory), ("machine", machine));
        if (!CharacteristicKey.IsValidName(characteristic, out var error))
        {
            (errors ??= [])["characteristic"] = [error];
        }

        return errors;
    }
}
