using Microsoft.Extensions.Options;

namespace Twin.Silo;

/// <summary>Where twin state is kept (<c>Twin:Storage</c>).</summary>
public sealed class TwinStorageOptions
{
    public const string Section = "Twin:Storage";

    /// <summary><c>Sqlite</c> (default: a file that survives restarts) or <c>Memory</c> (lost on stop; tests, demos).</summary>
    public string Provider { get; set; } = "Sqlite";

    /// <summary>The SQLite file; relative paths are under the content root.</summary>
    public string SqlitePath { get; set; } = "data/twin.db";

    /// <summary>
    /// SQLite <c>synchronous=FULL</c> (default): a committed write survives power loss, not only a
    /// process crash. <c>false</c> uses NORMAL: faster, may lose the last commits on power loss.
    /// </summary>
    public bool FullSync { get; set; } = true;
}

/// <summary>How the silo joins its cluster (<c>Twin:Cluster</c>).</summary>
public sealed class TwinClusterOptions
{
    public const string Section = "Twin:Cluster";

    /// <summary>The cluster's id; silos and clients of one factory share it.</summary>
    public string ClusterId { get; set; } = "factory-twin";

    /// <summary>The service's id; it keys stored state, so keep it stable across deployments.</summary>
    public string ServiceId { get; set; } = "factory-twin";

    /// <summary>Silo-to-silo port.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary>Port Orleans clients (gateways in client mode, SDK users) connect to.</summary>
    public int GatewayPort { get; set; } = 30000;
}

internal sealed class TwinStorageOptionsValidator : IValidateOptions<TwinStorageOptions>
{
    public ValidateOptionsResult Validate(string? name, TwinStorageOptions options)
    {
        var errors = new List<string>();
        if (!string.Equals(options.Provider, "Sqlite", StringComparison.OrdinalIgnoreCase)
            && !string.Equals(options.Provider, "Memory", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"Twin:Storage:Provider is '{options.Provider}'; use 'Sqlite' or 'Memory'.");
        }

        if (string.IsNullOrWhiteSpace(options.SqlitePath))
        {
            errors.Add("Twin:Storage:SqlitePath must name a file.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

internal sealed class TwinClusterOptionsValidator : IValidateOptions<TwinClusterOptions>
{
    public ValidateOptionsResult Validate(string? name, TwinClusterOptions options)
    {
        var errors = new List<string>();
        if (options.SiloPort is < 1 or > 65535)
        {
            errors.Add($"Twin:Cluster:SiloPort is {options.SiloPort}; use a port from 1 to 65535.");
        }

        if (options.GatewayPort is < 1 or > 65535)
        {
            errors.Add($"Twin:Cluster:GatewayPort is {options.GatewayPort}; use a port from 1 to 65535.");
        }

        if (options.SiloPort == options.GatewayPort)
        {
            errors.Add("Twin:Cluster:SiloPort and Twin:Cluster:GatewayPort must differ.");
        }

        if (string.IsNullOrWhiteSpace(options.ClusterId) || string.IsNullOrWhiteSpace(options.ServiceId))
        {
            errors.Add("Twin:Cluster:ClusterId and Twin:Cluster:ServiceId must not be empty.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
