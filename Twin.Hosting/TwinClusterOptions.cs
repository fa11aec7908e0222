using Microsoft.Extensions.Options;

namespace Twin.Hosting;

/// <summary>The ADO.NET invariant of PostgreSQL (Npgsql) for Orleans' clustering, storage and reminders.</summary>
public static class PostgresInvariant
{
    public const string Name = "Npgsql";
}

/// <summary>Where twin state is kept.</summary>
public enum StorageProvider
{
    /// <summary>A SQLite file that survives restarts (default).</summary>
    Sqlite,

    /// <summary>PostgreSQL: state and reminders shared by every silo (cluster mode).</summary>
    PostgreSql,

    /// <summary>In memory, lost on stop (tests, demos).</summary>
    Memory,
}

/// <summary>How silos find each other.</summary>
public enum MembershipProvider
{
    /// <summary>One silo on this machine (default).</summary>
    Localhost,

    /// <summary>The membership table in PostgreSQL; any number of silos.</summary>
    PostgreSql,
}

/// <summary>Where twin state is kept (<c>Twin:Storage</c>).</summary>
public sealed class TwinStorageOptions
{
    public const string Section = "Twin:Storage";

    /// <summary>
    /// <c>Sqlite</c> (default: a file that survives restarts), <c>PostgreSql</c> (cluster mode: state
    /// and reminders shared by every silo) or <c>Memory</c> (lost on stop; tests, demos).
    /// </summary>
    public StorageProvider Provider { get; set; } = StorageProvider.Sqlite;

    /// <summary>The Npgsql connection string when <see cref="Provider"/> is <c>PostgreSql</c>.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// Apply missing schema scripts when the silo starts (<c>PostgreSql</c> only). Off by default:
    /// run <c>Twin.Silo migrate</c> once per release instead, so no silo needs DDL rights.
    /// </summary>
    public bool MigrateOnStart { get; set; }

    public bool IsPostgreSql => Provider == StorageProvider.PostgreSql;

    public bool IsMemory => Provider == StorageProvider.Memory;

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

    /// <summary>
    /// How silos find each other: <c>Localhost</c> (default: one silo on this machine) or
    /// <c>PostgreSql</c> (the membership table in <c>Twin:Storage:ConnectionString</c>; any number of silos).
    /// </summary>
    public MembershipProvider Membership { get; set; } = MembershipProvider.Localhost;

    /// <summary>The IP address other silos and clients reach this silo at (PostgreSql membership); default: this host's first non-loopback address.</summary>
    public string? AdvertisedAddress { get; set; }

    /// <summary>
    /// Run under Orleans' Kubernetes hosting: the silo takes its name, address and namespace from
    /// the pod (<c>POD_NAME</c>, <c>POD_IP</c>, <c>POD_NAMESPACE</c>) and watches the pods of its
    /// cluster, so a deleted pod leaves the membership at once.
    /// </summary>
    public bool Kubernetes { get; set; }

    /// <summary>How long a silo waits for a probe answer before counting it missed.</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Missed probes after which a silo suspects another one; with two suspicions it is declared dead.</summary>
    public int MissedProbesLimit { get; set; } = 3;

    public bool IsPostgreSql => Membership == MembershipProvider.PostgreSql;
}

internal sealed class TwinStorageOptionsValidator : IValidateOptions<TwinStorageOptions>
{
    public ValidateOptionsResult Validate(string? name, TwinStorageOptions options)
    {
        var errors = new List<string>();
        if (!Enum.IsDefined(options.Provider))
        {
            errors.Add($"Twin:Storage:Provider is '{options.Provider}'; use 'Sqlite', 'PostgreSql' or 'Memory'.");
        }

        if (string.IsNullOrWhiteSpace(options.SqlitePath))
        {
            errors.Add("Twin:Storage:SqlitePath must name a file.");
        }

        if (options.IsPostgreSql)
        {
            if (string.IsNullOrWhiteSpace(options.ConnectionString))
            {
                errors.Add("Twin:Storage:ConnectionString is required when Twin:Storage:Provider is 'PostgreSql' (e.g. 'Host=db;Database=twin;Username=twin;Password=...').");
            }
            else
            {
                try
                {
                    _ = new Npgsql.NpgsqlConnectionStringBuilder(options.ConnectionString);
                }
                catch (ArgumentException ex)
                {
                    errors.Add($"Twin:Storage:ConnectionString is not a valid PostgreSQL connection string: {ex.Message}");
                }
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

internal sealed class TwinClusterOptionsValidator(IOptions<TwinStorageOptions> storage) : IValidateOptions<TwinClusterOptions>
{
    public ValidateOptionsResult Validate(string? name, TwinClusterOptions options)
    {
        var errors = new List<string>();
        if (!Enum.IsDefined(options.Membership))
        {
            errors.Add($"Twin:Cluster:Membership is '{options.Membership}'; use 'Localhost' or 'PostgreSql'.");
        }

        if (options.IsPostgreSql && !storage.Value.IsPostgreSql)
        {
            errors.Add($"Twin:Cluster:Membership 'PostgreSql' needs Twin:Storage:Provider 'PostgreSql' (silos of one cluster must share their state); it is '{storage.Value.Provider}'.");
        }

        if (options.AdvertisedAddress is { Length: > 0 } address && !System.Net.IPAddress.TryParse(address, out _))
        {
            errors.Add($"Twin:Cluster:AdvertisedAddress '{address}' is not an IP address.");
        }

        if (options.ProbeTimeout <= TimeSpan.Zero || options.MissedProbesLimit < 1)
        {
            errors.Add("Twin:Cluster:ProbeTimeout must be positive and Twin:Cluster:MissedProbesLimit at least 1.");
        }

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
