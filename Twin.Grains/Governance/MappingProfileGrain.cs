using Twin.Governance;
using Twin.Grains.Infrastructure;

namespace Twin.Grains.Governance;

[GenerateSerializer, Alias("twin.MappingProfileState")]
public sealed class MappingProfileState
{
    [Id(0)] public MappingProfileDefinition? Profile { get; set; }
    [Id(1)] public long Version { get; set; }
}

/// <summary>Keeps a factory's API-set mapping profile. Read by gateways when they refresh their cache, never per reading.</summary>
public sealed class MappingProfileGrain(
    [PersistentState("profile", TwinStorage.Name)] IPersistentState<MappingProfileState> state) : Grain, IMappingProfileGrain
{
    private GroupCommit? _commit;

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _commit?.CloseAsync(cancellationToken) ?? Task.CompletedTask;

    public Task<MappingProfileDefinition?> GetAsync() => Task.FromResult(state.State.Profile);

    public async Task<MappingProfileDefinition> SetAsync(MappingProfileDefinition profile)
    {
        state.State.Version++;
        state.State.Profile = profile with { Version = state.State.Version };
        await (_commit ??= new GroupCommit(state, this)).CommitAsync();
        return state.State.Profile;
    }

    public async Task ClearAsync()
    {
        state.State.Version++;
        state.State.Profile = null;
        await (_commit ??= new GroupCommit(state, this)).CommitAsync();
    }
}
