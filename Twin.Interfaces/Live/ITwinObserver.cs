using System.Collections.Immutable;
using Orleans.Concurrency;
using Twin.Lines;
using Twin.Machines;

namespace Twin.Live;

/// <summary>A new state of a twin, pushed to subscribers. Versions rise; a gap means changes were coalesced or lost.</summary>
/// <param name="Topic">The twin: <c>machine:{factory}/{machine}</c>, <c>line:{factory}/{line}</c> or <c>factory:{factory}</c>.</param>
/// <param name="Machine">Set for a machine topic.</param>
/// <param name="Line">Set for a line topic.</param>
/// <param name="Factory">Set for a factory topic.</param>
[GenerateSerializer, Immutable, Alias("twin.TwinChange")]
public sealed record TwinChange(
    [property: Id(0)] string Topic,
    [property: Id(1)] long Version,
    [property: Id(2)] MachineSnapshot? Machine,
    [property: Id(3)] LineSnapshot? Line = null,
    [property: Id(4)] FactoryView? Factory = null);

/// <summary>A factory at a glance: its lines (with their machines) and how many machines are in each status.</summary>
[GenerateSerializer, Immutable, Alias("twin.FactoryView")]
public sealed record FactoryView(
    [property: Id(0)] string Factory,
    [property: Id(1)] ImmutableArray<LineSnapshot> Lines,
    [property: Id(2)] ImmutableDictionary<MachineStatus, int> MachinesByStatus);

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
