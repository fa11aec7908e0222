using System.Collections.Immutable;

namespace Twin.Operations;

/// <summary>
/// What one MQTT client of the gateways (keyed by its client id) has subscribed in its persistent
/// session at the broker. MQTT cannot list a session's subscriptions, and a persistent session keeps
/// them across restarts: a gateway reads what it subscribed before and unsubscribes what its settings
/// no longer want (a Sparkplug group, a UNS template, another shared group), so those messages stop.
/// </summary>
[Alias("twin.IMqttSessionGrain")]
public interface IMqttSessionGrain : IGrainWithStringKey
{
    /// <summary>The topic filters recorded for the session (empty when none).</summary>
    [Alias("Filters")]
    Task<ImmutableArray<string>> GetFiltersAsync();

    /// <summary>Records the topic filters the session holds (or may hold) at the broker; durable when it returns.</summary>
    [Alias("SetFilters")]
    Task SetFiltersAsync(ImmutableArray<string> filters);
}
