using System.Collections.Immutable;
using Twin.Factories;
using Twin.Grains.Infrastructure;

namespace Twin.Grains.Factories;

[GenerateSerializer, Alias("twin.FactoryState")]
public sealed class FactoryState
{
    [Id(0)] public Dictionary<TwinKind, SortedSet<string>> Twins { get; set; } = [];
}

/// <summary>The directory of a factory's twins. Called once per twin, never per reading.</summary>
public sealed class FactoryGrain(
    [PersistentState("factory", TwinStorage.Name)] IPersistentState<FactoryState> state) : Grain, IFactoryGrain
{
    public async Task RegisterAsync(TwinKind kind, string id)
    {
        if (!state.State.Twins.TryGetValue(kind, out var ids))
        {
            ids = new SortedSet<string>(StringComparer.Ordinal);
            state.State.Twins[kind] = ids;
        }

        if (ids.Add(id))
        {
            await this.WriteOrResetAsync(state);
        }
    }

    public Task<ImmutableArray<string>> ListAsync(TwinKind kind) =>
        Task.FromResult(state.State.Twins.TryGetValue(kind, out var ids) ? [.. ids] : ImmutableArray<string>.Empty);
}
