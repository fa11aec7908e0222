using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using MQTTnet.Protocol;
using System.Runtime.CompilerServices;
using MQTTnet.Packets;
using Microsoft.Extensions.Options;
using MQTTnet.Server;
using Twin.Gateway.Uns;
using Twin.Ingestion.Sparkplug;

namespace Twin.Gateway.Mqtt;

/// <summary>
/// The MQTT broker built into the gateway for the one-command embedded mode. It keeps
/// persistent sessions, so the gateway's consumer picks up what was queued while it reconnected.
/// </summary>
internal sealed partial class EmbeddedBroker(IOptions<BrokerOptions> options, IOptions<SparkplugOptions> sparkplug, IOptions<UnsPublishOptions> publish, IOptions<Twin.Ingestion.ProfilesOptions> profiles, BrokerServiceAccount service, ILogger<EmbeddedBroker> logger) : IHostedService, IDisposable
{
    private static readonly TimeSpan BacklogPeriod = TimeSpan.FromMilliseconds(50);

    private MqttServer? _server;
    private readonly CancellationTokenSource _stopping = new();
    private Task _sampler = Task.CompletedTask;
    private int _consumerBacklog;

    // The UNS templates of the mapping profiles, as ingestion matches them: a device account may
    // publish the topics that ingestion would route to one of its machines.
    private readonly Lazy<Twin.Ingestion.Uns.UnsRouter> _uns = new(() => new Twin.Ingestion.Uns.UnsRouter(profiles.Value, new Twin.Ingestion.PayloadLimits(), DateTimeOffset.UnixEpoch));

