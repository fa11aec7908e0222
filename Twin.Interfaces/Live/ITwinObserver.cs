using Orleans.Concurrency;
using Twin.Machines;

namespace Twin.Live;

/// <summary>A new state of a twin, pushed to subscribers. Versions rise; a gap means changes were coalesced or lost.</summary>
/// <param name="Topic">The twin, e.g. <c>machine:demo/press-1</c>.</param>
[GenerateSerializer, Immutable, Alias("twin.TwinChange")]
public sealed record TwinChange(
    [property: Id(0)] string Topic,
    [property: Id(1)] long Version,
    [property: Id(2)] MachineSnapshot? Machine);

/// <summary>Receives twin changes (a gateway's subscription). Best effort: never the system of record.</summary>
[Alias("twin.ITwinObserver")]
public interface ITwinObserver : IGrainObserver
{
    [OneWay, Alias("OnChanged")]
    Task OnChangedAsync(TwinChange change);
}

/// <summary>A twin that pushes its changes to observers.</summary>
[Alias("twin.ILiveTwin")]
public interface ILiveTwin : IGrainWithStringKey
{
    /// <summary>Subscribes (or renews) an observer; subscriptions lapse after a minute unless renewed.</summary>
    [Alias("Subscribe")]
    Task SubscribeAsync(ITwinObserver observer);

    [Alias("Unsubscribe")]
    Task UnsubscribeAsync(ITwinObserver observer);
}
