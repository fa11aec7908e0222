using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Twin.Grains.Infrastructure;

/// <summary>
/// The twins' own metrics, per silo (a scraper sums the silos): active twins by kind and open
/// maintenance tickets, parked outbox messages. Exported as <c>twin_twins_active</c>, <c>twin_tickets_open</c>
/// and <c>twin_outbox_parked_total</c>.
/// </summary>
public sealed class TwinMetrics
{
    /// <summary>The meter every Factory Twin instrument belongs to.</summary>
    public const string MeterName = TwinMeters.Name;

    private readonly ConcurrentDictionary<string, int> _openTickets = new(StringComparer.Ordinal);
    private readonly UpDownCounter<long> _active;
    private readonly Counter<long> _parked;
    private readonly Counter<long> _actionsVerified;

    public TwinMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        _active = meter.CreateUpDownCounter<long>("twin.twins.active", description: "Twin activations on this silo, by kind.");
        _parked = meter.CreateCounter<long>("twin.outbox.parked", description: "Outbox messages parked as dead letters (refused for good, or past the outbox bound), by reason code.");
        _actionsVerified = meter.CreateCounter<long>("twin.actions.verified", description: "Action effect reports completed (before/after KPI comparisons), by action kind.");
        meter.CreateObservableGauge("twin.tickets.open", () => _openTickets.Values.Sum(), description: "Open maintenance tickets held by this silo's ticket desks.");
    }

    /// <summary>An action's effect report was completed.</summary>
    public void ActionVerified(string kind) => _actionsVerified.Add(1, new KeyValuePair<string, object?>("kind", kind));

    public void Activated(string kind) => _active.Add(1, new KeyValuePair<string, object?>("kind", kind));

    /// <summary>An outbox message left its outbox as a dead letter.</summary>
    public void OutboxParked(string reason) => _parked.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void Deactivated(string kind) => _active.Add(-1, new KeyValuePair<string, object?>("kind", kind));

    /// <summary>A ticket desk reports how many of its tickets are open (0 when it deactivates).</summary>
    public void TicketsOpen(string desk, int open)
    {
        if (open == 0)
        {
            _openTickets.TryRemove(desk, out _);
        }
        else
        {
            _openTickets[desk] = open;
        }
    }
}
