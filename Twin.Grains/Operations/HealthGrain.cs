using Twin.Grains.Infrastructure;
using Twin.Operations;

namespace Twin.Grains.Operations;

[GenerateSerializer, Alias("twin.HealthState")]
public sealed class HealthState
{
    [Id(0)] public DateTimeOffset Created { get; set; }

    [Id(1)] public DateTimeOffset LastPing { get; set; }
}

/// <summary>
/// Reads and writes its small record on every ping, so a ready answer means storage takes writes:
/// a database that answers reads but refuses writes (read-only, full disk) makes the gateway unready.
/// </summary>
public sealed class HealthGrain(
    [PersistentState("health", TwinStorage.Name)] IPersistentState<HealthState> state,
    TwinClock clock) : Grain, IHealthGrain
{
    public async Task<DateTimeOffset> PingStorageAsync()
    {
        await state.ReadStateAsync();
        state.State.LastPing = clock.UtcNow;
        await state.WriteStateAsync();
        return state.State.LastPing;
    }
}
