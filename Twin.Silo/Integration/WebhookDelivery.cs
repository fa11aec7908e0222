using System.ComponentModel.DataAnnotations;
using System.Net.Http.Json;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Protocol;
using Microsoft.Extensions.Options;
using Twin.Grains.Infrastructure;
using Twin.Integration;

namespace Twin.Silo.Integration;

/// <summary>A webhook target (<c>Twin:Outbound:Webhooks</c>).</summary>
public sealed class WebhookTarget
{
    /// <summary>The receiver's URL (absolute http or https); it gets each event as a JSON POST and acknowledges with 2xx.</summary>
    public string Url { get; set; } = "";

    /// <summary>Event type prefixes to send (e.g. <c>ticket.</c>); empty sends all.</summary>
    public List<string> Events { get; set; } = [];

    /// <summary>Sent as the <c>Authorization</c> header when set (from secrets, not source).</summary>
    public string? Authorization { get; set; }
}

/// <summary>An MQTT target (<c>Twin:Outbound:Mqtt</c>): events go to <c>factory/{factory}/events/{type}</c>.</summary>
public sealed class MqttTarget
{
    /// <summary>Broker host; unset means no MQTT delivery.</summary>
    public string? Host { get; set; }

    [SettingRange(1, 65535)]
    public int Port { get; set; } = 1883;

    public string? Username { get; set; }

    public string? Password { get; set; }
}

/// <summary>Outbound delivery settings (<c>Twin:Outbound</c>).</summary>
public sealed class OutboundOptions : ITwinOptions, IValidatableObject
{
    public const string Section = "Twin:Outbound";

    static string ITwinOptions.Section => Section;

    public List<WebhookTarget> Webhooks { get; set; } = [];

    [ValidateObjectMembers]
    public MqttTarget Mqtt { get; set; } = new();

    [SettingRange(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        for (var i = 0; i < Webhooks.Count; i++)
        {
            if (!Uri.TryCreate(Webhooks[i].Url, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
            {
                yield return new ValidationResult($"{Section}:Webhooks:{i}:Url '{Webhooks[i].Url}' must be an absolute http(s) URL.");
            }
        }
    }
}

[OptionsValidator]
public sealed partial class OutboundOptionsValidator : IValidateOptions<OutboundOptions>;

/// <summary>
/// Posts events to the configured webhooks and publishes them (QoS 1) to the MQTT target; an
/// event counts as delivered when every matching target took it (2xx, PUBACK).
/// </summary>
public sealed class WebhookDelivery(IHttpClientFactory clients, IOptions<OutboundOptions> options) : IOutboundDelivery, IDisposable
{
    private readonly SemaphoreSlim _mqttLock = new(1, 1);
    private IMqttClient? _mqtt;

    public bool HasTargets => options.Value.Webhooks.Count > 0 || !string.IsNullOrEmpty(options.Value.Mqtt.Host);

    public void Dispose()
    {
        _mqtt?.Dispose();
        _mqttLock.Dispose();
    }

    public async Task DeliverAsync(OutboundEvent outboundEvent, CancellationToken cancellationToken)
    {
        if (!string.IsNullOrEmpty(options.Value.Mqtt.Host))
        {
            await PublishAsync(outboundEvent, options.Value.Mqtt, cancellationToken);
        }

        foreach (var target in options.Value.Webhooks.Where(t => t.Events.Count == 0 || t.Events.Exists(e => outboundEvent.Type.StartsWith(e, StringComparison.Ordinal))))
        {
            using var client = clients.CreateClient("twin-outbound");
            client.Timeout = options.Value.Timeout;
            using var request = new HttpRequestMessage(HttpMethod.Post, target.Url) { Content = JsonContent.Create(outboundEvent) };
            // Event ids are unique within a factory; the key is unique across the factories a receiver may serve.
            request.Headers.TryAddWithoutValidation("Idempotency-Key", $"{outboundEvent.Factory}/{outboundEvent.Id}");
            if (!string.IsNullOrEmpty(target.Authorization))
            {
                request.Headers.TryAddWithoutValidation("Authorization", target.Authorization);
            }

            using var response = await client.SendAsync(request, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw new HttpRequestException($"{target.Url} answered {(int)response.StatusCode}");
            }
        }
    }

    private async Task PublishAsync(OutboundEvent outboundEvent, MqttTarget target, CancellationToken cancellationToken)
    {
        await _mqttLock.WaitAsync(cancellationToken);
        try
        {
            _mqtt ??= new MqttClientFactory().CreateMqttClient();
            if (!_mqtt.IsConnected)
            {
                var builder = new MqttClientOptionsBuilder()
                    .WithTcpServer(target.Host, target.Port)
                    .WithClientId($"twin-outbound-{Environment.MachineName}-{Environment.ProcessId}")
                    .WithTimeout(options.Value.Timeout);
                if (!string.IsNullOrEmpty(target.Username))
                {
                    builder = builder.WithCredentials(target.Username, target.Password ?? "");
                }

                await _mqtt.ConnectAsync(builder.Build(), cancellationToken);
            }

            var message = new MqttApplicationMessageBuilder()
                .WithTopic($"factory/{outboundEvent.Factory}/events/{outboundEvent.Type}")
                .WithPayload(JsonSerializer.SerializeToUtf8Bytes(outboundEvent, Json))
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build();
            var result = await _mqtt.PublishAsync(message, cancellationToken);
            if (!result.IsSuccess)
            {
                throw new InvalidOperationException($"the broker refused the event: {result.ReasonCode}");
            }
        }
        finally
        {
            _mqttLock.Release();
        }
    }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
}
