using Twin.Factories;
using Twin.Grains.Domain;
using Twin.Grains.Infrastructure;
using Twin.WorkOrders;

namespace Twin.Grains.WorkOrders;

/// <summary>The work order twin.</summary>
public sealed class WorkOrderGrain(
    [PersistentState("workorder", TwinStorage.Name)] IPersistentState<WorkOrderState> state,
    TwinClock clock) : Grain, IWorkOrderGrain
{
    public async Task<WorkOrderSnapshot> CreateAsync(WorkOrderDefinition definition)
    {
        if (WorkOrderLifecycle.Create(state.State, definition, clock.UtcNow))
        {
            if (!state.State.Registered)
            {
                var (factory, id) = TwinKey.Split(this.GetPrimaryKeyString());
                await GrainFactory.GetGrain<IFactoryGrain>(factory).RegisterAsync(TwinKind.WorkOrder, id);
                state.State.Registered = true;
            }

            await this.WriteOrResetAsync(state);
        }

        return Snapshot();
    }

    public async Task<WorkOrderSnapshot> TransitionAsync(WorkOrderStatus target, string? by = null, string? reason = null)
    {
        if (WorkOrderLifecycle.Move(state.State, target, clock.UtcNow, by, reason))
        {
            await this.WriteOrResetAsync(state);
        }

        return Snapshot();
    }

    public async Task<WorkOrderSnapshot> DispatchAsync(string line, string? by = null)
    {
        if (WorkOrderLifecycle.Dispatch(state.State, line, clock.UtcNow, by))
        {
            await this.WriteOrResetAsync(state);
        }

        return Snapshot();
    }

    public Task<WorkOrderSnapshot> GetSnapshotAsync()
    {
        if (!state.State.Created)
        {
            var (factory, id) = TwinKey.Split(this.GetPrimaryKeyString());
            throw new TwinRuleException("workorder.not-found", $"Work order '{id}' of factory '{factory}' is not known.");
        }

        return Task.FromResult(Snapshot());
    }

    public Task<bool> ExistsAsync() => Task.FromResult(state.State.Created);

    private WorkOrderSnapshot Snapshot()
    {
        var (factory, id) = TwinKey.Split(this.GetPrimaryKeyString());
        return WorkOrderLifecycle.ToSnapshot(factory, id, state.State);
    }
}
