using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Storage;
using Twin.Grains.Domain;
using Twin.Silo.Storage;

namespace Twin.Silo.Tests.Storage;

/// <summary>
/// The cluster-mode storage decorator hands the ADO.NET provider a copy of the twin's state taken
/// in the grain's turn, so a reentrant twin that keeps changing its state while the provider is
/// still serialising can never tear the row.
/// </summary>
public sealed class StateSnapshotTests
{
    /// <summary>Stands in for the ADO.NET provider: it reads the state only after an await, as that provider does.</summary>
    private sealed class LateReadingStorage : IGrainStorage
    {
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public long SeenVersion { get; private set; } = -1;

        public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => Task.CompletedTask;

        public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            await Release.Task;
            SeenVersion = ((MachineState)(object)grainState.State!).Version;
            grainState.ETag = "etag-2";
            grainState.RecordExists = true;
        }

        public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => Task.CompletedTask;
    }

    [Fact]
    public async Task The_provider_writes_the_state_as_it_was_when_the_write_began()
    {
        using var services = new ServiceCollection().AddSerializer(s => s.AddAssembly(typeof(MachineState).Assembly)).BuildServiceProvider();
        var inner = new LateReadingStorage();
        var storage = new WholeKeyGrainStorage(inner, services.GetRequiredService<DeepCopier>());
        var state = new GrainState<MachineState>(new MachineState { Version = 7 }, "etag-1");

        var write = storage.WriteStateAsync("machine", GrainId.Create("machine", "f/m1"), state);
        state.State!.Version = 8; // the twin's next turn, while the provider has not serialised yet
        inner.Release.SetResult();
        await write;

        Assert.Equal(7, inner.SeenVersion);
        Assert.Equal(8, state.State.Version);
        Assert.Equal("etag-2", state.ETag);
        Assert.True(state.RecordExists);
    }
}
