using Orleans.Storage;

namespace Twin.Silo.Storage;

/// <summary>
/// Hands the ADO.NET grain storage a key it cannot misread. That provider decodes a string key that
/// looks like hex ("f1", "0001") or a GUID as an integer or GUID key, so "1" and "01" would share
/// one row. Passing the whole grain id ("machine/f1/m1") as the key keeps every twin, of every
/// type, in its own row.
/// </summary>
internal sealed class WholeKeyGrainStorage(IGrainStorage inner) : IGrainStorage
{
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ReadStateAsync(stateName, Whole(grainId), grainState);

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.WriteStateAsync(stateName, Whole(grainId), grainState);

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ClearStateAsync(stateName, Whole(grainId), grainState);

    private static GrainId Whole(GrainId grainId) => GrainId.Create(grainId.Type, grainId.ToString());
}
