namespace Twin.Grains.Infrastructure;

/// <summary>
/// The processing-time clock of the twins (heartbeats, audit times). A wrapper rather than the
/// container's <see cref="TimeProvider"/> so tests can move twin time without moving Orleans' own.
/// </summary>
public sealed class TwinClock(TimeProvider timeProvider)
{
    public TwinClock()
        : this(TimeProvider.System)
    {
    }

    public TimeProvider TimeProvider { get; } = timeProvider;

    public DateTimeOffset UtcNow => TimeProvider.GetUtcNow();
}
