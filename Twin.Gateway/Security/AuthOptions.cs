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
public sealed class AuthOptions
{
    public const string Section = "Twin:Auth";

    /// <summary>
    /// <c>None</c> (default): no tokens — allowed only while every HTTP address is loopback.
    /// <c>Jwt</c>: bearer tokens, from an identity provider (<see cref="Authority"/>) or signed with <see cref="SigningKey"/>.
    /// </summary>
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
    public int RequestsPerMinute { get; set; } = 1200;

    public bool IsJwt => Mode == AuthMode.Jwt;
}

internal sealed class AuthOptionsValidator : IValidateOptions<AuthOptions>
{
    public ValidateOptionsResult Validate(string? name, AuthOptions options)
    {
        var errors = new List<string>();
        if (!Enum.IsDefined(options.Mode))
        {
            errors.Add($"Twin:Auth:Mode is '{options.Mode}'; use 'None' or 'Jwt'.");
        }

        if (options.IsJwt && string.IsNullOrWhiteSpace(options.Authority) && (options.SigningKey is null || options.SigningKey.Length < 32))
        {
            errors.Add("Twin:Auth:Mode 'Jwt' needs Twin:Auth:Authority (an identity provider) or Twin:Auth:SigningKey (at least 32 characters).");
        }

        if (options.IsJwt && !string.IsNullOrWhiteSpace(options.Authority) && string.IsNullOrWhiteSpace(options.Audience))
        {
            // Without it, a token the identity provider minted for any other client would be accepted.
            errors.Add("Twin:Auth:Audience is required with Twin:Auth:Authority: set it to the audience your identity provider puts in this API's tokens (e.g. factory-twin).");
        }

        if (options.RequestsPerMinute < 1)
        {
            errors.Add("Twin:Auth:RequestsPerMinute must be positive.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
