using System.Collections.Immutable;

namespace Twin.Machines;

/// <summary>
/// Readings a gateway could not hand to their machine twin in time (the twin's silo hangs, its
/// writes fail), kept durably so that the gateway can acknowledge them and go on with the other
/// machines, instead of holding the broker's in-flight window for all of them. Delivered to the
/// twin in order and retried until it takes them; the twin applies each sequence number once, so
/// readings parked twice (or also delivered directly) count once. Keyed
/// <c>{factory}/{machine}#{slot}</c>: a gateway tries another slot (another silo, by placement)
/// when one does not answer.
/// </summary>
[Alias("twin.IParkedReadingsGrain")]
public interface IParkedReadingsGrain : IGrainWithStringKey
{
    /// <summary>Most readings one slot keeps; past it <see cref="ParkAsync"/> refuses with <c>parking.full</c>.</summary>
    public const int MaxWaiting = 100_000;

    /// <summary>Keeps <paramref name="messages"/> for their twin; completes once they are durable.</summary>
    [Alias("Park")]
    Task ParkAsync(ImmutableArray<MachineMessage> messages);

    /// <summary>Readings waiting for the twin.</summary>
    [Alias("Waiting")]
    Task<int> WaitingAsync();

    /// <summary>The grain key of slot <paramref name="slot"/> for the machine twin <paramref name="machineKey"/>.</summary>
    public static string Key(string machineKey, int slot) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{machineKey}#{slot}");
}
