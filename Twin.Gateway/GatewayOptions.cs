using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.Extensions.Options;

namespace Twin.Gateway;

/// <summary>How the gateway reaches the grains.</summary>
public enum GatewayMode
{
    /// <summary>Co-host a silo in this process (default).</summary>
    Embedded,

    /// <summary>Connect to silos started separately (<c>Twin.Silo</c>) through the Orleans gateway port.</summary>
    Client,
}

/// <summary>How the gateway reaches the grains (<c>Twin:Gateway</c>).</summary>
public sealed class GatewayOptions : ITwinOptions
{
    public const string Section = "Twin:Gateway";

    static string ITwinOptions.Section => Section;

    /// <summary>
    /// <c>Embedded</c> (default): co-host a silo in this process. <c>Client</c>: connect to silos
    /// started separately (<c>Twin.Silo</c>) through the Orleans gateway port.
    /// </summary>
    [EnumDataType(typeof(GatewayMode))]
    public GatewayMode Mode { get; set; } = GatewayMode.Embedded;

    public bool IsEmbedded => Mode == GatewayMode.Embedded;
}

[OptionsValidator]
public sealed partial class GatewayOptionsValidator : IValidateOptions<GatewayOptions>;

/// <summary>The MQTT broker built into the gateway (<c>Twin:Broker</c>).</summary>
public sealed class BrokerOptions : ITwinOptions, IValidatableObject
{
    public const string Section = "Twin:Broker";

    static string ITwinOptions.Section => Section;

    /// <summary>Run the embedded broker (default on). Turn off when devices publish to an external broker.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Address the embedded broker listens on (an IP address).</summary>
    public string Host { get; set; } = "127.0.0.1";

    [SettingRange(1, 65535)]
    public int Port { get; set; } = 1883;

    /// <summary>
    /// Messages the broker queues for a slow or disconnected persistent session before it drops the
    /// oldest. The gateway's own session never gets there: from 90 % of it on, devices' publishes
    /// wait for their acknowledgement until the gateway is down to 75 % (back-pressure).
    /// </summary>
    [SettingRange(1, int.MaxValue)]
    public int MaxPendingMessagesPerClient { get; set; } = 250_000;

    /// <summary>How long a device's publish may wait under back-pressure before it is refused (quota exceeded, connection closed, so the device sends it again).</summary>
    public TimeSpan MaxPublishHold { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Devices allowed to connect (username/password) and what each may publish: only under its own
    /// machines' topics. When empty, anonymous clients are accepted — only while the broker listens
    /// on loopback.
    /// </summary>
    [ValidateEnumeratedItems]
    public List<DeviceCredential> Devices { get; set; } = [];

    /// <summary>The account the gateway itself (and outbound event publishing) uses; full access. A random password is generated when unset.</summary>
    public string ServiceUsername { get; set; } = "twin-gateway";

    public string? ServicePassword { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!IPAddress.TryParse(Host, out var host))
        {
            yield return new ValidationResult($"{Section}:Host is '{Host}'; use an IP address such as 127.0.0.1.");
        }
        else if (Enabled && Devices.Count == 0 && !IPAddress.IsLoopback(host))
        {
            yield return new ValidationResult($"{Section}:Host is {Host}, not a loopback address, and {Section}:Devices is empty: anyone could publish. Configure device accounts (docs/SECURITY.md) or listen on 127.0.0.1.");
        }

        if (MaxPublishHold <= TimeSpan.Zero)
        {
            yield return new ValidationResult($"{Section}:MaxPublishHold is {MaxPublishHold}; it must be positive (e.g. 00:01:00).");
        }

        for (var i = 0; i < Devices.Count; i++)
        {
            var device = Devices[i];
            for (var n = 0; n < device.EdgeNodes.Count; n++)
            {
                if (device.EdgeNodes[n] != "*" && !Twin.Ingestion.Sparkplug.SparkplugTopic.IsValidId(device.EdgeNodes[n]))
                {
                    yield return new ValidationResult($"{Section}:Devices:{i}:EdgeNodes:{n} '{device.EdgeNodes[n]}' must be '*' or an edge node id without '/', '+' or '#'.");
                }
            }

            if (string.Equals(device.Username, ServiceUsername, StringComparison.Ordinal))
            {
                yield return new ValidationResult($"{Section}:Devices:{i}:Username is '{device.Username}', the gateway's own account ({Section}:ServiceUsername); give the device another name.");
            }
            else if (Devices.FindIndex(d => string.Equals(d.Username, device.Username, StringComparison.Ordinal)) is var first and >= 0 && first < i)
            {
                yield return new ValidationResult($"{Section}:Devices:{i}:Username '{device.Username}' is already the username of {Section}:Devices:{first}; each device needs its own account.");
            }
        }
    }
}

[OptionsValidator]
public sealed partial class BrokerOptionsValidator : IValidateOptions<BrokerOptions>;

/// <summary>One device account of the embedded broker.</summary>
public sealed class DeviceCredential
{
    [Required(ErrorMessage = "{0} is required: each device has its own account.")]
    public string Username { get; set; } = "";