    // Client id → the account that opened its session. A client id belongs to that account until the
    // session ends, so another account can neither take it over nor inherit its subscriptions.
    private readonly ConcurrentDictionary<string, string> _owners = new(StringComparer.Ordinal);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        var (v4, v6) = Bindings(IPAddress.Parse(o.Host));
        var serverOptions = new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(v4)
            .WithDefaultEndpointBoundIPV6Address(v6)
            .WithDefaultEndpointPort(o.Port)
            .WithPersistentSessions(true)
            .WithMaxPendingMessagesPerClient(o.MaxPendingMessagesPerClient)
            .Build();
        _server = new MqttServerFactory().CreateMqttServer(serverOptions);
        _server.QueuedApplicationMessageOverwrittenAsync += e =>
        {
            LogQueueOverflow(e.ReceiverClientId);
            return Task.CompletedTask;
        };
        _server.ValidatingConnectionAsync += e =>
        {
            // A client may connect without an id and let the broker name it (mosquitto_pub does so):
            // MQTT 5 always, MQTT 3.1.1 with a clean session [MQTT-3.1.3-6].
            if (string.IsNullOrEmpty(e.ClientId))
            {
                var assigned = $"auto-{Guid.NewGuid():N}";
                e.AssignedClientIdentifier = assigned;
                if (e.ProtocolVersion != MQTTnet.Formatter.MqttProtocolVersion.V500 && e.CleanSession == true)
                {
                    AssignLegacyClientId(e, assigned);
                }
            }

            // Who is connecting: the gateway's own account, a configured device, or (loopback and
            // no devices configured) anyone.
            var user = e.UserName ?? "";
            var known = Matches(e.UserName, e.Password, service.Username, service.Password)
                || o.Devices.Count == 0
                || o.Devices.Any(d => Matches(e.UserName, e.Password, d.Username, d.Password));
            if (!known)
            {
                e.ReasonCode = MqttConnectReasonCode.BadUserNameOrPassword;
                LogRefused(e.UserName ?? "(none)", e.RemoteEndPoint?.ToString() ?? "");
                return Task.CompletedTask;
            }

            var clientId = SessionId(e);
            var owner = _owners.GetOrAdd(clientId, user);
            if (!string.Equals(owner, user, StringComparison.Ordinal))
            {
                e.ReasonCode = MqttConnectReasonCode.ClientIdentifierNotValid;
                LogClientIdTaken(clientId, e.UserName ?? "(none)");
            }

            return Task.CompletedTask;
        };
        _server.SessionDeletedAsync += e =>
        {
            _owners.TryRemove(e.Id, out _);
            return Task.CompletedTask;
        };
        _server.ClientConnectedAsync += e =>
        {
            // A clean start deletes the earlier session (and its owner entry) after validation: the
            // connection that now holds the id owns it.
            _owners[e.ClientId] = e.UserName ?? "";
            return Task.CompletedTask;
        };
        // Every check below reads the account of the connection itself (or of the session's owner),
        // never a table keyed by client id that a second connection could change: what a device may
        // do cannot come loose across takeover, reconnect or clean start. Unknown means refused.
        _server.InterceptingPublishAsync += e =>
        {
            if (!IsTopicName(e.ApplicationMessage.Topic))
            {
                // A topic name never has wildcards (MQTT 5, 4.7.1): a protocol error, from any account.
                e.ProcessPublish = false;
                e.Response.ReasonCode = MqttPubAckReasonCode.TopicNameInvalid;
                e.CloseConnection = true;
                LogTopicNameInvalid(e.UserName ?? "(none)", e.ApplicationMessage.Topic);
                return Task.CompletedTask;
            }

            if (!MayUse(e.UserName, e.ApplicationMessage.Topic, o, Access.Publish))
            {
                // Refused: a device publishes only under its own machines' topics.
                e.ProcessPublish = false;
                e.Response.ReasonCode = MqttPubAckReasonCode.NotAuthorized;
                LogPublishRefused(e.UserName ?? "(none)", e.ApplicationMessage.Topic);
                return Task.CompletedTask;
            }

            return Volatile.Read(ref _consumerBacklog) >= HighWater(o) && !string.Equals(e.UserName, service.Username, StringComparison.Ordinal)
                ? HoldAsync(e, o)
                : Task.CompletedTask;
        };
        _server.InterceptingSubscriptionAsync += e =>
        {
            if (!MayUse(e.UserName, e.TopicFilter.Topic, o, Access.Subscribe))
            {
                e.ProcessSubscription = false;
                e.Response.ReasonCode = MqttSubscribeReasonCode.NotAuthorized;
                LogSubscribeRefused(e.UserName ?? "(none)", e.TopicFilter.Topic);
            }

            return Task.CompletedTask;
        };
        _server.InterceptingClientEnqueueAsync += e =>
        {
            // Delivery is checked too: a session only ever receives what its owner may read.
            if (o.Devices.Count > 0 && (!_owners.TryGetValue(e.ReceiverClientId, out var owner) || !MayUse(owner, e.ApplicationMessage.Topic, o, Access.Receive)))
            {
                e.AcceptEnqueue = false;
            }

            return Task.CompletedTask;
        };
        try
        {
            await _server.StartAsync();
            _sampler = Task.Run(() => SampleBacklogAsync(_stopping.Token), CancellationToken.None);
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            throw new Twin.Hosting.TwinSettingsException(
                $"The embedded MQTT broker cannot listen on {o.Host}:{o.Port} ({ex.Message}). Set Twin:Broker:Port to a free port, or Twin:Broker:Enabled=false to use an external broker.",
                ex);
        }

