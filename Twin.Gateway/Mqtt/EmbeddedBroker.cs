using System.Net;
using System.Runtime.CompilerServices;
using MQTTnet.Packets;
using Microsoft.Extensions.Options;
using MQTTnet.Server;

namespace Twin.Gateway.Mqtt;

/// <summary>
/// The MQTT broker built into the gateway for the one-command embedded mode. It keeps
/// persistent sessions, so the gateway's consumer picks up what was queued while it reconnected.
/// </summary>
internal sealed partial class EmbeddedBroker(IOptions<BrokerOptions> options, ILogger<EmbeddedBroker> logger) : IHostedService, IDisposable
{
    private MqttServer? _server;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        var serverOptions = new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(IPAddress.Parse(o.Host))
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

            return Task.CompletedTask;
        };
        try
        {
            await _server.StartAsync();
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            throw new InvalidOperationException(
                $"The embedded MQTT broker cannot listen on {o.Host}:{o.Port} ({ex.Message}). Set Twin:Broker:Port to a free port, or Twin:Broker:Enabled=false to use an external broker.",
                ex);
        }

        LogStarted(o.Host, o.Port);
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

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_connectPacket")]
    private static extern ref MqttConnectPacket ConnectPacket(ValidatingConnectionEventArgs args);

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_server is not null)
        {
            await _server.StopAsync(new MqttServerStopOptions());
        }
    }

    public void Dispose() => _server?.Dispose();

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Embedded MQTT broker listening on {Host}:{Port}")]
    private partial void LogStarted(string host, int port);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "An MQTT 3.1.1 client connected without a client id and this MQTTnet version does not let the broker assign one; it is refused")]
    private partial void LogCannotAssignId();

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "Embedded broker queue for {ClientId} is full; the oldest queued message was dropped (raise Twin:Broker:MaxPendingMessagesPerClient)")]
    private partial void LogQueueOverflow(string clientId);
}