    [MinLength(8, ErrorMessage = "{0} must be at least 8 characters.")]
    public string Password { get; set; } = "";

    /// <summary>The factory the device belongs to.</summary>
    [Required(ErrorMessage = "{0} must name the device's factory.")]
    public string Factory { get; set; } = "";

    /// <summary>The machines it may publish for (<c>*</c>: every machine of its factory).</summary>
    [MinLength(1, ErrorMessage = "{0} must list the device's machines (or [\"*\"] for all of its factory).")]
    public List<string> Machines { get; set; } = [];

    /// <summary>
    /// Sparkplug B edge node ids the account may publish as (<c>*</c>: any), in the groups of its
    /// factory; its devices are its <see cref="Machines"/>. Empty (default): no Sparkplug.
    /// </summary>
    public List<string> EdgeNodes { get; set; } = [];
}

/// <summary>The gateway's MQTT consumer (<c>Twin:Mqtt</c>).</summary>
public sealed class MqttOptions : ITwinOptions, IValidatableObject
{
    public const string Section = "Twin:Mqtt";

    static string ITwinOptions.Section => Section;

    /// <summary>Consume the contract topics (default on).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Broker host; defaults to the embedded broker.</summary>
    [Required(ErrorMessage = "{0} must name the broker.")]
    public string Host { get; set; } = "127.0.0.1";

    [SettingRange(1, 65535)]
    public int Port { get; set; } = 1883;

    /// <summary>Client id of the persistent session; unique per gateway instance. Default: twin-gateway-{host name}.</summary>
    public string? ClientId { get; set; }

    public string? Username { get; set; }

    public string? Password { get; set; }

    /// <summary>When set, subscribe as <c>$share/{group}/…</c> so several gateways split the load (external brokers).</summary>
    public string? SharedGroup { get; set; }

    /// <summary>How long the broker keeps the session (and queues QoS 1 messages) while the gateway is away; it must outlive a restart.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:01", "365.00:00:00")]
    public TimeSpan SessionExpiry { get; set; } = TimeSpan.FromHours(1);

    /// <summary>QoS 1 messages the broker may have in flight to the gateway (MQTT receive maximum): the backpressure window.</summary>
    [SettingRange(1, 65535)]
    public int MaxInFlight { get; set; } = 2000;

    // Payload limits and concurrency are the ingest pipeline's, the same for every source: Twin:Ingest.

    public string EffectiveClientId => string.IsNullOrWhiteSpace(ClientId) ? $"twin-gateway-{Environment.MachineName}" : ClientId;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (SharedGroup is { } group && (group.Length == 0 || group.Contains('/', StringComparison.Ordinal) || group.Contains('+', StringComparison.Ordinal) || group.Contains('#', StringComparison.Ordinal)))
        {
            yield return new ValidationResult($"{Section}:SharedGroup '{group}' must be a plain name without '/', '+' or '#'.");
        }
    }
}

[OptionsValidator]
public sealed partial class MqttOptionsValidator : IValidateOptions<MqttOptions>;

/// <summary>The built-in demo factory (<c>Twin:Simulator</c>).</summary>
public sealed class SimulatorOptions : ITwinOptions, IValidatableObject
{
    public const string Section = "Twin:Simulator";

    static string ITwinOptions.Section => Section;

    /// <summary>Publish a demo factory's data over MQTT (default on in embedded mode).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The demo factory's id.</summary>
    public string Factory { get; set; } = "demo";

    /// <summary>Time between telemetry messages of each machine.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Broker the simulator publishes to; defaults to the consumer's.</summary>
    public string? Host { get; set; }

    [SettingRange(1, 65535)]
    public int? Port { get; set; }

    public string? Username { get; set; }

    public string? Password { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!TwinKey.IsValidId(Factory, out var error))
        {
            yield return new ValidationResult($"{Section}:Factory: {error}.");
        }
    }
}

[OptionsValidator]
public sealed partial class SimulatorOptionsValidator : IValidateOptions<SimulatorOptions>;

/// <summary>Limits of the HTTP ingestion endpoints (<c>Twin:Http</c>).</summary>
public sealed class HttpLimitsOptions : ITwinOptions
{
    public const string Section = "Twin:Http";

    static string ITwinOptions.Section => Section;

    /// <summary>Largest body of a telemetry POST (one payload or a batch), in bytes; larger answers 413.</summary>
    [SettingRange(1024, int.MaxValue)]
    public int MaxTelemetryBodyBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Most payloads in one telemetry POST; more answers 413.</summary>
    [SettingRange(1, int.MaxValue)]
    public int MaxPayloadsPerRequest { get; set; } = 10_000;

    /// <summary>Largest body of a business event, in bytes; larger answers 413.</summary>
    [SettingRange(1024, int.MaxValue)]
    public int MaxEventBodyBytes { get; set; } = 1024 * 1024;
}

[OptionsValidator]
public sealed partial class HttpLimitsOptionsValidator : IValidateOptions<HttpLimitsOptions>;
