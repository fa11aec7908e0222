using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Twin.Factories;
using Twin.Grains.Infrastructure;
using Twin.Grains.Live;
using Twin.Live;

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
        _commit?.CloseAsync(cancellationToken) ?? Task.CompletedTask;

    public Task RegisterAsync(TwinKind kind, string id)
    {
        if (!state.State.Twins.TryGetValue(kind, out var ids))
        {
            ids = new SortedSet<string>(StringComparer.Ordinal);
            state.State.Twins[kind] = ids;
        }

        // Listed already: answer once that listing is durable (it may be in a write still running).
        return !ids.Add(id) ? _commit!.WhenDurableAsync()
            : kind == TwinKind.Line ? CommitLineAsync()
            : _commit!.CommitAsync();
    }

    /// <summary>A new line is durable: live views of the factory follow it from then on.</summary>
    private async Task CommitLineAsync()
    {
        await _commit!.CommitAsync();
        Live.Changed();
    }

    private LivePublisher? _live;

    // The version of the factory's own change is its number of lines (a line is never unlisted).
    private LivePublisher Live => _live ??= new LivePublisher(
        this,
        TwinTopic.OfFactory(this.GetPrimaryKeyString()),
        ServiceProvider.GetRequiredService<IOptions<LiveFeedOptions>>().Value,
        () => new TwinChange(TwinTopic.OfFactory(this.GetPrimaryKeyString()).ToString(), state.State.Twins.TryGetValue(TwinKind.Line, out var lines) ? lines.Count : 0, null),
        ServiceProvider.GetRequiredService<ILogger<FactoryGrain>>());

    public Task<ImmutableArray<string>> ListAsync(TwinKind kind) =>
        Task.FromResult(state.State.Twins.TryGetValue(kind, out var ids) ? [.. ids] : ImmutableArray<string>.Empty);
}
