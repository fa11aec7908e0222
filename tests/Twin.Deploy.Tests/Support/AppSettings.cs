using System.Text.Json;
using System.Text.Json.Nodes;

namespace Twin.Deploy.Tests.Support;

/// <summary>
/// What an application process reads from its configuration: the project's appsettings.json,
/// overridden by the container's environment (<c>Twin__Cluster__SiloPort</c> for <c>Twin:Cluster:SiloPort</c>).
/// </summary>
internal static class AppSettings
{
    private static readonly JsonNodeOptions CaseInsensitive = new() { PropertyNameCaseInsensitive = true };
    private static readonly JsonDocumentOptions Lenient = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>A key (<c>Twin:Cluster:SiloPort</c>) of <c>{project}/appsettings.json</c>, or null.</summary>
    public static string? File(string project, string key)
    {
        var node = JsonNode.Parse(Repository.ReadText($"{project}/appsettings.json"), CaseInsensitive, Lenient);
        foreach (var part in key.Split(':'))
        {
            node = node is JsonObject o ? o[part] : null;
        }

        return node switch
        {
            null => null,
            JsonValue v => v.ToString(),
            _ => throw new InvalidOperationException($"{project}/appsettings.json: {key} is a section, not a value."),
        };
    }

    /// <summary>The value the process in this container sees for a key: its environment wins over appsettings.json.</summary>
    public static string? Effective(Container container, string project, string key)
    {
        var variable = key.Replace(":", "__", StringComparison.Ordinal);
        if (container.EnvEntry(variable) is { } entry)
        {
            return entry.Str("value") ?? throw new InvalidOperationException($"{container}: {variable} is not a literal value; these tests cannot resolve it.");
        }

        return File(project, key);
    }

    /// <summary>
    /// The URLs ASP.NET Core listens on in this container. An unprefixed <c>Urls</c> from the
    /// environment wins over appsettings.json, which in turn wins over <c>ASPNETCORE_URLS</c>
    /// (host settings are read before the application's files).
    /// </summary>
    public static string? ListenUrls(Container container, string project) =>
        container.EnvValue("Urls") ?? File(project, "Urls") ?? container.EnvValue("ASPNETCORE_URLS");
}
