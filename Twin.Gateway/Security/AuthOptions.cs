using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Twin.Gateway.Security;

/// <summary>How callers of the HTTP API and the hub prove who they are.</summary>
public enum AuthMode
{
    /// <summary>No tokens: allowed only while every HTTP address is loopback (default).</summary>
    None,

    /// <summary>Bearer tokens (JWT).</summary>
    Jwt,
}

/// <summary>Who may call the HTTP API and the hub (<c>Twin:Auth</c>).</summary>
public sealed class AuthOptions : ITwinOptions, IValidatableObject
{
    public const string Section = "Twin:Auth";

    static string ITwinOptions.Section => Section;

    /// <summary>
    /// <c>None</c> (default): no tokens — allowed only while every HTTP address is loopback.
    /// <c>Jwt</c>: bearer tokens, from an identity provider (<see cref="Authority"/>) or signed with <see cref="SigningKey"/>.
    /// </summary>
    [EnumDataType(typeof(AuthMode))]
    public AuthMode Mode { get; set; } = AuthMode.None;

    /// <summary>OpenID Connect authority whose signing keys validate tokens (e.g. https://login.example.com/realms/plant).</summary>
    public string? Authority { get; set; }

    /// <summary>Expected <c>iss</c>; checked when set.</summary>
    public string? Issuer { get; set; }

    /// <summary>Expected <c>aud</c>; checked when set, and required with <see cref="Authority"/>.</summary>
    public string? Audience { get; set; }

    /// <summary>Symmetric HMAC-SHA256 key (at least 32 characters) for small installs without an identity provider. Keep it in a secret.</summary>
    public string? SigningKey { get; set; }

    /// <summary>Requests per minute per caller (user, or client address without one) on the HTTP API.</summary>
    [SettingRange(1, int.MaxValue)]
    public int RequestsPerMinute { get; set; } = 1200;

    public bool IsJwt => Mode == AuthMode.Jwt;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (IsJwt && string.IsNullOrWhiteSpace(Authority) && (SigningKey is null || SigningKey.Length < 32))
        {
            yield return new ValidationResult($"{Section}:Mode 'Jwt' needs {Section}:Authority (an identity provider) or {Section}:SigningKey (at least 32 characters).");
        }

        if (IsJwt && !string.IsNullOrWhiteSpace(Authority) && string.IsNullOrWhiteSpace(Audience))
        {
            // Without it, a token the identity provider minted for any other client would be accepted.
            yield return new ValidationResult($"{Section}:Audience is required with {Section}:Authority: set it to the audience your identity provider puts in this API's tokens (e.g. factory-twin).");
        }
    }
}

[OptionsValidator]
public sealed partial class AuthOptionsValidator : IValidateOptions<AuthOptions>;
