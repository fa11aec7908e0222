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
public sealed class GatewayOptions
{
    public const string Section = "Twin:Gateway";

    /// <summary>
    /// <c>Embedded</c> (default): co-host a silo in this process. <c>Client</c>: connect to silos
    /// started separately (<c>Twin.Silo</c>) through the Orleans gateway port.
    /// </summary>
    public GatewayMode Mode { get; set; } = GatewayMode.Embedded;

    public bool IsEmbedded => Mode == GatewayMode.Embedded;
}

/// <summary>The MQTT broker built into the gateway (<c>Twin:Broker</c>).</summary>
public sealed class BrokerOptions
{
    public const string Section = "Twin:Broker";

    /// <summary>Run the embedded broker (default on). Turn off when devices publish to an external broker.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Address the embedded broker listens on.</summary>
    public string Host { get; set; } = "127.0.0.1";

    public int Port { get; set; } = 1883;

    /// <summary>Messages the broker queues for a slow or disconnected persistent session before it drops the oldest.</summary>
    public int MaxPendingMessagesPerClient { get; set; } = 250_000;

    /// <summary>
    /// Devices allowed to connect (username/password) and what each may publish: only under its own
    /// machines' topics. When empty, anonymous clients are accepted — only while the broker listens
    /// on loopback.
    /// </summary>
    public List<DeviceCredential> Devices { get; set; } = [];

    /// <summary>The account the gateway itself (and outbound event publishing) uses; full access. A random password is generated when unset.</summary>
    public string ServiceUsername { get; set; } = "twin-gateway";

    public string? ServicePassword { get; set; }
}

/// <summary>One device account of the embedded broker.</summary>
public sealed class DeviceCredential
{
    public string Username { get; set; } = "";

    public string Password { get; set; } = "";

    /// <summary>The factory the device belongs to.</summary>
    public string Factory { get; set; } = "";

    /// <summary>The machines it may publish for (<c>*</c>: every machine of its factory).</summary>
    public List<string> Machines { get; set; } = [];

    /// <summary>
    /// Sparkplug B edge node ids the account may publish as (<c>*</c>: any), in the groups of its
    /// factory; its devices are its <see cref="Machines"/>. Empty (default): no Sparkplug.
    /// </summary>
    public List<string> EdgeNodes { get; set; } = [];
}

/// <summary>The gateway's MQTT consumer (<c>Twin:Mqtt</c>).</summary>
public sealed class MqttOptions
{
    public const string Section = "Twin:Mqtt";

    /// <summary>Consume the contract topics (default on).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Broker host; defaults to the embedded broker.</summary>
    public string Host { get; set; } = "127.0.0.1";

    public int Port { get; set; } = 1883;

    /// <summary>Client id of the persistent session; unique per gateway instance. Default: twin-gateway-{host name}.</summary>
    public string? ClientId { get; set; }

    public string? Username { get; set; }

    public string? Password { get; set; }

    /// <summary>When set, subscribe as <c>$share/{group}/…</c> so several gateways split the load (external brokers).</summary>
    public string? SharedGroup { get; set; }

    /// <summary>How long the broker keeps the session (and queues QoS 1 messages) while the gateway is away.</summary>
    public TimeSpan SessionExpiry { get; set; } = TimeSpan.FromHours(1);

    /// <summary>QoS 1 messages the broker may have in flight to the gateway (MQTT receive maximum): the backpressure window.</summary>
    public int MaxInFlight { get; set; } = 2000;

    // Payload limits and concurrency are the ingest pipeline's, the same for every source: Twin:Ingest.

    public string EffectiveClientId => string.IsNullOrWhiteSpace(ClientId) ? $"twin-gateway-{Environment.MachineName}" : ClientId;
}

/// <summary>The built-in demo factory (<c>Twin:Simulator</c>).</summary>
public sealed class SimulatorOptions
{
    public const string Section = "Twin:Simulator";

    /// <summary>Publish a demo factory's data over MQTT (default on in embedded mode).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The demo factory's id.</summary>
    public string Factory { get; set; } = "demo";

    /// <summary>Time between telemetry messages of each machine.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Broker the simulator publishes to; defaults to the consumer's.</summary>
    public string? Host { get; set; }

    public int? Port { get; set; }

    public string? Username { get; set; }

    public string? Password { get; set; }
}

/// <summary>Limits of the HTTP ingestion endpoints (<c>Twin:Http</c>).</summary>
public sealed class HttpLimitsOptions
{
    public const string Section = "Twin:Http";

    /// <summary>Largest body of a telemetry POST (one payload or a batch), in bytes; larger answers 413.</summary>
    public int MaxTelemetryBodyBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Most payloads in one telemetry POST; more answers 413.</summary>
    public int MaxPayloadsPerRequest { get; set; } = 10_000;

