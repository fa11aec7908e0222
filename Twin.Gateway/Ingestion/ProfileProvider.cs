using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Twin.Gateway.Ingestion;

/// <summary>The mapping profiles of all factories (<c>Twin:Profiles</c>), keyed by factory id; <c>default</c> applies to the rest.</summary>
public sealed class ProfilesOptions : Dictionary<string, MappingProfile>
{
    public const string Section = "Twin:Profiles";

    public const string DefaultKey = "default";

    public ProfilesOptions()
        : base(StringComparer.Ordinal)
    {
    }
}

internal sealed class ProfilesOptionsValidator : IValidateOptions<ProfilesOptions>
{
    public ValidateOptionsResult Validate(string? name, ProfilesOptions options)
    {
        var errors = options.SelectMany(p => p.Value.Validate($"{ProfilesOptions.Section}:{p.Key}")).ToList();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Gives each factory's normaliser, rebuilt when the configuration changes.</summary>
public sealed class ProfileProvider : IDisposable
{
    private readonly ConcurrentDictionary<string, Normaliser> _normalisers = new(StringComparer.Ordinal);
    private readonly IDisposable? _subscription;
    private ProfilesOptions _profiles;

    public ProfileProvider(IOptionsMonitor<ProfilesOptions> options)
    {
        _profiles = options.CurrentValue;
        _subscription = options.OnChange(updated =>
        {
            _profiles = updated;
            _normalisers.Clear();
        });
    }

    public Normaliser For(string factory) =>
        _normalisers.GetOrAdd(factory, f => new Normaliser(
            _profiles.TryGetValue(f, out var profile) ? profile
            : _profiles.TryGetValue(ProfilesOptions.DefaultKey, out var fallback) ? fallback
            : MappingProfile.Empty));

    public void Dispose() => _subscription?.Dispose();
}
