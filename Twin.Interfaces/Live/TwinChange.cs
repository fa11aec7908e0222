using System.Collections.Immutable;
using Twin.Lines;
using Twin.Machines;
using Twin.Scheduling;

namespace Twin.Live;

/// <summary>
/// A new durable state of a twin, published to the twin's stream (<see cref="TwinTopic.StreamNamespace"/>, <see cref="TwinTopic.Key"/>
/// on the <see cref="TwinTopic.StreamProvider"/> provider) and sent to hub clients. Versions rise;
/// a gap means changes were coalesced or lost, and a subscriber resynchronises by reading the twin.
/// </summary>
/// <param name="Topic">The twin: <c>machine:{factory}/{machine}</c>, <c>line:{factory}/{line}</c> or <c>factory:{factory}</c>.</param>
/// <param name="Machine">Set for a machine topic.</param>
/// <param name="Line">Set for a line topic sent to clients; a line twin publishes its membership changes without it.</param>
/// <param name="Factory">Set for a factory topic sent to clients; a factory publishes its new lines without it.</param>
/// <param name="Schedule">Set for a schedule topic: the plan in force.</param>
[GenerateSerializer, Immutable, Alias("twin.TwinChange")]
public sealed record TwinChange(
    [property: Id(0)] string Topic,
    [property: Id(1)] long Version,
    [property: Id(2)] MachineSnapshot? Machine,
    [property: Id(3)] LineSnapshot? Line = null,
    [property: Id(4)] FactoryView? Factory = null,
    [property: Id(5)] PlanSnapshot? Schedule = null);

/// <summary>A factory at a glance: its lines (with their machines) and how many machines are in each status.</summary>
[GenerateSerializer, Immutable, Alias("twin.FactoryView")]
public sealed record FactoryView(
    [property: Id(0)] string Factory,
    [property: Id(1)] ImmutableArray<LineSnapshot> Lines,
    [property: Id(2)] ImmutableDictionary<MachineStatus, int> MachinesByStatus);