        LogStarted(o.Host, o.Port);
    }

    /// <summary>Back-pressure starts when the gateway's session holds this many undelivered messages (90 % of the bound) …</summary>
    private static int HighWater(BrokerOptions o) => (int)(o.MaxPendingMessagesPerClient * 0.9);

    /// <summary>… and ends when it is down to 75 %.</summary>
    private static int LowWater(BrokerOptions o) => (int)(o.MaxPendingMessagesPerClient * 0.75);

    /// <summary>
    /// A device's publish while the gateway's own session is nearly full: its acknowledgement waits
    /// (and, the connection being read in order, so does the device's next message) until the
    /// gateway has caught up, rather than the queue dropping a message the device was told was taken.
    /// Past <see cref="BrokerOptions.MaxPublishHold"/> the publish is refused (quota exceeded) and the
    /// connection closed, so the device sends it again: never acknowledged and dropped.
    /// </summary>
    private async Task HoldAsync(InterceptingPublishEventArgs e, BrokerOptions o)
    {
        var held = System.Diagnostics.Stopwatch.StartNew();
        var logged = false;
        while (Volatile.Read(ref _consumerBacklog) > LowWater(o))
        {
            if (held.Elapsed >= o.MaxPublishHold || _stopping.IsCancellationRequested)
            {
                e.ProcessPublish = false;
                e.Response.ReasonCode = MqttPubAckReasonCode.QuotaExceeded;
                e.CloseConnection = true;
                LogPublishRefusedFull(e.ClientId, held.Elapsed.TotalSeconds);
                return;
            }

            if (!logged)
            {
                LogPublishHeld(e.ClientId, Volatile.Read(ref _consumerBacklog));
                logged = true;
            }

            try
            {
                await Task.Delay(BacklogPeriod, _stopping.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    /// <summary>How many messages wait in the fullest session of the gateway's own account, a few times a second.</summary>
    private async Task SampleBacklogAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var fullest = 0L;
                foreach (var session in await _server!.GetSessionsAsync())
                {
                    if (_owners.TryGetValue(session.Id, out var owner) && string.Equals(owner, service.Username, StringComparison.Ordinal))
                    {
                        fullest = Math.Max(fullest, session.PendingApplicationMessagesCount);
                    }
                }

                Volatile.Write(ref _consumerBacklog, (int)Math.Min(fullest, int.MaxValue));
                await Task.Delay(BacklogPeriod, stopping);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception ex)
            {
                LogBacklogFailed(ex);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), stopping);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>
    /// The IPv4 and IPv6 addresses the broker listens on for <c>Twin:Broker:Host</c>. The library
    /// listens on both families and, unless told, on every IPv6 address: loopback stays loopback in
    /// both, "any" is any in both, and a single address is listened on in its own family only.
    /// </summary>
    internal static (IPAddress V4, IPAddress V6) Bindings(IPAddress host)
    {
        if (host.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            var v4 = host.Equals(IPAddress.IPv6Any) ? IPAddress.Any : IPAddress.Loopback;
            return (v4, host);
        }

        var v6 = IPAddress.IsLoopback(host) ? IPAddress.IPv6Loopback
            : host.Equals(IPAddress.Any) ? IPAddress.IPv6Any
            : IPAddress.None;
        return (host, v6);
    }

    /// <summary>A topic a message may be published to: not empty, no wildcard (<c>+</c>, <c>#</c>), no NUL.</summary>
    internal static bool IsTopicName(string? topic) => !string.IsNullOrEmpty(topic) && topic.IndexOfAny(['+', '#', '\0']) < 0;

    private static string SessionId(ValidatingConnectionEventArgs e) => string.IsNullOrEmpty(e.AssignedClientIdentifier) ? e.ClientId : e.AssignedClientIdentifier;

    private static bool Matches(string? user, string? password, string expectedUser, string expectedPassword) =>
        user is not null && password is not null
        && string.Equals(user, expectedUser, StringComparison.Ordinal)
        && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(password), Encoding.UTF8.GetBytes(expectedPassword));

    /// <summary>What an account does with a topic.</summary>
    internal enum Access
    {
        Publish,
        Subscribe,
        Receive,
    }

    /// <summary>Whether the account <paramref name="user"/> may publish to, subscribe to or receive <paramref name="topic"/>.</summary>
    private bool MayUse(string? user, string topic, BrokerOptions o, Access access)
    {
        if (o.Devices.Count == 0 || string.Equals(user, service.Username, StringComparison.Ordinal))
        {
            return true;
        }

        var device = o.Devices.FirstOrDefault(d => string.Equals(d.Username, user, StringComparison.Ordinal));
        return device is not null && (MayPublish(device, topic) || MaySparkplug(device, topic, access, sparkplug.Value) || MayReadPublished(device, topic, access, publish.Value) || MayPublishUns(device, topic, access, _uns.Value));
    }

    /// <summary>
    /// A Unified Namespace topic (<c>Twin:Profiles:{factory}:Topics</c>) that ingestion routes to one
    /// of the device's machines in its factory: published, never subscribed to (a device reads the
    /// governed picture, <see cref="MayReadPublished"/>, not other devices' values). Topics with
    /// wildcards name no machine.
    /// </summary>
    internal static bool MayPublishUns(DeviceCredential device, string topic, Access access, Twin.Ingestion.Uns.UnsRouter uns) =>
        access == Access.Publish
        && topic.IndexOfAny(['+', '#']) < 0
        && uns.TryMatch(topic, out var match)
        && string.Equals(match.Factory, device.Factory, StringComparison.Ordinal)
        && (device.Machines.Contains("*") || device.Machines.Contains(match.Machine));

    /// <summary>
    /// The publish-back subtree of the device's factory (<c>Twin:Uns:Publish</c>): any account of the
    /// factory may subscribe to it and receive it, so plant systems can read the governed picture;
    /// only the gateway's own account publishes into it.
    /// </summary>
    internal static bool MayReadPublished(DeviceCredential device, string topic, Access access, UnsPublishOptions publish) =>
        access != Access.Publish && publish.Enabled && publish.Factories.Contains(device.Factory)
        && UnsLayout.IsWithin(topic, publish.RootOf(device.Factory).Root);

    /// <summary>A device's topics: <c>factory/{its factory}/machine/{one of its machines}/…</c>, no wildcards beyond its own machines.</summary>
    internal static bool MayPublish(DeviceCredential device, string topic)
    {
        var parts = topic.Split('/');
        return parts.Length >= 4
            && parts[0] == "factory" && parts[1] == device.Factory && parts[2] == "machine"
            && parts[3] is not ("+" or "#")
            && (device.Machines.Contains("*") || device.Machines.Contains(parts[3]));
    }

    /// <summary>
    /// An edge account's Sparkplug topics, in a group of its factory (<c>Twin:Sparkplug:Factories</c>)
    /// and as one of its <see cref="DeviceCredential.EdgeNodes"/>: it publishes births, deaths and
    /// data (devices among its machines); it subscribes to and receives the commands to its node and
    /// the host states. Commands and states it never publishes: only the gateway's account does.
    /// </summary>
    internal static bool MaySparkplug(DeviceCredential device, string topic, Access access, SparkplugOptions sparkplug)
    {
        if (device.EdgeNodes.Count == 0 || !SparkplugTopic.IsSparkplug(topic))
        {
            return false;
        }

        var parts = topic.Split('/');
        if (parts.Length == 3 && parts[1] == "STATE")
        {
            return access != Access.Publish && parts[2] != "#";
        }

        if (parts.Length is < 4 or > 5 || !SparkplugTopic.IsValidId(parts[1]) || !sparkplug.IsGroupOf(parts[1], device.Factory)
            || !SparkplugTopic.IsValidId(parts[3]) || !(device.EdgeNodes.Contains("*") || device.EdgeNodes.Contains(parts[3])))
        {
            return false;
        }

        var deviceId = parts.Length == 5 ? parts[4] : null;
        var ownDevice = deviceId is not null && SparkplugTopic.IsValidId(deviceId) && (device.Machines.Contains("*") || device.Machines.Contains(deviceId));
        return (access, parts[2]) switch
        {
            (Access.Publish, "NBIRTH" or "NDEATH" or "NDATA") => deviceId is null,
            (Access.Publish, "DBIRTH" or "DDEATH" or "DDATA") => ownDevice,
            (Access.Publish, _) => false,
            // Commands to its node and its devices. A wildcard subscription is fine: what is
            // delivered through it is checked again (Receive), so only its own devices' commands arrive.
            (_, "NCMD") => deviceId is null || (deviceId == "#" && access == Access.Subscribe),
            (_, "DCMD") => ownDevice || (deviceId is "#" or "+" && access == Access.Subscribe),
            _ => false,
        };
    }

    /// <summary>
    /// MQTTnet only assigns ids to MQTT 5 clients; for 3.1.1 the id is set on the CONNECT packet,
    /// which the event does not expose. If a later MQTTnet renames the field, such clients are
    /// refused as before (a test guards this).
    /// </summary>
    private void AssignLegacyClientId(ValidatingConnectionEventArgs e, string clientId)
    {
        try
        {
            ConnectPacket(e).ClientId = clientId;
        }
        catch (MissingFieldException)
        {
            LogCannotAssignId();
        }
    }

    [LoggerMessage(EventId = TwinEvents.EmbeddedBrokerRefused, Level = LogLevel.Warning, Message = "MQTT connection refused for user {User} from {Remote}: bad username or password")]
    private partial void LogRefused(string user, string remote);

    [LoggerMessage(EventId = TwinEvents.EmbeddedBrokerPublishRefused, Level = LogLevel.Warning, Message = "MQTT publish refused: device {User} may not publish to {Topic}")]
    private partial void LogPublishRefused(string user, string topic);

    [LoggerMessage(EventId = TwinEvents.EmbeddedBrokerTopicNameInvalid, Level = LogLevel.Warning, Message = "MQTT publish refused and connection closed: {User} published to {Topic}, a topic name with a wildcard")]
    private partial void LogTopicNameInvalid(string user, string topic);

    [LoggerMessage(EventId = TwinEvents.EmbeddedBrokerSubscribeRefused, Level = LogLevel.Warning, Message = "MQTT subscription refused: device {User} may not subscribe to {Topic}")]
    private partial void LogSubscribeRefused(string user, string topic);

    [LoggerMessage(EventId = TwinEvents.EmbeddedBrokerClientIdTaken, Level = LogLevel.Warning, Message = "MQTT connection refused: client id {ClientId} belongs to another account's session, not to {User}")]
    private partial void LogClientIdTaken(string clientId, string user);

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_connectPacket")]
    private static extern ref MqttConnectPacket ConnectPacket(ValidatingConnectionEventArgs args);

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await _sampler;
        if (_server is not null)
        {
            await _server.StopAsync(new MqttServerStopOptions());
        }
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
        _server?.Dispose();
    }

    [LoggerMessage(EventId = TwinEvents.EmbeddedBrokerStarted, Level = LogLevel.Information, Message = "Embedded MQTT broker listening on {Host}:{Port}")]
    private partial void LogStarted(string host, int port);

    [LoggerMessage(EventId = TwinEvents.EmbeddedBrokerCannotAssignId, Level = LogLevel.Warning, Message = "An MQTT 3.1.1 client connected without a client id and this MQTTnet version does not let the broker assign one; it is refused")]
    private partial void LogCannotAssignId();

    [LoggerMessage(EventId = TwinEvents.EmbeddedBrokerPublishHeld, Level = LogLevel.Warning, Message = "Embedded broker holds the acknowledgement of {ClientId}'s publish: the gateway's session has {Pending} messages waiting (back-pressure until it catches up)")]
    private partial void LogPublishHeld(string clientId, int pending);

    [LoggerMessage(EventId = TwinEvents.EmbeddedBrokerPublishRefusedFull, Level = LogLevel.Warning, Message = "Embedded broker refused {ClientId}'s publish after holding it {Seconds:F0} s (quota exceeded, connection closed; the device sends it again)")]
    private partial void LogPublishRefusedFull(string clientId, double seconds);

    [LoggerMessage(EventId = TwinEvents.EmbeddedBrokerBacklogFailed, Level = LogLevel.Warning, Message = "Embedded broker could not read its sessions' queues (tried again)")]
    private partial void LogBacklogFailed(Exception exception);

    [LoggerMessage(EventId = TwinEvents.EmbeddedBrokerQueueOverflow, Level = LogLevel.Warning, Message = "Embedded broker queue for {ClientId} is full; the oldest queued message was dropped (raise Twin:Broker:MaxPendingMessagesPerClient)")]
    private partial void LogQueueOverflow(string clientId);
}
