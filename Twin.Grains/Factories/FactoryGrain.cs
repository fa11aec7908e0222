using System.Collections.Immutable;
using Twin.Factories;
using Twin.Grains.Infrastructure;

namespace Twin.Grains.Factories;

[GenerateSerializer, Alias("twin.FactoryState")]
public sealed class FactoryState
{
    [Id(0)] public Dictionary<TwinKind, SortedSet<string>> Twins { get; set; } = [];
}

/// <summary>
/// The directory of a factory's twins. Called once per twin, never per reading. Reentrant with
/// group commit: when many twins start at once (a restart, a new plant), their registrations
/// share writes instead of each rewriting the whole directory in turn.
/// </summary>
[Reentrant]
public sealed class FactoryGrain(
    [PersistentState("factory", TwinStorage.Name)] IPersistentState<FactoryState> state) : Grain, IFactoryGrain
{
    private GroupCommit? _commit;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _commit = new GroupCommit(state, this);
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _commit?.DrainAsync() ?? Task.CompletedTask;

    public Task RegisterAsync(TwinKind kind, string id)
    {
        if (!state.State.Twins.TryGetValue(kind, out var ids))
        {
            ids = new SortedSet<string>(StringComparer.Ordinal);
            state.State.Twins[kind] = ids;
        }

        // Listed already: answer once that listing is durable (it may be in a write still running).
        return ids.Add(id) ? _commit!.CommitAsync() : _commit!.WhenDurableAsync();
    }

    public Task<ImmutableArray<string>> ListAsync(TwinKind kind) =>
        Task.FromResult(state.State.Twins.TryGetValue(kind, out var ids) ? [.. ids] : ImmutableArray<string>.Empty);
}
