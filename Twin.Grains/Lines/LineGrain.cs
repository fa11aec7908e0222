using System.Collections.Immutable;
using Twin.Factories;
using Twin.Grains.Domain;
using Twin.Grains.Infrastructure;
using Twin.Lines;
using Twin.Machines;

namespace Twin.Grains.Lines;

[GenerateSerializer, Alias("twin.LineState")]
public sealed class LineState
{
    [Id(0)] public long Version { get; set; }
    [Id(1)] public string? Name { get; set; }
    [Id(2)] public List<string> Machines { get; set; } = [];
    [Id(3)] public bool Defined { get; set; }
}

/// <summary>The line twin: master data here, live figures asked of its machines when read.</summary>
public sealed class LineGrain(
    [PersistentState("line", TwinStorage.Name)] IPersistentState<LineState> state) : Grain, ILineGrain
{
    public async Task<LineSnapshot> DefineAsync(LineDefinition definition)
    {
        var errors = LineRollup.Validate(definition);
        if (errors.Count > 0)
        {
            throw new TwinRuleException("line.invalid", string.Join("; ", errors));
        }

        var (factory, id) = TwinKey.Split(this.GetPrimaryKeyString());
        var before = state.State.Machines.ToHashSet(StringComparer.Ordinal);
        var after = definition.Machines.ToHashSet(StringComparer.Ordinal);
        var changed = !state.State.Defined
            || state.State.Name != definition.Name
            || !state.State.Machines.SequenceEqual(definition.Machines, StringComparer.Ordinal);

        // A machine belongs to one line: move it by taking it out of its old line first.
        var joining = after.Except(before).ToList();
        var current = await Task.WhenAll(joining.Select(m => Machine(factory, m).GetSummaryAsync()));
        var taken = current.Where(m => m.Line is not null && m.Line != id).Select(m => $"'{m.Id}' belongs to line '{m.Line}'").ToList();
        if (taken.Count > 0)
        {
            throw new TwinRuleException("line.machine-in-other-line", $"{string.Join("; ", taken)}; remove it from that line first.");
        }

        if (changed)
        {
            state.State.Name = definition.Name;
            state.State.Machines = [.. definition.Machines];
            state.State.Version++;
            if (!state.State.Defined)
            {
                await GrainFactory.GetGrain<IFactoryGrain>(factory).RegisterAsync(TwinKind.Line, id);
                state.State.Defined = true;
            }

            await state.WriteStateAsync();
        }

        // Tell machines after the line is durable; repeating a PUT repairs a half-done assignment.
        var assignments = after.Select(m => Machine(factory, m).JoinLineAsync(id))
            .Concat(before.Except(after).Select(m => Machine(factory, m).LeaveLineAsync(id)));
        await Task.WhenAll(assignments);
        return await GetSnapshotAsync();
    }

    public async Task<LineSnapshot> GetSnapshotAsync()
    {
        var (factory, id) = TwinKey.Split(this.GetPrimaryKeyString());
        if (!state.State.Defined)
        {
            throw new TwinRuleException("line.not-found", $"Line '{id}' of factory '{factory}' is not defined.");
        }

        var summaries = await Task.WhenAll(state.State.Machines.Select(m => Machine(factory, m).GetSummaryAsync()));
        var machines = summaries.ToImmutableArray();
        return new LineSnapshot(
            factory,
            id,
            state.State.Version,
            state.State.Name,
            LineRollup.Status(machines),
            LineRollup.Throughput(machines),
            machines.IsDefaultOrEmpty ? 0 : machines[^1].Good,
            machines.Sum(m => m.Scrap),
            machines);
    }

    public Task<bool> ExistsAsync() => Task.FromResult(state.State.Defined);

    private IMachineGrain Machine(string factory, string machine) =>
        GrainFactory.GetGrain<IMachineGrain>(TwinKey.Compose(factory, machine));
}
