using System.Collections.Immutable;
using Microsoft.AspNetCore.Http.HttpResults;
using Twin.Ingestion;
using Twin.Governance;
using Twin.Gateway.Security;

namespace Twin.Gateway.Api;

/// <summary>One sensor's rules in a mapping profile request.</summary>
public sealed record SensorRuleRequest(List<string>? Aliases, string? Unit, bool? RequireUnit, double? Min, double? Max);

/// <summary>A mapping profile request.</summary>
public sealed record MappingProfileRequest(bool? AcceptUnknownSensors, Dictionary<string, SensorRuleRequest?>? Sensors);

/// <summary>The profile in effect for a factory: <c>origin</c> is <c>api</c> or <c>config</c>.</summary>
public sealed record MappingProfileResponse(string Factory, string Origin, long Version, bool AcceptUnknownSensors, IReadOnlyDictionary<string, SensorProfile> Sensors);

internal static class ProfileApi
{
    public static RouteGroupBuilder MapProfileApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapFactoryGroup("/mapping-profile").WithTags("Governance");
        group.MapGet("/", GetAsync).WithName("GetMappingProfile").WithSummary("The factory's mapping profile in effect (set over the API, else configured).");
        group.MapPut("/", PutAsync).RequireAuthorization(TwinPolicies.Integrator).WithName("PutMappingProfile").WithSummary("Sets the factory's mapping profile: canonical sensors, aliases, units, plausible ranges.");
        group.MapDelete("/", DeleteAsync).RequireAuthorization(TwinPolicies.Integrator).WithName("DeleteMappingProfile").WithSummary("Removes the API profile; the configured one applies again.");
        return group;
    }

    private static async Task<Results<Ok<MappingProfileResponse>, ValidationProblem>> GetAsync(string factory, ProfileProvider profiles)
    {
        if (ApiSupport.ValidateIds(("factory", factory)) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        profiles.Invalidate(factory);
        var effective = await profiles.GetAsync(factory);
        return TypedResults.Ok(Response(factory, effective));
    }

    private static async Task<Results<Ok<MappingProfileResponse>, ValidationProblem>> PutAsync(
        string factory, MappingProfileRequest request, IGrainFactory grains, ProfileProvider profiles)
    {
        var errors = ApiSupport.ValidateIds(("factory", factory)) ?? [];
        var sensors = ImmutableDictionary.CreateBuilder<string, SensorRule>(StringComparer.Ordinal);
        foreach (var (name, rule) in request.Sensors ?? [])
        {
            if (!TwinKey.IsValidId(name, out var nameError))
            {
                errors[$"sensors.{name}"] = [nameError];
                continue;
            }

            if (rule is null)
            {
                errors[$"sensors.{name}"] = ["a sensor needs an object of rules (it may be empty)"];
                continue;
            }

            if (rule.Aliases?.Any(a => string.IsNullOrWhiteSpace(a) || a.Length > 64) == true)
            {
                errors[$"sensors.{name}.aliases"] = ["aliases are 1 to 64 characters"];
            }

            sensors[name] = new SensorRule([.. rule.Aliases ?? []], rule.Unit, rule.RequireUnit ?? false, rule.Min, rule.Max);
        }

        if (sensors.Count > 1000)
        {
            errors["sensors"] = ["at most 1000 sensors"];
        }

        var definition = new MappingProfileDefinition(request.AcceptUnknownSensors ?? true, sensors.ToImmutable());
        var problems = ProfileProvider.FromDefinition(definition).Validate("sensors");
        if (problems.Count > 0)
        {
            errors["profile"] = [.. problems];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        await grains.GetGrain<IMappingProfileGrain>(factory).SetAsync(definition);
        profiles.Invalidate(factory);
        return TypedResults.Ok(Response(factory, await profiles.GetAsync(factory)));
    }

    private static async Task<Results<NoContent, ValidationProblem>> DeleteAsync(string factory, IGrainFactory grains, ProfileProvider profiles)
    {
        if (ApiSupport.ValidateIds(("factory", factory)) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        await grains.GetGrain<IMappingProfileGrain>(factory).ClearAsync();
        profiles.Invalidate(factory);
        return TypedResults.NoContent();
    }

    private static MappingProfileResponse Response(string factory, EffectiveProfile effective) =>
        new(factory, effective.Origin, effective.Version, effective.Profile.AcceptUnknownSensors, effective.Profile.Sensors);
}
