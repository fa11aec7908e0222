using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Twin.Grains.Infrastructure;

/// <summary>
/// The twins' own metrics, per silo (a scraper sums the silos): active twins by kind and open
/// maintenance tickets. Exported as <c>twin_twins_active</c> and <c>twin_tickets_open</c>.
/// </summary>
public sealed class TwinMetrics
{
    /// <summary>The meter every Factory Twin instrument belongs to.</summary>
    public const string MeterName = TwinMeters.Name;

    private readonly ConcurrentDictionary<string, int> _openTickets = new(StringComparer.Ordinal);
    private readonly UpDownCounter<long> _active;

    public TwinMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        _active = meter.CreateUpDownCounter<long>("twin.twins.active", description: "Twin activations on this silo, by kind.");
        meter.CreateObservableGauge("twin.tickets.open", () => _openTickets.Values.Sum(), description: "Open maintenance tickets held by this silo's ticket desks.");
    }

    public void Activated(string kind) => _active.Add(1, new KeyValuePair<string, object?>("kind", kind));

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
