using Orleans.Serialization;
using Orleans.Storage;

namespace Twin.Silo.Storage;

/// <summary>
/// Hands the ADO.NET grain storage a key it cannot misread. That provider decodes a string key that
/// looks like hex ("f1", "0001") or a GUID as an integer or GUID key, so "1" and "01" would share
/// one row. Passing the whole grain id ("machine/f1/m1") as the key keeps every twin, of every
/// type, in its own row.
/// <para>
/// It also hands the provider a copy of the state taken in the grain's own turn: the ADO.NET
/// provider serialises the state later, on a pool thread after opening its connection, while a
/// reentrant twin may already be changing it — a row could hold a message's effects without its
/// sequence number, or the reverse. The copy is what gets written; its new ETag is given back.
/// </para>
/// </summary>
internal sealed class WholeKeyGrainStorage(IGrainStorage inner, DeepCopier copier) : IGrainStorage
{
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ReadStateAsync(stateName, Whole(grainId), grainState);

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        // Copied before the first await: still inside the grain's turn.
        var snapshot = new GrainState<T>(copier.Copy(grainState.State), grainState.ETag) { RecordExists = grainState.RecordExists };
        await inner.WriteStateAsync(stateName, Whole(grainId), snapshot);
        grainState.ETag = snapshot.ETag;
        grainState.RecordExists = snapshot.RecordExists;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ClearStateAsync(stateName, Whole(grainId), grainState);

    private static GrainId Whole(GrainId grainId) => GrainId.Create(grainId.Type, grainId.ToString());
}
