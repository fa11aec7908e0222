using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using Twin.Governance;

namespace Twin.Ingestion;

/// <summary>The mapping profiles of all factories (<c>Twin:Profiles</c>), keyed by factory id; <c>default</c> applies to the rest.</summary>
public sealed class ProfilesOptions : Dictionary<string, MappingProfile>, ITwinOptions, IValidatableObject
{
    public const string Section = "Twin:Profiles";

    public const string DefaultKey = "default";

    public ProfilesOptions()
        : base(StringComparer.Ordinal)
    {
    }

    static string ITwinOptions.Section => Section;

    /// <summary>Each profile checks itself, naming its keys under <c>Twin:Profiles:{factory}</c>.</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext) =>
        this.SelectMany(p => p.Value.Validate($"{Section}:{p.Key}")).Select(error => new ValidationResult(error));
}

[OptionsValidator]
public sealed partial class ProfilesOptionsValidator : IValidateOptions<ProfilesOptions>;

/// <summary>A factory's profile as in effect, and where it came from.</summary>
public sealed record EffectiveProfile(string Origin, long Version, MappingProfile Profile, Normaliser Normaliser, DateTimeOffset FetchedAt);

/// <summary>
/// Gives each factory's normaliser: the profile set over the API if there is one, else the
/// configured one (<c>Twin:Profiles:{factory}</c>, then <c>Twin:Profiles:default</c>). Cached;
/// refreshed in the background every <see cref="RefreshInterval"/>, so a profile set through
/// another gateway applies here within that time.
/// </summary>
public sealed partial class ProfileProvider : IDisposable
{
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(10);

    private readonly ConcurrentDictionary<string, EffectiveProfile> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _refreshing = new(StringComparer.Ordinal);
    private readonly IGrainFactory _grains;
    private readonly TimeProvider _time;
    private readonly ILogger<ProfileProvider> _logger;
    private readonly IDisposable? _subscription;
    private ProfilesOptions _configured;

    public ProfileProvider(IOptionsMonitor<ProfilesOptions> options, IGrainFactory grains, TimeProvider time, ILogger<ProfileProvider> logger)
    {
        _grains = grains;
        _time = time;
        _logger = logger;
        _configured = options.CurrentValue;
        _subscription = options.OnChange(updated =>
        {
            _configured = updated;
            _cache.Clear();
        });
    }

    public async ValueTask<Normaliser> ForAsync(string factory) => (await GetAsync(factory)).Normaliser;

    public async ValueTask<EffectiveProfile> GetAsync(string factory)
    {
        if (_cache.TryGetValue(factory, out var cached))
        {
            if (_time.GetUtcNow() - cached.FetchedAt > RefreshInterval && _refreshing.TryAdd(factory, 0))
            {
                _ = RefreshAsync(factory);
            }

            return cached;
        }

        var loaded = await LoadAsync(factory);
        _cache[factory] = loaded;
        return loaded;
    }

    /// <summary>Forgets the cached profile, after a change made through this gateway.</summary>
    public void Invalidate(string factory) => _cache.TryRemove(factory, out _);

    public MappingProfile Configured(string factory) =>
        _configured.TryGetValue(factory, out var profile) ? profile
        : _configured.TryGetValue(ProfilesOptions.DefaultKey, out var fallback) ? fallback
        : MappingProfile.Empty;

    public static MappingProfile FromDefinition(MappingProfileDefinition definition)
    {
        var profile = new MappingProfile { AcceptUnknownSensors = definition.AcceptUnknownSensors };
        foreach (var (name, rule) in definition.Sensors)
        {
            profile.Sensors[name] = new SensorProfile
            {
                Aliases = rule.Aliases.IsDefault ? [] : [.. rule.Aliases],
                Unit = rule.Unit,
                RequireUnit = rule.RequireUnit,
                Min = rule.Min,
                Max = rule.Max,
            };
        }

        return profile;
    }

    public void Dispose() => _subscription?.Dispose();

    private async Task RefreshAsync(string factory)
    {
        try
        {
            _cache[factory] = await LoadAsync(factory);
        }
        finally
        {
            _refreshing.TryRemove(factory, out _);
        }
    }

    private async Task<EffectiveProfile> LoadAsync(string factory)
    {
        var now = _time.GetUtcNow();
        try
        {
            if (await _grains.GetGrain<IMappingProfileGrain>(factory).GetAsync() is { } definition)
            {
                var profile = FromDefinition(definition);
                return new EffectiveProfile("api", definition.Version, profile, new Normaliser(profile), now);
            }
        }
        catch (Exception ex)
        {
            // The cluster is unreachable: keep ingesting with the configured profile, retry on the next refresh.
            LogLoadFailed(ex, factory);
            if (_cache.TryGetValue(factory, out var previous))
            {
                return previous with { FetchedAt = now };
            }
        }

        var configured = Configured(factory);
        return new EffectiveProfile("config", 0, configured, new Normaliser(configured), now);
    }

    [LoggerMessage(EventId = TwinEvents.ProfileProviderLoadFailed, Level = LogLevel.Warning, Message = "Cannot load the mapping profile of {Factory}; using the configured one")]
    private partial void LogLoadFailed(Exception exception, string factory);
}
