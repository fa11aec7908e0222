using System.Collections.Immutable;

namespace Twin.Governance;

/// <summary>How one canonical sensor is recognised and checked.</summary>
/// <param name="Aliases">Other names devices use (matched ignoring case).</param>
/// <param name="Unit">The unit readings are stored in; the default when a reading gives none.</param>
/// <param name="RequireUnit">Refuse readings without a unit instead of assuming <paramref name="Unit"/>.</param>
/// <param name="Min">Lowest plausible value in <paramref name="Unit"/>; below it a reading is flagged bad.</param>
/// <param name="Max">Highest plausible value in <paramref name="Unit"/>.</param>
[GenerateSerializer, Immutable, Alias("twin.SensorRule")]
public sealed record SensorRule(
    [property: Id(0)] ImmutableArray<string> Aliases,
    [property: Id(1)] string? Unit,
    [property: Id(2)] bool RequireUnit,
    [property: Id(3)] double? Min,
    [property: Id(4)] double? Max);

/// <summary>A factory's mapping profile as set over the API; it replaces the configured one.</summary>
[GenerateSerializer, Immutable, Alias("twin.MappingProfileDefinition")]
public sealed record MappingProfileDefinition(
    [property: Id(0)] bool AcceptUnknownSensors,
    [property: Id(1)] ImmutableDictionary<string, SensorRule> Sensors,
    [property: Id(2)] long Version = 0);

/// <summary>The mapping profile of one factory set over the API, keyed by the factory id.</summary>
[Alias("twin.IMappingProfileGrain")]
public interface IMappingProfileGrain : IGrainWithStringKey
{
    /// <summary>The profile, or null when none was set (the configured profile applies).</summary>
    [Alias("Get")]
    Task<MappingProfileDefinition?> GetAsync();

    /// <summary>Replaces the profile; returns it with its new version.</summary>
    [Alias("Set")]
    Task<MappingProfileDefinition> SetAsync(MappingProfileDefinition profile);

    /// <summary>Removes the API profile, so the configured one applies again.</summary>
    [Alias("Clear")]
    Task ClearAsync();
}
