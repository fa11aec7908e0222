using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Twin;

/// <summary>
/// Settings bound from one configuration section. The convention for every options class: a
/// <c>public const string Section</c> (returned here), DataAnnotations on its properties, rules
/// between properties in <see cref="IValidatableObject"/>, and a source-generated
/// <c>[OptionsValidator]</c> registered with <see cref="TwinOptions.AddTwinOptions{TOptions, TValidator}"/>.
/// </summary>
public interface ITwinOptions
{
    /// <summary>The configuration section the options are bound from, e.g. <c>Twin:Live</c>.</summary>
    static abstract string Section { get; }
}

/// <summary>
/// <see cref="RangeAttribute"/> whose failure reads "<c>{key} must be from {min} to {max}; it is {value}.</c>"
/// (the generator's own copy of <c>[Range]</c> ignores <c>ErrorMessage</c>). Limits of
/// <see cref="TimeSpan"/> are written as configuration writes them (<c>00:00:01</c>).
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field | AttributeTargets.Parameter)]
public sealed class SettingRangeAttribute : RangeAttribute
{
    private readonly string _shown;

    public SettingRangeAttribute(int minimum, int maximum)
        : base(minimum, maximum) =>
        _shown = string.Create(CultureInfo.InvariantCulture, $"from {minimum} to {maximum}");

    public SettingRangeAttribute(double minimum, double maximum)
        : base(minimum, maximum) =>
        _shown = string.Create(CultureInfo.InvariantCulture, $"from {minimum} to {maximum}");

    public SettingRangeAttribute(Type type, string minimum, string maximum)
        : base(type, minimum, maximum)
    {
        ParseLimitsInInvariantCulture = true;
        ConvertValueInInvariantCulture = true;
        _shown = $"from {minimum} to {maximum}";
    }

    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext) =>
        IsValid(value)
            ? ValidationResult.Success
            : new ValidationResult(
                string.Create(CultureInfo.InvariantCulture, $"{validationContext.DisplayName} must be {_shown}; it is {value}."),
                validationContext.MemberName is { } member ? [member] : null);
}

/// <summary>
/// Runs the source-generated validator <typeparamref name="TValidator"/> and reports each failure
/// by the setting's configuration key (<c>Twin:Broker:Devices:0:Password</c>), which operators
/// look for, instead of the generator's member path (<c>BrokerOptions.Devices[0].Password</c>).
/// </summary>
public sealed class SettingKeyValidator<TOptions, TValidator> : IValidateOptions<TOptions>
    where TOptions : class, ITwinOptions
    where TValidator : IValidateOptions<TOptions>, new()
{
    // Given the section as the options name, the generator writes "{section}.{member}[{i}].{member}".
    private static readonly Regex MemberPath = new(Regex.Escape(TOptions.Section) + @"(?:\.\w+|\[\d+\])+", RegexOptions.CultureInvariant);

    // The generator puts the member's name in front of an attribute's message ("Port: ...").
    private static readonly Regex MemberPrefix = new(@"^\w+(?:, \w+)*: ", RegexOptions.CultureInvariant);

    private readonly TValidator _generated = new();

    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        var result = _generated.Validate(TOptions.Section, options);
        return result.Failed ? ValidateOptionsResult.Fail(result.Failures.Select(Keyed)) : result;
    }

    private static string Keyed(string failure)
    {
        var keyed = MemberPath.Replace(failure, m => m.Value.Replace('.', ':').Replace('[', ':').Replace("]", "", StringComparison.Ordinal));
        var prefix = MemberPrefix.Match(keyed);
        return prefix.Success && keyed.IndexOf(TOptions.Section, prefix.Length, StringComparison.Ordinal) >= 0 ? keyed[prefix.Length..] : keyed;
    }
}

/// <summary>Binds and validates <see cref="ITwinOptions"/> the one way, at start and before it.</summary>
public static class TwinOptions
{
    /// <summary>
    /// Binds <typeparamref name="TOptions"/> to its section, validates it with
    /// <typeparamref name="TValidator"/> (its <c>[OptionsValidator]</c>) when the host starts, and
    /// refuses a mode (enum) that does not exist, naming the key and the modes that do.
    /// </summary>
    public static OptionsBuilder<TOptions> AddTwinOptions<TOptions, TValidator>(this IServiceCollection services)
        where TOptions : class, ITwinOptions, new()
        where TValidator : class, IValidateOptions<TOptions>, new()
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>, SettingKeyValidator<TOptions, TValidator>>());
        return services.AddOptions<TOptions>()
            .Configure<IConfiguration>((_, configuration) => RefuseUnknownModes<TOptions>(configuration))
            .BindConfiguration(TOptions.Section)
            .ValidateOnStart();
    }

    /// <summary>
    /// Reads and validates <typeparamref name="TOptions"/> for composing the host (before it
    /// starts): a bad value fails here with the same message as at start.
    /// <paramref name="complete"/> sets what the section's rules need from elsewhere.
    /// </summary>
    public static TOptions GetTwinOptions<TOptions, TValidator>(this IConfiguration configuration, Action<TOptions>? complete = null)
        where TOptions : class, ITwinOptions, new()
        where TValidator : class, IValidateOptions<TOptions>, new()
    {
        RefuseUnknownModes<TOptions>(configuration);
        var options = new TOptions();
        configuration.GetSection(TOptions.Section).Bind(options);
        complete?.Invoke(options);
        var result = new SettingKeyValidator<TOptions, TValidator>().Validate(Options.DefaultName, options);
        return result.Failed ? throw new OptionsValidationException(Options.DefaultName, typeof(TOptions), result.Failures) : options;
    }

    /// <summary>
    /// The binder's own error for an unknown enum text names neither the modes there are nor,
    /// for a number, anything at all: checked before binding.
    /// </summary>
    private static void RefuseUnknownModes<TOptions>(IConfiguration configuration)
        where TOptions : ITwinOptions
    {
        var section = configuration.GetSection(TOptions.Section);
        var failures = new List<string>();
        foreach (var property in typeof(TOptions).GetProperties())
        {
            var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (!type.IsEnum || !property.CanWrite || section[property.Name] is not { Length: > 0 } text)
            {
                continue;
            }

            if (!Enum.TryParse(type, text, ignoreCase: true, out var mode) || !Enum.IsDefined(type, mode))
            {
                var names = Enum.GetNames(type).Select(n => $"'{n}'").ToList();
                var allowed = names.Count == 1 ? names[0] : $"{string.Join(", ", names[..^1])} or {names[^1]}";
                failures.Add($"{section.Path}:{property.Name} is '{text}'; use {allowed}.");
            }
        }

        if (failures.Count > 0)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(TOptions), failures);
        }
    }
}
