using System.Net.Http.Json;
using Microsoft.Extensions.Options;
using Twin.Grains.Integration;
using Twin.Integration;

namespace Twin.Silo.Integration;

/// <summary>A webhook target (<c>Twin:Outbound:Webhooks</c>).</summary>
public sealed class WebhookTarget
{
    /// <summary>The receiver's URL; it gets each event as a JSON POST and acknowledges with 2xx.</summary>
    public string Url { get; set; } = "";

    /// <summary>Event type prefixes to send (e.g. <c>ticket.</c>); empty sends all.</summary>
    public List<string> Events { get; set; } = [];

    /// <summary>Sent as the <c>Authorization</c> header when set (from secrets, not source).</summary>
    public string? Authorization { get; set; }
}

/// <summary>Outbound delivery settings (<c>Twin:Outbound</c>).</summary>
public sealed class OutboundOptions
{
    public const string Section = "Twin:Outbound";

    public List<WebhookTarget> Webhooks { get; set; } = [];

    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>Posts events to the configured webhooks; an event counts as delivered when every matching target answered 2xx.</summary>
public sealed class WebhookDelivery(IHttpClientFactory clients, IOptions<OutboundOptions> options) : IOutboundDelivery
{
    public bool HasTargets => options.Value.Webhooks.Count > 0;

    public async Task DeliverAsync(OutboundEvent outboundEvent, CancellationToken cancellationToken)
    {
        foreach (var target in options.Value.Webhooks.Where(t => t.Events.Count == 0 || t.Events.Exists(e => outboundEvent.Type.StartsWith(e, StringComparison.Ordinal))))
        {
            using var client = clients.CreateClient("twin-outbound");
            client.Timeout = options.Value.Timeout;
            using var request = new HttpRequestMessage(HttpMethod.Post, target.Url) { Content = JsonContent.Create(outboundEvent) };
            request.Headers.TryAddWithoutValidation("Idempotency-Key", outboundEvent.Id);
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
}
