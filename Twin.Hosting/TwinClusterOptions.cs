using System.ComponentModel.DataAnnotations;
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
public sealed class TwinStorageOptions : ITwinOptions, IValidatableObject
{
    public const string Section = "Twin:Storage";

    static string ITwinOptions.Section => Section;

    /// <summary>
    /// <c>Sqlite</c> (default: a file that survives restarts), <c>PostgreSql</c> (cluster mode: state
    /// and reminders shared by every silo) or <c>Memory</c> (lost on stop; tests, demos).
    /// </summary>
    [EnumDataType(typeof(StorageProvider))]
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
    [Required(ErrorMessage = "{0} must name a file.")]
    public string SqlitePath { get; set; } = "data/twin.db";

    /// <summary>
    /// SQLite <c>synchronous=FULL</c> (default): a committed write survives power loss, not only a
    /// process crash. <c>false</c> uses NORMAL: faster, may lose the last commits on power loss.
    /// </summary>
    public bool FullSync { get; set; } = true;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!IsPostgreSql)
        {
            yield break;
        }

        if (string.IsNullOrWhiteSpace(ConnectionString))
        {
            yield return new ValidationResult($"{Section}:ConnectionString is required when {Section}:Provider is 'PostgreSql' (e.g. 'Host=db;Database=twin;Username=twin;Password=...').");
        }
        else if (ConnectionStringError(ConnectionString) is { } error)
        {
            yield return new ValidationResult($"{Section}:ConnectionString is not a valid PostgreSQL connection string: {error}");
        }
    }

    private static string? ConnectionStringError(string connectionString)
    {
        try
        {
            _ = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
            return null;
        }
        catch (ArgumentException ex)
        {
            return ex.Message;
        }
    }
}

[OptionsValidator]
public sealed partial class TwinStorageOptionsValidator : IValidateOptions<TwinStorageOptions>;

/// <summary>How the silo joins its cluster (<c>Twin:Cluster</c>).</summary>
public sealed class TwinClusterOptions : ITwinOptions, IValidatableObject
{
    public const string Section = "Twin:Cluster";

    static string ITwinOptions.Section => Section;

    /// <summary>The cluster's id; silos and clients of one factory share it.</summary>
    [Required(ErrorMessage = "{0} must not be empty.")]
    public string ClusterId { get; set; } = "factory-twin";

    /// <summary>The service's id; it keys stored state, so keep it stable across deployments.</summary>
    [Required(ErrorMessage = "{0} must not be empty.")]
    public string ServiceId { get; set; } = "factory-twin";

    /// <summary>Silo-to-silo port.</summary>
    [SettingRange(1, 65535)]
    public int SiloPort { get; set; } = 11111;

    /// <summary>Port Orleans clients (gateways in client mode, SDK users) connect to.</summary>
    [SettingRange(1, 65535)]
    public int GatewayPort { get; set; } = 30000;

    /// <summary>
    /// How silos find each other: <c>Localhost</c> (default: one silo on this machine) or
    /// <c>PostgreSql</c> (the membership table in <c>Twin:Storage:ConnectionString</c>; any number of silos).
    /// </summary>
    [EnumDataType(typeof(MembershipProvider))]
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
    [SettingRange(typeof(TimeSpan), "00:00:00.001", "1.00:00:00")]
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Missed probes after which a silo suspects another one; with two suspicions it is declared dead.</summary>
    [SettingRange(1, 1000)]
    public int MissedProbesLimit { get; set; } = 3;

    public bool IsPostgreSql => Membership == MembershipProvider.PostgreSql;

    /// <summary>
    /// The silo's <c>Twin:Storage:Provider</c>, which PostgreSql membership needs (set by the silo's
    /// composition, not bound from this section); unset in a client, where the rule does not apply.
    /// </summary>
    internal StorageProvider? SiloStorage { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (IsPostgreSql && SiloStorage is { } storage && storage != StorageProvider.PostgreSql)
        {
            yield return new ValidationResult($"{Section}:Membership 'PostgreSql' needs {TwinStorageOptions.Section}:Provider 'PostgreSql' (silos of one cluster must share their state); it is '{storage}'.");
        }

        if (AdvertisedAddress is { Length: > 0 } address && !System.Net.IPAddress.TryParse(address, out _))
        {
            yield return new ValidationResult($"{Section}:AdvertisedAddress '{address}' is not an IP address.");
        }

        if (SiloPort == GatewayPort)
        {
            yield return new ValidationResult($"{Section}:SiloPort and {Section}:GatewayPort must differ.");
        }
    }
}

[OptionsValidator]
public sealed partial class TwinClusterOptionsValidator : IValidateOptions<TwinClusterOptions>;