    /// <summary>Largest body of a business event, in bytes; larger answers 413.</summary>
    public int MaxEventBodyBytes { get; set; } = 1024 * 1024;
}

internal sealed class GatewayOptionsValidator :
    IValidateOptions<GatewayOptions>, IValidateOptions<BrokerOptions>, IValidateOptions<MqttOptions>, IValidateOptions<SimulatorOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayOptions options) =>
        Enum.IsDefined(options.Mode)
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail($"Twin:Gateway:Mode is '{options.Mode}'; use 'Embedded' or 'Client'.");

    public ValidateOptionsResult Validate(string? name, BrokerOptions options)
    {
        var errors = new List<string>();
        if (options.Port is < 1 or > 65535)
        {
            errors.Add($"Twin:Broker:Port is {options.Port}; use a port from 1 to 65535.");
        }

        if (!System.Net.IPAddress.TryParse(options.Host, out _))
        {
            errors.Add($"Twin:Broker:Host is '{options.Host}'; use an IP address such as 127.0.0.1.");
        }

        if (options.MaxPendingMessagesPerClient < 1)
        {
            errors.Add("Twin:Broker:MaxPendingMessagesPerClient must be positive.");
        }

        if (options.Enabled && options.Devices.Count == 0 && System.Net.IPAddress.TryParse(options.Host, out var host) && !System.Net.IPAddress.IsLoopback(host))
        {
            errors.Add($"Twin:Broker:Host is {options.Host}, not a loopback address, and Twin:Broker:Devices is empty: anyone could publish. Configure device accounts (docs/SECURITY.md) or listen on 127.0.0.1.");
        }

        for (var i = 0; i < options.Devices.Count; i++)
        {
            var device = options.Devices[i];
            if (string.IsNullOrWhiteSpace(device.Username) || device.Password.Length < 8 || string.IsNullOrWhiteSpace(device.Factory) || device.Machines.Count == 0)
            {
                errors.Add($"Twin:Broker:Devices:{i} needs Username, a Password of at least 8 characters, Factory and Machines (or [\"*\"]).");
            }

            for (var n = 0; n < device.EdgeNodes.Count; n++)
            {
                if (device.EdgeNodes[n] != "*" && !Twin.Ingestion.Sparkplug.SparkplugTopic.IsValidId(device.EdgeNodes[n]))
                {
                    errors.Add($"Twin:Broker:Devices:{i}:EdgeNodes:{n} '{device.EdgeNodes[n]}' must be '*' or an edge node id without '/', '+' or '#'.");
                }
            }

            if (string.Equals(device.Username, options.ServiceUsername, StringComparison.Ordinal))
            {
                errors.Add($"Twin:Broker:Devices:{i}:Username is '{device.Username}', the gateway's own account (Twin:Broker:ServiceUsername); give the device another name.");
            }
            else if (options.Devices.FindIndex(d => string.Equals(d.Username, device.Username, StringComparison.Ordinal)) is var first and >= 0 && first < i)
            {
                errors.Add($"Twin:Broker:Devices:{i}:Username '{device.Username}' is already the username of Twin:Broker:Devices:{first}; each device needs its own account.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    public ValidateOptionsResult Validate(string? name, MqttOptions options)
    {
        var errors = new List<string>();
        if (options.Port is < 1 or > 65535)
        {
            errors.Add($"Twin:Mqtt:Port is {options.Port}; use a port from 1 to 65535.");
        }

        if (string.IsNullOrWhiteSpace(options.Host))
        {
            errors.Add("Twin:Mqtt:Host must name the broker.");
        }

        if (options.MaxInFlight is < 1 or > 65535)
        {
            errors.Add($"Twin:Mqtt:MaxInFlight is {options.MaxInFlight}; use 1 to 65535.");
        }

        if (options.SessionExpiry < TimeSpan.FromSeconds(1))
        {
            errors.Add("Twin:Mqtt:SessionExpiry must be at least one second: the session must outlive a restart.");
        }

        if (options.SharedGroup is { } group && (group.Length == 0 || group.Contains('/', StringComparison.Ordinal) || group.Contains('+', StringComparison.Ordinal) || group.Contains('#', StringComparison.Ordinal)))
        {
            errors.Add($"Twin:Mqtt:SharedGroup '{group}' must be a plain name without '/', '+' or '#'.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    public ValidateOptionsResult Validate(string? name, SimulatorOptions options)
    {
        var errors = new List<string>();
        if (!TwinKey.IsValidId(options.Factory, out var error))
        {
            errors.Add($"Twin:Simulator:Factory: {error}.");
        }

        if (options.Interval < TimeSpan.FromMilliseconds(10))
        {
            errors.Add("Twin:Simulator:Interval must be at least 10 ms.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
