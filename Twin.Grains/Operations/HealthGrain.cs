using Twin.Grains.Infrastructure;
using Twin.Operations;

namespace Twin.Grains.Operations;

[GenerateSerializer, Alias("twin.HealthState")]
public sealed class HealthState
{
    [Id(0)] public DateTimeOffset Created { get; set; }
}

/// <summary>Reads its (empty) record on every ping, so a ready answer means storage answered.</summary>
public sealed class HealthGrain(
    [PersistentState("health", TwinStorage.Name)] IPersistentState<HealthState> state,
    TwinClock clock) : Grain, IHealthGrain
{
    public async Task<DateTimeOffset> PingStorageAsync()
    {
        await state.ReadStateAsync();
        return clock.UtcNow;
    }
}
