using System.Collections.Immutable;
using Twin.Grains.Infrastructure;
using Twin.Operations;

namespace Twin.Grains.Operations;

[GenerateSerializer, Alias("twin.MqttSessionState")]
public sealed class MqttSessionState
{
    [Id(0)] public ImmutableArray<string> Filters { get; set; } = [];
}

/// <summary>The subscriptions one gateway MQTT client holds in its persistent session (see <see cref="IMqttSessionGrain"/>).</summary>
public sealed class MqttSessionGrain(
    [PersistentState("mqtt-session", TwinStorage.Name)] IPersistentState<MqttSessionState> state) : Grain, IMqttSessionGrain
{
    public Task<ImmutableArray<string>> GetFiltersAsync() => Task.FromResult(state.State.Filters.IsDefault ? [] : state.State.Filters);

    public async Task SetFiltersAsync(ImmutableArray<string> filters)
    {
        if (!state.State.Filters.IsDefault && state.State.Filters.SequenceEqual(filters))
        {
            return;
        }

        state.State.Filters = filters;
        await state.WriteStateAsync();
    }
}
